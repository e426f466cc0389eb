"""What Menny sees: feature maps, saliency checked against finite differences, overlays."""

import mlx.core as mx
import numpy as np
import pytest

from menny_core.insight import (
    feature_maps,
    heat_colours,
    input_gradient,
    look,
    network_input,
    overlay,
    saliency,
    saliency_map,
)
from menny_core.model import MennyCNN


@pytest.fixture(scope="module", params=[("simple", False), ("simple", True)], ids=str)
def model(request):
    """A classifier, and a detector (whose class head looks where its box head does)."""
    variant, detector = request.param
    mx.random.seed(3)
    net = MennyCNN(3, variant, detector=detector)
    net.classifier.weight = net.classifier.weight * 100  # gradients well above float32 noise
    net.eval()
    return net


def picture(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)


def test_input_gradient_matches_central_finite_differences(model):
    """d logit / d pixel by mx.grad against (f(x + h) - f(x - h)) / 2h at 12 pixels.
    ReLU and max-pool are piecewise linear: the difference quotient is exact up to float32
    rounding unless a kink (a ReLU or a pool's winner changing) lies within h of the
    point, which can happen for a pixel or two, so 10 of the 12 must agree."""
    x = mx.random.normal((1, 16, 16, 3))
    grad = np.array(input_gradient(model, x, class_index=1))
    rng = np.random.default_rng(0)
    h = 1e-2
    scale = float(np.abs(grad).max())
    agree = 0
    for _ in range(12):
        i, j, c = rng.integers(0, 16), rng.integers(0, 16), rng.integers(0, 3)
        bump = np.zeros(x.shape, dtype=np.float32)
        bump[0, i, j, c] = h
        up = model(x + mx.array(bump))[0, 1].item()
        down = model(x - mx.array(bump))[0, 1].item()
        estimate = (up - down) / (2 * h)
        agree += abs(estimate - grad[0, i, j, c]) <= 0.03 * abs(grad[0, i, j, c]) + 0.02 * scale
    assert agree >= 10


def test_saliency_is_a_unit_map_of_the_image_size(model):
    image = picture(30, 50)
    heat = saliency(model, image, image_size=16)
    assert heat.shape == (30, 50) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
    # The network saw the central 30x30 square: the sides it never saw have no heat.
    assert heat[:, :10].max() == 0.0 and heat[:, 40:].max() == 0.0
    assert heat[:, 10:40].max() > 0.5


def test_saliency_is_the_normalised_gradient_of_the_chosen_class(model):
    image = picture(16, 16, seed=1)  # already the network's size: no resizing in between
    grad = np.abs(np.array(input_gradient(model, network_input(image, 16), 2))[0]).max(axis=-1)
    np.testing.assert_allclose(
        saliency(model, image, class_index=2, image_size=16), grad / grad.max(), atol=1e-6
    )
    with pytest.raises(ValueError, match="class_index must be from 0 to 2, got 3"):
        saliency(model, image, class_index=3, image_size=16)


def test_look_is_the_model_its_feature_maps_and_the_top_class_gradient(model):
    """One pass gives model(x)'s logits bit for bit, the stages of feature_maps and
    input_gradient of the highest logit's class."""
    x = network_input(picture(20, 20, seed=2), 16)
    logits, gradient, stages = look(model, x)
    mx.eval(logits, gradient, stages)
    np.testing.assert_array_equal(np.array(logits), np.array(model(x)))
    top = int(np.argmax(np.array(logits)[0]))
    np.testing.assert_array_equal(np.array(gradient), np.array(input_gradient(model, x, top)))
    expected = model.feature_maps(x)
    assert [name for name, _ in stages] == [name for name, _ in expected]
    for (_, got), (_, want) in zip(stages, expected, strict=True):
        np.testing.assert_array_equal(np.array(got), np.array(want))


def test_saliency_map_covers_the_central_square():
    gradient = np.zeros((2, 2, 3), np.float32)
    gradient[0, 0] = [0.5, -2.0, 1.0]  # the largest |value| over channels: 2
    gradient[1, 1, 2] = 1.0
    heat = saliency_map(gradient, 2, 4)  # a 2x2 square in the middle of a 2x4 image
    np.testing.assert_array_equal(heat, [[0, 1, 0, 0], [0, 0, 0.5, 0]])
    assert saliency_map(np.zeros((2, 2, 3)), 3, 3).max() == 0.0  # no gradient, no heat


def test_feature_maps_of_an_image(model):
    maps = feature_maps(model, picture(40, 60), image_size=32)
    names = [name for name, _ in maps]
    assert names[:3] == ["block 1 conv", "block 1 relu", "block 1 pool"]
    shapes = dict((name, m.shape) for name, m in maps)
    assert shapes["block 1 conv"] == (32, 32, 16)
    assert shapes["block 3 pool"] == (4, 4, 64)
    relu = dict(maps)["block 2 relu"]
    assert relu.dtype == np.float32 and relu.min() >= 0.0


def test_overlay_leaves_cold_pixels_alone_and_paints_hot_ones():
    image = picture(4, 5)
    heat = np.zeros((4, 5), dtype=np.float32)
    heat[1, 2] = 1.0
    out = overlay(image, heat, strength=1.0)
    expected = image.copy()
    expected[1, 2] = [255, 255, 255]  # the top of the "hot" map is white
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(heat_colours(np.array([[0.0, 1 / 3, 2 / 3]])),
                                  [[[0, 0, 0], [255, 0, 0], [255, 255, 0]]])  # fmt: skip
    with pytest.raises(ValueError, match="overlay needs an"):
        overlay(image, heat[:3])
