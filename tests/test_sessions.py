"""Training runs: one at a time, cancel, separate folders, shipped weights never replaced."""

import threading

import pytest

from menny_core.sessions import WEIGHTS_NAME, TrainingRefused, TrainingRuns


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def shipped(tmp_path):
    path = tmp_path / "weights" / WEIGHTS_NAME
    path.parent.mkdir()
    path.write_bytes(b"shipped")
    return path


def test_second_run_is_refused_with_elapsed_time(tmp_path, shipped):
    clock = FakeClock()
    runs = TrainingRuns(tmp_path / "runs", shipped, clock=clock)
    with runs.begin():
        clock.now += 12.2
        with pytest.raises(TrainingRefused) as refused:
            runs.start()
        assert str(refused.value) == (
            "a training run is already in progress (started 12 s ago); wait for it or press Cancel"
        )
    # The block ended: the trainer is free again.
    assert not runs.busy
    runs.release(runs.start())


def test_finished_run_becomes_current_and_shipped_is_untouched(tmp_path, shipped):
    runs = TrainingRuns(tmp_path / "runs", shipped)
    assert runs.current_weights == shipped.resolve()
    assert "shipped" in runs.describe_current()
    with runs.begin() as run:
        assert run.folder.parent == (tmp_path / "runs").resolve()
        run.weights_path.write_bytes(b"trained")
        runs.finish(run)
    assert runs.current_weights == run.weights_path
    assert run.weights_path.name == WEIGHTS_NAME
    assert "trained in this session" in runs.describe_current()
    assert shipped.read_bytes() == b"shipped"


def test_failed_run_keeps_previous_model(tmp_path, shipped):
    runs = TrainingRuns(tmp_path / "runs", shipped)
    with pytest.raises(RuntimeError, match="boom"), runs.begin():
        raise RuntimeError("boom")
    assert runs.current_weights == shipped.resolve()
    assert not runs.busy


def test_each_run_has_its_own_folder(tmp_path):
    runs = TrainingRuns(tmp_path / "runs")
    folders = []
    for _ in range(3):  # same second: suffixes keep them apart
        with runs.begin() as run:
            folders.append(run.folder)
    assert len(set(folders)) == 3
    assert all(folder.is_dir() for folder in folders)


def test_cancel_sets_the_flag_of_the_active_run_only(tmp_path):
    runs = TrainingRuns(tmp_path / "runs")
    assert runs.cancel() is False  # nothing to cancel
    with runs.begin() as run:
        assert not run.cancelled()
        assert runs.cancel() is True
        assert run.cancelled()
    with runs.begin() as fresh:
        assert not fresh.cancelled()


def test_only_the_owner_cancels_an_owned_run(tmp_path):
    runs = TrainingRuns(tmp_path / "runs")
    run = runs.start(owner="visitor-a")
    for stranger in ("visitor-b", None):
        with pytest.raises(TrainingRefused, match="started by another visitor; only they can"):
            runs.cancel(stranger)
        assert not run.cancelled()
    assert runs.cancel("visitor-a") is True and run.cancelled()
    runs.release(run)
    assert runs.cancel("visitor-b") is False  # nothing runs: nothing to refuse either


def test_runs_folder_inside_weights_is_refused(tmp_path, shipped):
    with pytest.raises(ValueError, match="must not be inside the shipped weights' folder"):
        TrainingRuns(shipped.parent / "runs", shipped)


def test_no_model_at_all(tmp_path):
    runs = TrainingRuns(tmp_path / "runs")
    assert runs.current_weights is None
    assert runs.describe_current() == "no model yet: train one in the Train tab"


def test_only_one_of_many_threads_gets_the_trainer(tmp_path):
    runs = TrainingRuns(tmp_path / "runs")
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            runs.start()
            outcomes.append("ran")
        except TrainingRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ran"] + ["refused"] * 7
