"""pool against a loop-over-windows oracle, the arithmetic, and MLX's pooling layers."""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from kernels_playground.arithmetic import pool_output_size, resolve_padding
from kernels_playground.pooling import pool


def pool_oracle(plane, kind, window, stride, padding, ceil_mode):
    """Loops over windows; PyTorch's rule for averages (count clipped to input + padding)."""
    before, after = resolve_padding(padding, window)
    h, w = plane.shape
    rows = pool_output_size(h, window, stride, padding, ceil_mode)
    cols = pool_output_size(w, window, stride, padding, ceil_mode)
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            r0, c0 = i * stride - before, j * stride - before
            r1, c1 = r0 + window, c0 + window
            real = plane[max(r0, 0) : min(r1, h), max(c0, 0) : min(c1, w)]
            if kind == "max":
                out[i, j] = real.max()
            else:
                count = (min(r1, h + after) - r0) * (min(c1, w + after) - c0)
                out[i, j] = real.sum() / count
    return out


def test_max_pool_equals_reshape_max():
    rng = np.random.default_rng(1)
    fmap = rng.normal(size=(12, 18, 3)).astype(np.float32)
    expected = fmap.reshape(6, 2, 9, 2, 3).max(axis=(1, 3))
    np.testing.assert_array_equal(pool(fmap, "max", 2), expected)
    expected3 = fmap.reshape(4, 3, 6, 3, 3).max(axis=(1, 3))
    np.testing.assert_array_equal(pool(fmap, "max", 3), expected3)


def test_pool_sweep_matches_oracle_and_arithmetic():
    rng = np.random.default_rng(77)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(2, 12, size=2))
        window = int(rng.integers(1, 5))
        stride = int(rng.integers(1, 4))
        padding = int(rng.integers(0, window // 2 + 1))
        ceil_mode = bool(rng.integers(2))
        kind = ["max", "avg"][int(rng.integers(2))]
        plane = rng.normal(size=(h, w)).astype(np.float32)
        try:
            expected = pool_oracle(plane, kind, window, stride, padding, ceil_mode)
        except ValueError:
            with pytest.raises(ValueError):
                pool(plane, kind, window, stride, padding, ceil_mode)
            continue
        out = pool(plane, kind, window, stride, padding, ceil_mode)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("window,stride,padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 1)])
def test_pool_agrees_with_mlx_layers(kind, window, stride, padding):
    layer_class = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
    layer = layer_class(window, stride=stride, padding=padding)
    fmap = np.random.default_rng(4).normal(size=(9, 10, 2)).astype(np.float32)
    expected = np.array(layer(mx.array(fmap[None])))[0]
    out = pool(fmap, kind, window, stride, padding)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_ceil_mode_keeps_the_partial_window():
    fmap = np.arange(25, dtype=np.float32).reshape(5, 5)
    out = pool(fmap, "max", 2, ceil_mode=True)
    assert out.shape == (3, 3)
    assert out[2, 2] == 24 and out[0, 2] == 9
    avg = pool(fmap, "avg", 2, ceil_mode=True)
    assert avg[2, 2] == 24  # the partial window averages its one real value
    assert avg[0, 2] == pytest.approx((4 + 9) / 2)


def test_pool_errors():
    with pytest.raises(ValueError, match="kind"):
        pool(np.ones((4, 4)), "min")
    with pytest.raises(ValueError, match="pool stride must be >= 1"):
        pool(np.ones((4, 4)), stride=0)
    with pytest.raises(ValueError, match="at most half the window"):
        pool(np.ones((4, 4)), window=2, padding=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        pool(np.ones((2, 8)), window=3)
    with pytest.raises(ValueError, match="shape"):
        pool(np.ones(4))


def test_a_window_too_large_names_the_feature_map_axis_and_pooling_advice():
    with pytest.raises(ValueError) as tall:
        pool(np.ones((6, 6)), "max", 7)
    assert str(tall.value) == (
        "feature map height: the pool window (7) is larger than the padded input (6 + 0 = 6): "
        "use a smaller pool window, or more padding (at most half the window)"
    )
    with pytest.raises(ValueError) as wide:
        pool(np.ones((8, 2)), "avg", 3)
    assert str(wide.value).startswith(
        "feature map width: the pool window (3) is larger than the padded input (2 + 0 = 2): "
    )
    assert "dilation" not in str(tall.value) + str(wide.value)
    # The advice works: 3 pixels of padding on each side, 6 + 6 >= 7.
    assert pool(np.ones((6, 6)), "max", 7, padding=3).shape == (1, 1)
