"""apply_kernel against scipy, numpy oracles, arithmetic and real MLX layers."""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from scipy import ndimage, signal

from kernels_playground.arithmetic import conv_output_size, resolve_padding
from kernels_playground.convolve import (
    LUMA_BT601,
    MAX_PIXELS,
    apply_kernel,
    relu,
)
from kernels_playground.kernels import PRESETS

NUMPY_PAD = {"zero": "constant", "valid": "constant", "replicate": "edge", "reflect": "reflect"}
SCIPY_MODE = {"zero": "constant", "replicate": "nearest", "reflect": "mirror"}


def dilate(kernel: np.ndarray, d: int) -> np.ndarray:
    """The kernel with d-1 zeros between taps: what a dilated kernel multiplies."""
    kh, kw = kernel.shape
    out = np.zeros((d * (kh - 1) + 1, d * (kw - 1) + 1), kernel.dtype)
    out[::d, ::d] = kernel
    return out


def oracle(grey, kernel, stride, padding, edge, dilation):
    """scipy.signal.correlate2d on the explicitly padded image, then every stride-th value."""
    kh, kw = kernel.shape
    top, bottom = resolve_padding(padding, kh, dilation)
    left, right = resolve_padding(padding, kw, dilation)
    if edge == "valid" and (top, bottom, left, right) != (0, 0, 0, 0):
        raise ValueError("edge 'valid' takes no padding")
    padded = np.pad(grey.astype(np.float64), [(top, bottom), (left, right)], mode=NUMPY_PAD[edge])
    full = signal.correlate2d(padded, dilate(kernel.astype(np.float64), dilation), mode="valid")
    return full[::stride, ::stride], (top, bottom, left, right)


def random_padding(rng):
    choice = rng.integers(5)
    if choice == 0:
        return int(rng.integers(0, 4))
    if choice == 1:
        return (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
    return ["valid", "same", "full"][choice - 2]


def test_dense_sweep_matches_scipy_and_arithmetic():
    rng = np.random.default_rng(2024)
    checked = rejected = 0
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(1, 13, size=2))
        kernel = rng.normal(size=tuple(int(v) for v in rng.integers(1, 6, size=2)))
        stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        edge = ["zero", "valid", "replicate", "reflect"][int(rng.integers(4))]
        padding = 0 if edge == "valid" and rng.random() < 0.7 else random_padding(rng)
        image = rng.integers(0, 256, size=(h, w)).astype(np.uint8)
        try:
            expected, (top, bottom, left, right) = oracle(
                image, kernel, stride, padding, edge, dilation
            )
            if edge == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
                raise ValueError("reflect pad too large")
            rows = conv_output_size(h, kernel.shape[0], stride, (top, bottom), dilation)
            cols = conv_output_size(w, kernel.shape[1], stride, (left, right), dilation)
        except ValueError:
            with pytest.raises(ValueError):
                apply_kernel(image, kernel, stride, padding, edge, dilation)
            rejected += 1
            continue
        out = apply_kernel(image, kernel, stride, padding, edge, dilation)
        assert out.dtype == np.float32
        assert out.shape == (rows, cols) == expected.shape
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)
        checked += 1
    assert checked > 200 and rejected > 20  # both paths really exercised


@pytest.mark.parametrize("edge", ["zero", "replicate", "reflect"])
@pytest.mark.parametrize("shape", [(3, 3), (5, 5), (2, 2), (4, 3), (1, 5)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_same_padding_equals_ndimage_correlate(edge, shape, dilation):
    rng = np.random.default_rng(7)
    image = rng.random((17, 14)).astype(np.float32) * 255
    kernel = rng.normal(size=shape).astype(np.float32)
    out = apply_kernel(image, kernel, padding="same", edge=edge, dilation=dilation)
    taps = dilate(kernel, dilation)
    # ndimage centres an even-sized kernel one later than TensorFlow-style "same": origin -1.
    origin = [0 if n % 2 else -1 for n in taps.shape]
    expected = ndimage.correlate(image, taps, mode=SCIPY_MODE[edge], cval=0.0, origin=origin)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize("edge", ["zero", "replicate", "reflect"])
@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (1, 5)])
def test_flip_gives_true_convolution(edge, shape):
    rng = np.random.default_rng(11)
    image = rng.random((12, 15)).astype(np.float32)
    kernel = rng.normal(size=shape).astype(np.float32)
    out = apply_kernel(image, kernel, padding="same", edge=edge, flip=True)
    expected = ndimage.convolve(image, kernel, mode=SCIPY_MODE[edge], cval=0.0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(out, apply_kernel(image, kernel, padding="same", edge=edge))


def test_per_channel_filters_each_channel_alone():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(10, 9, 4)).astype(np.uint8)
    kernel = PRESETS["Sobel x"]
    out = apply_kernel(image, kernel, stride=2, padding=1, mode="per_channel")
    assert out.shape == (5, 5, 4)
    for c in range(4):
        expected = ndimage.correlate(image[:, :, c].astype(np.float64), kernel, mode="constant")
        np.testing.assert_allclose(out[:, :, c], expected[::2, ::2], atol=1e-3)


def test_luminance_is_bt601_and_ignores_alpha():
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, size=(8, 8, 4)).astype(np.uint8)
    grey = rgba[:, :, :3].astype(np.float64) @ [0.299, 0.587, 0.114]
    out = apply_kernel(rgba, PRESETS["identity"], padding=1)
    np.testing.assert_allclose(out, grey, atol=1e-3)
    np.testing.assert_allclose(LUMA_BT601, [0.299, 0.587, 0.114])
    # A pure red pixel is 0.299 * 255 bright.
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 255
    assert apply_kernel(red, [[1]])[0, 0] == pytest.approx(0.299 * 255, rel=1e-6)


def test_float_images_are_used_as_given():
    image = np.full((3, 3), 0.5, np.float32)
    assert apply_kernel(image, np.ones((3, 3)))[0, 0] == pytest.approx(4.5)
    assert apply_kernel(image.astype(np.uint8) + 200, np.ones((3, 3)))[0, 0] == 1800


@pytest.mark.parametrize("seed", range(12))
def test_shapes_agree_with_mlx_conv2d_layer(seed):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(6, 20, size=2))
    kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
    stride, dilation, padding = (
        int(v) for v in (rng.integers(1, 4), rng.integers(1, 3), rng.integers(0, 3))
    )
    layer = nn.Conv2d(1, 1, (kh, kw), stride=stride, padding=padding, dilation=dilation, bias=False)
    kernel = rng.normal(size=(kh, kw)).astype(np.float32)
    layer.weight = mx.array(kernel[None, :, :, None])
    image = rng.random((h, w)).astype(np.float32)
    expected = np.array(layer(mx.array(image[None, :, :, None])))[0, :, :, 0]
    out = apply_kernel(image, kernel, stride, padding, "zero", dilation)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(20))
def test_values_agree_with_mx_conv_general(seed):
    """Asymmetric padding and dilation included; per_channel = a depthwise conv (groups=C)."""
    rng = np.random.default_rng(100 + seed)
    h, w, c = int(rng.integers(8, 20)), int(rng.integers(8, 20)), int(rng.integers(1, 5))
    kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
    stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    before, after = (int(v) for v in rng.integers(0, 3, size=2))
    image = rng.random((h, w, c)).astype(np.float32)
    kernel = rng.normal(size=(kh, kw)).astype(np.float32)
    weights = mx.array(np.repeat(kernel[None, :, :, None], c, axis=0))  # (C_out, kh, kw, 1)
    expected = mx.conv_general(
        mx.array(image[None]),
        weights,
        stride=stride,
        padding=([before, before], [after, after]),
        kernel_dilation=dilation,
        groups=c,
    )
    out = apply_kernel(image, kernel, stride, (before, after), "zero", dilation, "per_channel")
    np.testing.assert_allclose(out, np.array(expected)[0], rtol=1e-5, atol=1e-5)


def test_sobel_gradient_magnitude_and_relu():
    rng = np.random.default_rng(9)
    image = rng.random((11, 13)).astype(np.float32)
    gx = ndimage.correlate(image, PRESETS["Sobel x"], mode="nearest")
    gy = ndimage.correlate(image, PRESETS["Sobel y"], mode="nearest")
    x, y = (
        apply_kernel(image, PRESETS[f"Sobel {a}"], padding="same", edge="replicate") for a in "xy"
    )
    np.testing.assert_allclose(np.hypot(x, y), np.hypot(gx, gy), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(relu(np.array([[-2.0, 0.0, 3.5]])), [[0.0, 0.0, 3.5]])


# -- errors a person can act on ----------------------------------------------


@pytest.mark.parametrize(
    "image,kernel,options,match",
    [
        (np.ones((5, 5)), np.ones((3, 3, 3)), {}, "2-D"),
        (np.ones((5, 5)), [[1, float("nan")]], {}, "finite"),
        (np.ones((20, 20)), np.ones((16, 16)), {}, "15x15"),
        (np.ones((5, 5, 5)), np.ones((3, 3)), {}, "1 to 4 channels"),
        (np.ones(5), np.ones((3, 3)), {}, "shape"),
        (np.ones((5, 5)), np.ones((3, 3)), {"stride": 0}, "stride must be >= 1, got 0"),
        (np.ones((5, 5)), np.ones((3, 3)), {"dilation": 0}, "dilation"),
        (np.ones((4, 4)), np.ones((5, 5)), {}, "kernel .5. is larger than the padded input"),
        (np.ones((4, 4)), np.ones((3, 3)), {"edge": "valid", "padding": 1}, "padding must be 0"),
        (np.ones((4, 4)), np.ones((3, 3)), {"edge": "reflect", "padding": 4}, "smaller than"),
        (np.ones((4, 4)), np.ones((3, 3)), {"edge": "wrap"}, "edge must be one of"),
        (np.ones((4, 4)), np.ones((3, 3)), {"mode": "rgb"}, "mode must be one of"),
        (np.ones((4, 4)), np.ones((3, 3)), {"padding": "half"}, "padding mode"),
        (np.full((4, 4), np.nan), np.ones((3, 3)), {}, "NaN"),
    ],
)
def test_bad_input_is_a_sentence(image, kernel, options, match):
    with pytest.raises(ValueError, match=match) as error:
        apply_kernel(image, kernel, **options)
    assert "[" not in str(error.value).split(":")[0]  # no MLX "[conv] ..." internals


def test_kernel_larger_than_padded_image_uses_arithmetics_sentence():
    with pytest.raises(ValueError) as error:
        apply_kernel(np.ones((4, 9)), np.ones((5, 3)))
    with pytest.raises(ValueError) as arithmetic_error:
        conv_output_size(4, 5)
    assert str(error.value) == f"image height: {arithmetic_error.value}"


def test_valid_edges_do_not_advise_padding():
    with pytest.raises(ValueError) as short:
        apply_kernel(np.ones((1, 5)), np.ones((3, 3)), edge="valid")
    assert str(short.value) == (
        "image height: the kernel (3) is larger than the 1-pixel image height, and 'valid' "
        "edges add no padding: use a smaller kernel or dilation, or another edge mode"
    )
    with pytest.raises(ValueError) as dilated:
        apply_kernel(np.ones((9, 4)), np.ones((3, 3)), edge="valid", dilation=2)
    assert str(dilated.value) == (
        "image width: the dilated kernel (2*(3 - 1) + 1 = 5) is larger than the 4-pixel image "
        "width, and 'valid' edges add no padding: use a smaller kernel or dilation, or another "
        "edge mode"
    )
    # The advice works: zero edges with padding 1 fit the 3x3 kernel on the 1-pixel height.
    assert apply_kernel(np.ones((1, 5)), np.ones((3, 3)), padding=1).shape == (1, 5)


def test_type_errors_and_pixel_limit():
    with pytest.raises(TypeError, match="stride"):
        apply_kernel(np.ones((5, 5)), np.ones((3, 3)), stride="2")
    with pytest.raises(TypeError, match="numbers"):
        apply_kernel(np.array([["a"]]), np.ones((1, 1)))
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(ValueError, match="megapixels"):
        apply_kernel(np.zeros((side, side), np.uint8), np.ones((3, 3)))
