"""Translation on real layers and files: the shift against a hand-worked example, exact
equivariance where the fill changes nothing, the curve at shift 0 against Classify's
probabilities, one sentence per bad request, the plot's lines."""

import os
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from menny_base.errors import MennyError
from menny_base.images import load_rgb
from menny_core.model import MennyCNN
from menny_core.predict import model_input, probabilities
from menny_core.translation import (
    COLOURS,
    CURVE_POINTS,
    correlation,
    curve_shifts,
    default_stage,
    max_shift,
    moved_correlation,
    probability_plot,
    shift_experiment,
    shift_image,
)
from menny_core.weights import load

ROOT = Path(__file__).resolve().parents[1]
CODY = ROOT / "portraits" / "Cody" / sorted(os.listdir(ROOT / "portraits" / "Cody"))[0]


@pytest.fixture(scope="module")
def shipped():
    return load(ROOT / "weights" / "menny.safetensors")


def test_shift_repeats_the_edge_column():
    image = np.zeros((2, 4, 3), np.uint8)
    image[:, :, 0] = [10, 20, 30, 40]  # one value per column
    assert shift_image(image, 1)[0, :, 0].tolist() == [10, 10, 20, 30]
    assert shift_image(image, -2)[0, :, 0].tolist() == [30, 40, 40, 40]
    np.testing.assert_array_equal(shift_image(image, 0), image)
    with pytest.raises(MennyError, match="smaller than the image's 4 pixels, got 4"):
        shift_image(image, 4)


def test_moved_correlation_finds_a_moved_map():
    rng = np.random.default_rng(0)
    original = rng.normal(size=(6, 10, 3))
    shifted = np.zeros_like(original)
    shifted[:, 3:] = original[:, :-3]
    assert moved_correlation(original, shifted, 3) == pytest.approx(1.0)
    assert abs(moved_correlation(original, shifted, 0)) < 0.5
    assert moved_correlation(original, shifted[:, ::-1], 30) == 0.0
    assert correlation(np.ones(4), np.arange(4)) == 0.0  # a constant has no correlation


def test_a_square_on_a_plain_backdrop_moves_its_maps_exactly():
    """Shifting a picture whose border is plain backdrop only moves its content: the
    edge fill adds backdrop, the cut removes backdrop, the standardisation sees the same
    values. So the conv maps move exactly, by shift / jump cells."""
    image = np.full((64, 64, 3), 90, np.uint8)
    image[24:40, 20:36] = [200, 40, 60]
    image[28:32, 26:30] = [20, 200, 250]
    mx.random.seed(1)
    model = MennyCNN(3, "complex")
    result = shift_experiment(model, ["a", "b", "c"], image, 64, 8, "block 2 conv")
    assert (result.jump, result.cells) == (2, 4)
    assert result.aligned > 0.9999
    assert result.unaligned < 0.9
    # Equivariant maps do not make an invariant answer: 8 pixels is not a whole number of
    # cells for blocks 4 and 5 (jumps 16 and 32), so their pools group other values. Close,
    # never exact.
    change = np.abs(result.at(8) - result.at(0)).max()
    assert 0 < change < 0.05


def test_the_curve_at_zero_is_what_classify_says(shipped):
    model, metadata = shipped
    image = load_rgb(CODY)
    temperature = metadata["detector"]["thresholds"]["temperature"]
    result = shift_experiment(
        model, metadata["classes"], image, 64, 16, "block 3 conv", temperature
    )
    np.testing.assert_allclose(
        result.at(0), probabilities(model, image, 64, temperature), atol=1e-5
    )
    moved = shift_image(model_input(image, 64), 16)
    np.testing.assert_array_equal(result.picture, moved)
    np.testing.assert_allclose(
        result.at(16), probabilities(model, moved, 64, temperature), atol=1e-5
    )
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0)
    assert len(result.shifts) == CURVE_POINTS  # 16 is on the curve already
    # Equivariance: the moved maps match the original's moved by 4 cells, but for the rows
    # and columns the padding changes at the border (how much depends on the weights).
    assert result.cells == 4 and result.aligned > 0.95 > result.unaligned
    assert metadata["classes"][int(np.argmax(result.at(16)))] == "Cody"


def test_bad_requests_get_one_sentence(shipped):
    model, metadata = shipped
    image = load_rgb(CODY)
    with pytest.raises(MennyError, match="The shift must be between -32 and 32 pixels, got 40"):
        shift_experiment(model, metadata["classes"], image, 64, 40)
    with pytest.raises(MennyError, match="The shift must be a whole number"):
        shift_experiment(model, metadata["classes"], image, 64, 2.5)
    with pytest.raises(MennyError, match="the layer must be one of"):
        shift_experiment(model, metadata["classes"], image, 64, 2, "block 7 pool")
    assert max_shift(64) == 32
    assert curve_shifts(64, 5).tolist().count(5) == 1
    assert default_stage(model) == "block 3 conv"


def test_the_plot_draws_a_line_per_class(shipped):
    model, metadata = shipped
    result = shift_experiment(model, metadata["classes"], load_rgb(CODY), 64, -8)
    plot = probability_plot(result)
    assert plot.shape == (240, 420, 3)
    colours = {tuple(int(v) for v in pixel) for pixel in plot.reshape(-1, 3)}
    for k in range(len(metadata["classes"])):
        assert COLOURS[k] in colours
