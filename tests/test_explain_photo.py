"""explain_photo on the shipped weights and bundled pictures, with the separate calls it
replaces as oracles: Predictor for the probabilities, insight.saliency for the map,
insight.feature_maps + render_feature_map for the sheet."""

from pathlib import Path

import numpy as np
import pytest

from kernels_playground.render import render_feature_map
from menny_base.images import fit_within, load_rgb
from menny_core.explain_photo import (
    GAP,
    GAP_GREY,
    OVERLAY_SIDE,
    LayerMaps,
    explain_photo,
    feature_sheet,
)
from menny_core.insight import (
    feature_maps,
    input_gradient,
    network_input,
    overlay,
    saliency,
    saliency_map,
)
from menny_core.lessons import classify_lesson
from menny_core.predict import Predictor
from menny_core.scenes import draw_box

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights" / "menny.safetensors"
PORTRAITS = ROOT / "portraits"

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="shipped weights are missing")


@pytest.fixture(scope="module")
def predictor():
    return Predictor(WEIGHTS)


def portrait(name: str) -> np.ndarray:
    return load_rgb(PORTRAITS / name)


@pytest.mark.parametrize(
    "name",
    ["CWK/front_000.png", "Cody/chin_down_006.png", "Pippa/front_000.png", "RJ/front_007.png"],
)
def test_probabilities_are_the_predictors(predictor, name):
    image = portrait(name)
    seen = explain_photo(predictor, image)
    assert seen.prediction == predictor(image)  # the same floats, the same order
    assert seen.prediction.label == name.split("/")[0]
    assert predictor.classes[seen.class_index] == seen.prediction.label


def test_saliency_is_insights_map(predictor):
    image = portrait("RJ/front_007.png")  # 512x512
    seen = explain_photo(predictor, image, overlay_side=512)
    size = seen.image_size
    np.testing.assert_array_equal(
        seen.saliency, saliency(predictor.model, image, seen.class_index, size)
    )
    expected = overlay(image, seen.saliency)
    if seen.prediction.box is not None:  # a detector's box, drawn over the saliency
        expected = draw_box(expected, seen.prediction.box, 1.0)
    np.testing.assert_array_equal(seen.overlay, expected)


def test_a_wide_photo_gets_a_small_overlay_of_the_same_gradient(predictor):
    image = load_rgb(PORTRAITS / "contact_sheet.jpg")  # 1120x640: not square, big
    seen = explain_photo(predictor, image)
    shrunk = fit_within(image, OVERLAY_SIDE)
    assert seen.overlay.shape == shrunk.shape == (146, 256, 3)
    assert seen.overlay.dtype == np.uint8
    gradient = input_gradient(
        predictor.model, network_input(image, seen.image_size), seen.class_index
    )
    np.testing.assert_array_equal(
        seen.saliency, saliency_map(np.array(gradient[0]), *shrunk.shape[:2])
    )
    np.testing.assert_array_equal(seen.overlay, overlay(shrunk, seen.saliency))
    assert seen.saliency[:, :50].max() == 0.0  # left of the central square: never seen
    assert seen.prediction == predictor(image)


def test_feature_sheet_holds_the_first_channels_of_every_conv_layer(predictor):
    image = portrait("RJ/front_007.png")
    seen = explain_photo(predictor, image)
    convs = [(n, m) for n, m in feature_maps(predictor.model, image, seen.image_size)
             if n.endswith("conv")]  # fmt: skip
    assert seen.layers == tuple(LayerMaps(n, m.shape, 4) for n, m in convs)
    assert seen.layers[0] == LayerMaps("block 1 conv", (64, 64, 16), 4)
    assert seen.feature_sheet.shape == (5 * 64 + 4 * GAP, 4 * 64 + 3 * GAP, 3)
    for row, (_, activation) in enumerate(convs):
        factor = 64 // activation.shape[0]
        for column in range(4):
            top, left = row * (64 + GAP), column * (64 + GAP)
            tile = seen.feature_sheet[top : top + 64, left : left + 64]
            expected = render_feature_map(activation[..., column]).image
            np.testing.assert_array_equal(tile[::factor, ::factor], expected)
            np.testing.assert_array_equal(  # each value a factor x factor square
                tile, expected.repeat(factor, axis=0).repeat(factor, axis=1)
            )


def test_feature_sheet_by_hand():
    first = np.zeros((4, 4, 2), np.float32)
    first[0, 0, 0] = 2.0  # channel 1: one white pixel on black
    first[..., 1] = -1.0  # channel 2: all negative, pure blue
    second = np.array([[[3.0]]], np.float32)  # 1x1: enlarged 4 times
    sheet = feature_sheet([first, second])
    assert sheet.shape == (4 + GAP + 4, 4 + GAP + 4, 3)
    np.testing.assert_array_equal(sheet[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(sheet[0, 1], [0, 0, 0])
    np.testing.assert_array_equal(sheet[:4, 4 + GAP :], np.full((4, 4, 3), [0, 0, 255]))
    np.testing.assert_array_equal(sheet[4 + GAP :, :4], np.full((4, 4, 3), 255))
    assert (sheet[4 : 4 + GAP] == GAP_GREY).all()  # the gap between the rows
    assert (sheet[4 + GAP :, 4 + GAP :] == GAP_GREY).all()  # no second channel: empty
    with pytest.raises(ValueError, match="at least one layer"):
        feature_sheet([])


def test_the_lesson_names_every_row(predictor):
    seen = explain_photo(predictor, portrait("RJ/front_007.png"))
    lesson = classify_lesson(seen.prediction.probabilities, seen.image_size, seen.layers)
    assert "(1, 64, 64, 3)" in lesson
    assert "block 1 conv: 64x64, 16 channels; block 2 conv: 32x32, 32 channels;" in lesson
    assert "block 5 conv: 4x4, 128 channels) and shows each layer's first 4 channels" in lesson


def test_bad_requests_are_sentences(predictor):
    image = portrait("RJ/front_007.png")
    with pytest.raises(ValueError, match=r"needs a uint8 \(H, W, 3\) RGB image .* float32"):
        explain_photo(predictor, image.astype(np.float32))
    with pytest.raises(ValueError, match="got uint8 \\(512, 512\\)"):
        explain_photo(predictor, image[..., 0])
    with pytest.raises(ValueError, match="overlay_side and channels must be >= 1, got 0 and 4"):
        explain_photo(predictor, image, overlay_side=0)
