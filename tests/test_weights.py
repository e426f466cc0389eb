"""Weights files: exact round trip, atomic writes, and one clear sentence for every bad file."""

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from menny_core import weights
from menny_core.model import MennyCNN
from menny_core.weights import WeightsError, load, save

CLASSES = ["CWK", "Cody", "Pippa", "RJ"]
REPO = Path(__file__).resolve().parents[1]


def _saved(tmp_path, variant="simple", name="menny.safetensors"):
    mx.random.seed(1)
    model = MennyCNN(4, variant)
    path = save(tmp_path / name, model, {"classes": CLASSES, "image_size": 64, "note": "x"})
    return model, path


@pytest.mark.parametrize("variant", ["simple", "complex"])
def test_round_trip_gives_identical_logits_and_metadata(tmp_path, variant):
    model, path = _saved(tmp_path, variant)
    if variant == "complex":  # BatchNorm running statistics must travel too
        block = model.blocks[0].norm
        block.running_mean = mx.full(block.running_mean.shape, 0.25)
    save(path, model, {"classes": CLASSES, "image_size": 64})
    loaded, metadata = load(path)
    model.eval()
    x = mx.random.normal((3, 64, 64, 3))
    np.testing.assert_array_equal(np.array(loaded(x)), np.array(model(x)))
    assert metadata["classes"] == CLASSES and metadata["variant"] == variant
    assert metadata["normalization"]["mean"] == [0.485, 0.456, 0.406]
    assert metadata["mlx_version"] == mx.__version__ and metadata["format"] == weights.FORMAT
    assert not loaded.training  # ready to predict: dropout off


def test_metadata_is_readable_by_any_safetensors_reader(tmp_path):
    _, path = _saved(tmp_path)
    _, header = mx.load(str(path), return_metadata=True)
    assert json.loads(header["menny"])["note"] == "x"
    assert load(path)[1]["image_size"] == 64


# Runs weights.save in a child process whose files may not grow past a limit
# (RLIMIT_FSIZE): a real "disk full" for one process, with no mount needed. Python ignores
# SIGXFSZ, so the write fails with EFBIG ("File too large") instead of killing the child.
SAVE_IN_A_CHILD = """
import json, sys
import mlx.core as mx
from menny_core.model import MennyCNN
from menny_core.weights import save
mx.random.seed(2)
try:
    save(sys.argv[1], MennyCNN(4, "simple"), {"classes": ["a", "b", "c", "d"], "image_size": 64})
    print(json.dumps({"saved": True}))
except Exception as error:
    print(json.dumps({"type": type(error).__name__, "message": str(error)}))
"""


def save_with_file_size_limit(target, limit_bytes: int) -> dict:
    """What `save(target, ...)` did in a child limited to files of `limit_bytes`."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    result = subprocess.run(
        [sys.executable, "-c", SAVE_IN_A_CHILD, str(target)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=limit,
        timeout=120,
    )
    assert result.stdout, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_full_disk_leaves_the_old_file_intact_and_says_so(tmp_path):
    _, path = _saved(tmp_path)  # about 100 kB: more than the child may write
    before = path.read_bytes()
    outcome = save_with_file_size_limit(path, 20_000)
    assert outcome == {
        "type": "WeightsError",
        "message": "menny.safetensors could not be written (File too large); no partial file "
        "was left and an earlier menny.safetensors is unchanged",
    }
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    load(path)


def test_a_full_disk_leaves_no_file_where_there_was_none(tmp_path):
    outcome = save_with_file_size_limit(tmp_path / "new.safetensors", 20_000)
    assert outcome["type"] == "WeightsError" and "File too large" in outcome["message"]
    assert os.listdir(tmp_path) == []
    assert save_with_file_size_limit(tmp_path / "new.safetensors", 10**7) == {"saved": True}
    assert os.listdir(tmp_path) == ["new.safetensors"]
    assert (
        oct(os.stat(tmp_path / "new.safetensors").st_mode & 0o777) != "0o600"
    )  # umask, not mkstemp's


def test_save_needs_the_class_names(tmp_path):
    with pytest.raises(ValueError, match="must list the model's 4 class names"):
        save(tmp_path / "m.safetensors", MennyCNN(4), {"classes": ["a", "b"]})


def _assert_one_clear_sentence(path, match):
    with pytest.raises(WeightsError, match=match) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and not re.search(r"\[\w+\]", message)  # no MLX "[load] ..."


def test_missing_folder_and_foreign_files_are_refused(tmp_path):
    _assert_one_clear_sentence(tmp_path / "none.safetensors", "does not exist")
    _assert_one_clear_sentence(tmp_path, "is not a file")
    text = tmp_path / "notes.safetensors"
    text.write_text("hello, I am not a tensor file")
    _assert_one_clear_sentence(text, "not a readable .safetensors file")
    other = tmp_path / "other.safetensors"
    mx.save_safetensors(str(other), {"w": mx.zeros((3,))})
    _assert_one_clear_sentence(other, "not Menny's weights")


@pytest.mark.parametrize("keep", ["8 bytes", "100 bytes", "half", "all but one byte"])
def test_truncated_files_are_refused(tmp_path, keep):
    _, path = _saved(tmp_path)
    data = path.read_bytes()
    ends = {"8 bytes": 8, "100 bytes": 100, "half": len(data) // 2, "all but one byte": -1}
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: ends[keep]])
    _assert_one_clear_sentence(cut, "not a readable .safetensors file")


def _rewrite_header(path, **changes):
    arrays, header = mx.load(str(path), return_metadata=True)
    metadata = {**json.loads(header["menny"]), **changes}
    mx.save_safetensors(str(path), arrays, metadata={"menny": json.dumps(metadata)})


def test_weights_that_do_not_fit_the_variant_are_refused(tmp_path):
    _, path = _saved(tmp_path, "simple")
    _rewrite_header(path, variant="complex")
    _assert_one_clear_sentence(path, "do not fit the complex Menny with 4 classes")


def test_weights_that_do_not_fit_the_class_count_are_refused(tmp_path):
    _, path = _saved(tmp_path, "simple")
    _rewrite_header(path, classes=["a", "b", "c"])
    _assert_one_clear_sentence(path, r"3 classes \(classifier.bias is \(4,\), expected \(3,\)\)")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"format": "something-else"}, "not in Menny's weights format"),
        ({"classes": ["only one"]}, "at least two class names"),
        ({"variant": "giant"}, "unknown variant 'giant'"),
        ({"image_size": "big"}, "no valid image_size"),
    ],
)
def test_damaged_metadata_is_refused(tmp_path, changes, match):
    _, path = _saved(tmp_path)
    _rewrite_header(path, **changes)
    _assert_one_clear_sentence(path, match)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "out3.txt",
            "out3.txt is not a file name ending in .safetensors: Menny's weights are a "
            ".safetensors file, e.g. {tmp}/out3.safetensors",
        ),
        (
            "folder",
            "folder is an existing folder: give a file name ending in .safetensors, e.g. "
            "{tmp}/folder/menny.safetensors",
        ),
        (
            "photo.png/x.safetensors",
            "photo.png/x.safetensors cannot be written: {tmp}/photo.png is a file, not a folder",
        ),
        ("photo.png/deeper/x.safetensors", "cannot be written: {tmp}/photo.png is a file"),
    ],
)
def test_save_refuses_a_place_it_cannot_write_before_writing(tmp_path, name, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "photo.png").write_bytes(b"not a folder")
    target = tmp_path / name
    expected = message.format(tmp=tmp_path).replace(name, str(target), 1)
    for attempt in (
        lambda: weights.check_save_path(target),
        lambda: save(target, MennyCNN(4), {"classes": CLASSES, "image_size": 64}),
    ):
        with pytest.raises(WeightsError) as caught:
            attempt()
        assert expected in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "photo.png"]
    assert list((tmp_path / "folder").iterdir()) == []


def test_save_creates_missing_folders_and_keeps_the_name_given(tmp_path):
    target = tmp_path / "new" / "deeper" / "m.safetensors"
    assert weights.check_save_path(target) == target
    _, path = _saved(tmp_path, name="new/deeper/m.safetensors")
    assert path == target and path.is_file()


# -- places that look writable but are not (item 8 of the public-link issue) ----------


def _refused_before_writing(target, match):
    with pytest.raises(WeightsError, match=match) as caught:
        weights.check_save_path(target)
    assert "\n" not in str(caught.value)
    with pytest.raises(WeightsError, match=match):
        save(target, MennyCNN(4), {"classes": CLASSES, "image_size": 64})


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/proc/menny.safetensors", "No such file or directory"),  # procfs: no new files
        ("/sys/menny.safetensors", "Permission denied"),  # sysfs: not even for root
    ],
)
def test_kernel_filesystems_are_refused_before_training(target, reason):
    if not Path(target).parent.is_dir():
        pytest.skip(f"no {Path(target).parent} on this system")
    _refused_before_writing(
        target, rf"^{target} cannot be written: a new file cannot be created in "
        rf"{Path(target).parent} \({reason}\)$",
    )  # fmt: skip


def test_a_device_or_pipe_named_like_weights_is_refused(tmp_path):
    device = tmp_path / "full.safetensors"
    device.symlink_to("/dev/full")  # every write to it: "No space left on device"
    pipe = tmp_path / "pipe.safetensors"
    os.mkfifo(pipe)  # writing would block until someone reads
    for target in (device, pipe):
        _refused_before_writing(target, f"^{target} cannot be written: it exists and is not a "
                                "regular file")  # fmt: skip
    assert sorted(os.listdir(tmp_path)) == ["full.safetensors", "pipe.safetensors"]
    assert device.is_symlink() and pipe.is_fifo()


def test_a_folder_named_like_the_file_is_refused(tmp_path):
    (tmp_path / "m.safetensors").mkdir()
    _refused_before_writing(tmp_path / "m.safetensors", "is an existing folder")
    assert list((tmp_path / "m.safetensors").iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        _refused_before_writing(folder / "m.safetensors", "cannot be written")
    finally:
        folder.chmod(0o755)


def test_the_writability_probe_leaves_nothing_behind(tmp_path):
    weights.check_save_path(tmp_path / "m.safetensors")
    weights.check_save_path(tmp_path / "new" / "deeper" / "m.safetensors")
    assert os.listdir(tmp_path) == []


# -- files that are not Menny's weights, or damaged ones (item 10) --------------------


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_are_refused(tmp_path, seed):
    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(np.random.default_rng(seed).bytes(4096))
    _assert_one_clear_sentence(noise, "not a readable .safetensors file")


def _rewrite_arrays(path, change):
    """Apply `change` to the {name: array} dict of a saved file, keeping its metadata."""
    arrays, header = mx.load(str(path), return_metadata=True)
    change(arrays)
    mx.save_safetensors(str(path), arrays, metadata=header)


def _set(key, value):
    return lambda arrays: arrays.__setitem__(key, value(arrays[key]))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda a: a.pop("blocks.1.conv.weight"), r"\(blocks.1.conv.weight is missing\)"),
        (_set("classifier.weight", lambda w: w.T), r"classifier.weight is \(64, 4\), expected"),
        (_set("blocks.0.conv.bias", lambda b: b[:8]), r"blocks.0.conv.bias is \(8,\)"),
        (lambda a: a.__setitem__("extra", mx.zeros((2,))), r"\(extra is not part of it\)"),
        (_set("classifier.bias", lambda b: b.astype(mx.float16)), "bias holds float16; Menny's"),
        (_set("classifier.bias", lambda b: b.astype(mx.int32)), "Menny's weights are float32"),
    ],
    ids=["missing", "transposed", "shortened", "extra", "float16", "int32"],
)
def test_tensors_of_another_architecture_are_refused(tmp_path, change, match):
    _, path = _saved(tmp_path)
    _rewrite_arrays(path, change)
    _assert_one_clear_sentence(path, match)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("key", ["blocks.0.conv.weight", "classifier.bias"])
def test_weights_that_are_not_numbers_are_refused(tmp_path, key, bad):
    _, path = _saved(tmp_path)

    def poison(array):
        flat = array.flatten()
        flat[3] = bad
        return flat.reshape(array.shape)

    _rewrite_arrays(path, _set(key, poison))
    _assert_one_clear_sentence(
        path, rf"^menny.safetensors is damaged: {key} holds values that are not numbers"
    )


def test_negative_batchnorm_variances_are_refused(tmp_path):
    _, path = _saved(tmp_path, "complex")
    _rewrite_arrays(path, _set("blocks.2.norm.running_var", lambda v: -v - 1))
    _assert_one_clear_sentence(path, "blocks.2.norm.running_var holds negative variances")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"image_size": 100000}, "between 8 and 512 pixels per side for the simple variant"),
        ({"image_size": 0}, r"between 8 and 512 .*got 0$"),
        ({"image_size": -64}, "got -64$"),
        ({"image_size": 4}, "got 4$"),  # below the simple variant's minimum
        ({"image_size": 513}, "got 513$"),
        ({"image_size": 64.5}, "got 64.5$"),
        ({"image_size": True}, "got True$"),
        ({"image_size": None}, "got None$"),
        ({"image_size": "64"}, "got '64'$"),
        ({"classes": [1, 2, 3, 4]}, "at least two class names"),
        ({"classes": "CWK,Cody"}, "at least two class names"),
        ({"classes": ["CWK", "", "Pippa", "RJ"]}, "at least two class names"),
        ({"classes": ["CWK", "CWK", "Pippa", "RJ"]}, "lists the class name 'CWK' twice"),
        ({"variant": ["simple"]}, r"unknown variant \['simple'\]"),
        ({"dropout": 1.5}, r"invalid dropout .* must be in \[0, 1\), got 1.5"),
        ({"dropout": "x"}, "invalid dropout"),
        ({"format": None}, "not in Menny's weights format"),
    ],
)
def test_metadata_outside_what_training_writes_is_refused(tmp_path, changes, match):
    _, path = _saved(tmp_path)
    _rewrite_header(path, **changes)
    _assert_one_clear_sentence(path, match)


def test_the_image_size_limits_follow_the_variant(tmp_path):
    _, path = _saved(tmp_path, "complex")
    _rewrite_header(path, image_size=16)  # the complex variant's 5 pools need 2**5 = 32
    _assert_one_clear_sentence(path, "between 32 and 512 pixels per side for the complex")
    _rewrite_header(path, image_size=32.0)  # a whole number written as a float is fine
    assert load(path)[1]["image_size"] == 32 and isinstance(load(path)[1]["image_size"], int)
