"""Fine-tuning from trained weights (menny_core/finetune.py): the conv blocks come from the
file, a class head for other classes starts fresh, frozen blocks come out of training
bit-identical (BatchNorm's running statistics too), and every wrong start is a sentence."""

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from test_cli import assert_one_line_error, menny
from test_train import quick, write_squares

from menny_core.dataset import discover
from menny_core.model import MennyCNN
from menny_core.train import TrainConfig, train
from menny_core.weights import load, save

SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "menny.safetensors"


def weights_of(model) -> dict:
    return {k: np.array(v) for k, v in tree_flatten(model.parameters())}


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft_squares")
    return discover(write_squares(root, per_class=8), cache_dir=root / ".cache")


@pytest.fixture(scope="module")
def shipped():
    if not SHIPPED.is_file():
        pytest.skip("the shipped weights are not in this checkout")
    return weights_of(load(SHIPPED)[0])


@pytest.mark.parametrize("frozen", [0, 2, 5])
def test_frozen_blocks_are_bit_identical_after_training(squares, shipped, frozen):
    result = train(squares, quick(epochs=2, init_from=str(SHIPPED), freeze=frozen), log=None)
    after = weights_of(result.model)
    for key, value in after.items():
        block = int(key.split(".")[1]) if key.startswith("blocks.") else None
        if block is not None and block < frozen:
            np.testing.assert_array_equal(value, shipped[key], err_msg=key)
        elif key.endswith("conv.weight"):  # trained: moved away from the shipped filters
            assert not np.array_equal(value, shipped[key]), key
    assert result.init["from"] == "menny.safetensors"
    assert result.metadata()["config"]["init_from"] == "menny.safetensors"  # no server path
    assert result.metadata()["config"]["freeze"] == frozen


def test_other_classes_get_a_fresh_head_and_keep_the_face_heads(squares, shipped):
    mx.random.seed(0)
    scratch = weights_of(MennyCNN(2, "complex", 0.25, detector=True))  # what train draws
    from menny_core import finetune

    mx.random.seed(0)
    model = MennyCNN(2, "complex", 0.25, detector=True)
    info = finetune.start_from(model, SHIPPED, ["blue", "red"])
    now = weights_of(model)
    assert info["classes"] == ["CWK", "Cody", "Pippa", "RJ", "someone else"]
    assert sorted(info["fresh"]) == ["classifier.bias", "classifier.weight"]
    for key in now:
        source = scratch if key.startswith("classifier.") else shipped
        np.testing.assert_array_equal(now[key], source[key], err_msg=key)


def test_the_same_classes_keep_the_class_head(squares, tmp_path):
    first = train(squares, quick(epochs=1), log=None)
    path = save(tmp_path / "first.safetensors", first.model, first.metadata())
    from menny_core import finetune

    model = MennyCNN(2, "complex", 0.25, detector=True)
    info = finetune.start_from(model, path, first.classes)
    assert info["fresh"] == []
    for key, value in weights_of(model).items():
        np.testing.assert_array_equal(value, weights_of(first.model)[key], err_msg=key)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"freeze": 2}, "freezing 2 conv block(s) needs trained weights to start from"),
        ({"init_from": "menny.txt"}, "weights to start from must be a .safetensors file"),
        ({"init_from": "nowhere.safetensors"}, "weights to start from: nowhere.safetensors is"),
        (
            {"init_from": str(SHIPPED), "freeze": 6},
            "frozen conv blocks (freeze) must be between 0 and 5",
        ),
        (
            {"init_from": str(SHIPPED), "variant": "simple", "freeze": 4},
            "frozen conv blocks (freeze) must be between 0 and 3",
        ),
    ],
)
def test_wrong_starts_are_sentences(changes, message):
    with pytest.raises(ValueError) as caught:
        TrainConfig(**changes)
    assert str(caught.value).startswith(message)


def test_another_variant_cannot_start_from_the_shipped_menny(squares):
    config = quick(variant="simple", init_from=str(SHIPPED))
    with pytest.raises(ValueError) as caught:
        train(squares, config, log=None)
    assert str(caught.value) == (
        "menny.safetensors holds a complex Menny: choose the complex variant to start from it"
    )


def test_the_cli_fine_tunes_and_refuses_files_menny_did_not_write(tmp_path):
    data = write_squares(tmp_path / "data", per_class=6)
    out = tmp_path / "tuned.safetensors"
    base = ["train", "--data", data, "--out", out, "--image-size", 32, "--epochs", 1]
    result = menny(*base, "--batch-size", 8, "--init", SHIPPED, "--freeze", 5)
    assert result.returncode == 0, result.stderr
    assert "started from menny.safetensors: 5 conv blocks loaded, 5 frozen; new: classifier" in (
        result.stdout
    )
    model, metadata = load(out)
    tuned = weights_of(model)
    shipped = weights_of(load(SHIPPED)[0])
    for key in (k for k in tuned if k.startswith("blocks.")):
        np.testing.assert_array_equal(tuned[key], shipped[key], err_msg=key)
    assert metadata["init"]["from"] == "menny.safetensors" and metadata["config"]["freeze"] == 5
    other = tmp_path / "other.safetensors"
    mx.save_safetensors(str(other), {"w": mx.zeros(3)})
    error = assert_one_line_error(menny(*base, "--init", other))
    assert error.endswith(
        "--init other.safetensors is a safetensors file but not Menny's weights (no metadata)"
    )
    error = assert_one_line_error(menny(*base, "--freeze", 1))
    assert "freezing 1 conv block(s) needs trained weights to start from (init_from)" in error
