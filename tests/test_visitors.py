"""Visitors: their own runs and models, named in their words, released when they leave or
idle, within a disk quota; the app folder is wiped at start, and only if it is ours."""

import zipfile

import pytest

from menny_base.errors import MennyError
from menny_core.archive import UnpackedZips
from menny_core.sessions import TrainingRefused
from menny_core.visitors import MARKER, SpaceExhausted, Visitors, wipe_and_mark


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write_weights(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"w" * 1000)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def visitors(tmp_path, clock):
    return Visitors(tmp_path / "app", quota_bytes=10**8, idle_seconds=600, clock=clock)


def test_each_visitor_has_their_own_runs_and_model(visitors):
    a, b = visitors.visit("a"), visitors.visit("b")
    assert a.folder != b.folder and a.folder.parent == b.folder.parent == visitors.root
    saved = visitors.save_run(a, visitors.claim_run(a), "simple, 1 epoch", write_weights)
    assert saved.name.startswith("run 1, ") and saved.name.endswith(", simple, 1 epoch")
    assert visitors.current_run(a) == (saved, "")
    assert visitors.current_run(b) == (None, "")  # b still has the shipped model
    assert str(visitors.root) not in saved.name


def test_only_the_newest_runs_are_kept(visitors):
    a = visitors.visit("a")
    saved = [visitors.save_run(a, visitors.claim_run(a), "x", write_weights) for _ in range(5)]
    assert [run.number for run in a.runs] == [3, 4, 5]
    assert not saved[0].weights.exists() and not saved[1].weights.exists()
    assert saved[4].weights.is_file() and a.current == saved[4]


def test_a_vanished_run_falls_back_to_the_shipped_model(visitors):
    a = visitors.visit("a")
    saved = visitors.save_run(a, visitors.claim_run(a), "x", write_weights)
    saved.weights.unlink()
    run, note = visitors.current_run(a)
    assert run is None and note.startswith(f"The weights of {saved.name} are gone")
    assert visitors.current_run(a) == (None, "")


def test_hourly_run_budget(tmp_path, clock):
    visitors = Visitors(tmp_path / "app", 10**8, runs_per_hour=2, clock=clock)
    a = visitors.visit("a")
    visitors.claim_run(a), visitors.claim_run(a)
    clock.now += 600
    with pytest.raises(TrainingRefused, match=r"2 training runs in the last hour.*in 50 min"):
        visitors.claim_run(a)
    visitors.claim_run(visitors.visit("b"))  # another visitor has their own budget
    clock.now += 3000
    assert visitors.claim_run(a) == 3


def test_leaving_and_idling_release_the_files(visitors, clock):
    a, b = visitors.visit("a"), visitors.visit("b")
    for visitor in (a, b):
        visitors.save_run(visitor, visitors.claim_run(visitor), "x", write_weights)
    visitors.leave("a")
    assert not a.folder.exists() and b.folder.exists()
    clock.now += 601
    visitors.visit("c")  # any visit sweeps the idle ones
    assert not b.folder.exists() and len(visitors) == 1


def test_a_full_quota_refuses_with_a_sentence(tmp_path):
    visitors = Visitors(tmp_path / "app", quota_bytes=3 * 2**20)
    a = visitors.visit("a")

    def big(path):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * (2 * 2**20))

    visitors.save_run(a, visitors.claim_run(a), "x", big)
    with pytest.raises(SpaceExhausted) as refused:
        visitors.save_run(a, visitors.claim_run(a), "x", big)
    assert str(refused.value).startswith(
        "the server has no room for another trained model right now (2 MB of its 3 MB"
    )
    assert str(tmp_path) not in str(refused.value)


def test_a_disk_error_while_saving_leaves_nothing(visitors):
    a = visitors.visit("a")

    def disk_full(path):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(SpaceExhausted, match=r"could not be saved \(No space left on device\)"):
        visitors.save_run(a, visitors.claim_run(a), "x", disk_full)
    assert not (a.folder / "runs").exists() or not any((a.folder / "runs").iterdir())
    assert a.current is None


def test_the_app_folder_is_wiped_at_start_only_if_it_is_ours(tmp_path):
    root = wipe_and_mark(tmp_path / "app")
    (root / "leftover-run").mkdir()
    (root / "leftover-run" / "menny.safetensors").write_bytes(b"partial")
    assert [p.name for p in wipe_and_mark(root).iterdir()] == [MARKER]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="was not made by the app"):
        wipe_and_mark(foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"


def zip_of(path, files: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_unpacked_zips_keep_the_newest_and_ask_for_room(tmp_path):
    asked = []
    zips = UnpackedZips(tmp_path / "up", keep=2, room=lambda n, what: asked.append((n, what)))
    roots = []
    for index in range(3):
        archive = zip_of(tmp_path / f"z{index}.zip", {f"c{index}/a.png": b"1", "d/b.png": b"22"})
        roots.append(zips.root(archive))
    assert asked == [(3, "z0.zip"), (3, "z1.zip"), (3, "z2.zip")]
    assert not roots[0].exists() and roots[1].exists() and roots[2].exists()
    zips.discard(roots[1])
    assert not roots[1].exists() and roots[2].exists()


def test_unpacking_refused_by_the_quota_writes_nothing(tmp_path):
    visitors = Visitors(tmp_path / "app", quota_bytes=1000)
    a = visitors.visit("a")
    archive = zip_of(tmp_path / "big.zip", {"c/a.png": b"x" * 2000, "d/b.png": b"y"})
    with pytest.raises(SpaceExhausted, match=r"no room for big\.zip right now"):
        a.uploads.root(archive)
    assert not (a.folder / "uploads").exists() or not any((a.folder / "uploads").iterdir())


def test_empty_folders_are_swept_once_old(tmp_path):
    import os
    import time

    from menny_core.visitors import remove_empty_folders

    old, fresh, full = tmp_path / "a" / "old", tmp_path / "fresh", tmp_path / "full"
    for folder in (old, fresh, full):
        folder.mkdir(parents=True)
    (full / "kept.png").write_bytes(b"x")
    hour_ago = time.time() - 3600
    for folder in (old, old.parent, full):
        os.utime(folder, (hour_ago, hour_ago))
    assert remove_empty_folders(tmp_path, older_than=60) == 1
    assert not old.exists() and fresh.exists() and (full / "kept.png").exists()
    assert tmp_path.exists()


def test_a_folder_in_use_by_another_running_app_is_not_wiped(tmp_path):
    import subprocess
    import sys

    root = wipe_and_mark(tmp_path / "app")
    (root / "run.safetensors").write_bytes(b"another app's visitor")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (root / MARKER).write_text(f"Menny's app data\npid: {other.pid}\n")
        with pytest.raises(
            MennyError, match=rf"in use by another running Menny app \(process {other.pid}\)"
        ):
            wipe_and_mark(root)
        assert (root / "run.safetensors").exists()
    finally:
        other.kill()
        other.wait()
    wipe_and_mark(root)  # that app is gone: the folder is ours to remake
    assert not (root / "run.safetensors").exists()
