"""The effective receptive field: the gradient against finite differences on a tiny real
Menny, the theoretical square against arithmetic.receptive_field, the mass share's range
and its 1 when the field covers the input, and the shipped model's measured numbers."""

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from kernels_playground.arithmetic import receptive_field
from menny_base.errors import MennyError
from menny_core.model import MennyCNN
from menny_core.receptive import (
    MAX_ERF_IMAGES,
    effective_field,
    erf_picture,
    field_square,
    gaussian_fit,
    half_mass_side,
    layer_specs,
    mass_share,
    stages,
    theoretical_field,
    untrained_twin,
)

ROOT = Path(__file__).resolve().parents[1]


def tiny(seed: int = 3) -> MennyCNN:
    mx.random.seed(seed)
    model = MennyCNN(3, "simple")
    model.eval()
    return model


def finite_difference_heat(model, images, stage, channel, eps=1e-2) -> np.ndarray:
    """sum over colours |(unit(x + eps e) - unit(x - eps e)) / 2 eps|, mean over images,
    one perturbed copy per input number (all in one batch)."""
    _, side, _, colours = images.shape
    maps = dict(model.feature_maps(mx.array(images)))[stage]
    row, col = maps.shape[1] // 2, maps.shape[2] // 2
    heats = []
    for image in images:
        basis = np.eye(side * side * colours).reshape(-1, side, side, colours)
        plus = mx.array(image[None] + eps * basis)
        minus = mx.array(image[None] - eps * basis)
        up = np.array(dict(model.feature_maps(plus))[stage][:, row, col, channel])
        down = np.array(dict(model.feature_maps(minus))[stage][:, row, col, channel])
        derivative = ((up - down) / (2 * eps)).reshape(side, side, colours)
        heats.append(np.abs(derivative).sum(axis=-1))
    return np.mean(heats, axis=0)


@pytest.mark.parametrize(("stage", "channel"), [("block 2 conv", 5), ("block 1 pool", 2)])
def test_the_gradient_equals_finite_differences_on_a_tiny_network(stage, channel):
    model = tiny()
    images = np.random.default_rng(0).normal(size=(2, 12, 12, 3))
    erf = effective_field(model, mx.array(images), stage, channel)
    expected = finite_difference_heat(model, images, stage, channel)
    # float32 throughout (MLX's CPU convolution computes float64 in float32 too), so the
    # differences carry rounding and the curvature of the standardisation (~1%).
    peak = expected.max()
    assert peak > 0
    np.testing.assert_allclose(erf.heat, expected, rtol=3e-2, atol=1e-3 * peak)


def test_the_theoretical_square_is_arithmetic_receptive_field():
    model = MennyCNN(5, "complex")
    conv, pool = (3, 1, 1), (2, 2, 0)
    # block k conv: (conv, pool) * (k - 1) + conv; block k pool adds its pool.
    for k in range(1, 6):
        expected = receptive_field([conv, pool] * (k - 1) + [conv])[-1]
        assert theoretical_field(model, f"block {k} conv") == expected
        assert theoretical_field(model, f"block {k} relu") == expected
        pooled = receptive_field([conv, pool] * k)[-1]
        assert theoretical_field(model, f"block {k} pool") == pooled
    sizes = [theoretical_field(model, f"block {k} conv").size for k in range(1, 6)]
    assert sizes == [3, 8, 18, 38, 78]  # r = r + (K - 1) * j, j doubling at every pool
    assert [s.kernel for s in layer_specs(model, "block 2 pool")] == [3, 2, 3, 2]


def test_the_square_is_centred_on_the_unit_and_clipped():
    field = receptive_field([(3, 1, 1)])[0]  # r 3, j 1, start 0: unit i sees i-1..i+1
    assert field_square(field, 5, 7, 16) == (4, 6, 7, 9)
    assert field_square(field, 0, 15, 16) == (0, 14, 2, 16)  # clipped at both edges
    pooled = receptive_field([(3, 1, 1), (2, 2, 0)])[-1]  # r 4, j 2, start 0.5
    assert field_square(pooled, 3, 3, 16) == (5, 5, 9, 9)  # conv units 6, 7 see 5..8


def test_mass_share_range_and_half_mass_side():
    heat = np.zeros((9, 9))
    heat[4, 4] = 3.0
    heat[0, 0] = 1.0
    assert mass_share(heat, (3, 3, 6, 6)) == pytest.approx(0.75)
    assert mass_share(heat, (0, 0, 9, 9)) == 1.0
    assert np.isnan(mass_share(np.zeros((4, 4)), (0, 0, 2, 2)))
    assert half_mass_side(heat, (4, 4)) == 1.0  # the centre alone holds 3/4
    assert half_mass_side(np.ones((9, 9)), (4, 4)) == 7.0  # 49 of 81 >= half; 25 is not


def test_gaussian_fit_recovers_a_gaussian_and_refuses_noise():
    rows, cols = np.indices((31, 31))
    bump = 5.0 * np.exp(-((rows - 15) ** 2 + (cols - 14) ** 2) / (2 * 3.0**2)) + 0.2
    sigma, r2 = gaussian_fit(bump, (0, 0, 31, 31))
    assert sigma == pytest.approx(3.0, rel=0.1)  # the floor widens the moments a little
    assert r2 > 0.99
    noise = np.random.default_rng(0).random((31, 31))
    assert gaussian_fit(noise, (0, 0, 31, 31))[1] < 0.2
    assert np.isnan(gaussian_fit(np.ones((8, 8)), (0, 0, 8, 8))[1])  # flat: nothing to explain


def test_share_is_one_when_the_field_covers_the_input():
    model = tiny()
    images = mx.array(np.random.default_rng(1).normal(size=(3, 8, 8, 3)))
    erf = effective_field(model, images, "block 3 conv", 0)  # r = 18 > 8 pixels
    assert erf.square == (0, 0, 8, 8)
    assert erf.share == 1.0
    wide = mx.array(np.random.default_rng(1).normal(size=(3, 24, 24, 3)))
    shallow = effective_field(tiny(), wide, "block 1 conv", 1)
    assert 0.0 <= shallow.share <= 1.0
    assert shallow.square == (11, 11, 14, 14)
    assert shallow.even_side == 3.0  # the centre pixel alone is 1/9 of an even 3x3 field


def test_bad_requests_get_one_sentence():
    model = tiny()
    images = mx.zeros((1, 16, 16, 3), dtype=mx.float64)
    with pytest.raises(MennyError, match="the layer must be one of block 1 conv"):
        effective_field(model, images, "block 9 conv", 0)
    with pytest.raises(MennyError, match="channel of block 1 conv must be between 0 and 15"):
        effective_field(model, images, "block 1 conv", 16)
    with pytest.raises(MennyError, match="number of images must be between 1 and 32"):
        effective_field(model, mx.zeros((MAX_ERF_IMAGES + 1, 16, 16, 3)), "block 1 conv", 0)
    with pytest.raises(MennyError, match="square"):
        effective_field(model, mx.zeros((1, 16, 12, 3)), "block 1 conv", 0)


def test_untrained_twin_is_repeatable_and_the_same_architecture():
    model = MennyCNN(5, "complex", detector=True)
    a, b = untrained_twin(model, 0), untrained_twin(model, 0)
    assert stages(a) == stages(model)
    first = np.array(a.conv_layers()[0][1].weight)
    np.testing.assert_array_equal(first, np.array(b.conv_layers()[0][1].weight))
    assert a.detector and a.num_classes == 5


def test_picture_draws_the_square():
    model = tiny()
    erf = effective_field(model, mx.array(np.ones((1, 16, 16, 3))), "block 1 conv", 0)
    picture = erf_picture(erf, scale=4)
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    top, left, _, _ = erf.square
    assert tuple(picture[top * 4, left * 4 + 2]) == (0, 220, 255)


def test_the_twin_is_what_training_started_from(tmp_path):
    """A run stopped before its first step keeps its initial weights: the twin of its
    seed has them, number for number."""
    from PIL import Image

    from menny_core.train import TrainConfig, train

    rng = np.random.default_rng(0)
    for name in ("red", "blue"):
        (tmp_path / name).mkdir()
        for index in range(4):
            pixels = rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{index}.png")
    config = TrainConfig(variant="simple", epochs=1, seed=7, strangers=False, negatives=False)
    result = train(tmp_path, config, should_stop=lambda: True, log=None)
    assert result.cancelled and not result.history
    twin = untrained_twin(result.model, 7)
    for (_, started), (_, ours) in zip(result.model.conv_layers(), twin.conv_layers(), strict=True):
        np.testing.assert_array_equal(np.array(started.weight), np.array(ours.weight))
