"""Weights files: exact round trip, atomic writes, and one clear sentence for every bad file."""

import json
import os

import mlx.core as mx
import numpy as np
import pytest

from menny_core import weights
from menny_core.model import MennyCNN
from menny_core.weights import WeightsError, load, read_metadata, save

CLASSES = ["CWK", "Cody", "Pippa", "RJ"]


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
    assert read_metadata(path)["image_size"] == 64


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    _, path = _saved(tmp_path)
    before = path.read_bytes()

    def fail_half_way(file, arrays, metadata=None):
        with open(file, "wb") as handle:
            handle.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(weights.mx, "save_safetensors", fail_half_way)
    with pytest.raises(OSError, match="No space left"):
        save(path, MennyCNN(4, "simple"), {"classes": CLASSES, "image_size": 64})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    load(path)


def test_save_needs_the_class_names(tmp_path):
    with pytest.raises(ValueError, match="must list the model's 4 class names"):
        save(tmp_path / "m.safetensors", MennyCNN(4), {"classes": ["a", "b"]})


def _assert_one_clear_sentence(path, match):
    with pytest.raises(WeightsError, match=match) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and "[" not in message  # no MLX "[load] ..." internals


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
