"""Apply a kernel to an image, and pool the result, in MLX.

What `apply_kernel` computes is CROSS-CORRELATION, like every CNN framework (MLX's
nn.Conv2d, PyTorch, TensorFlow): output[i, j] = sum over (u, v) of
    kernel[u, v] * padded[i*S + u*D, j*S + v*D]
with stride S and dilation D, the kernel NOT flipped. `flip=True` flips the kernel in both
axes first, which gives the convolution of signal processing (scipy.ndimage.convolve).

Images are (H, W) grey or (H, W, C) with C <= 4 channels, channels last (NHWC without the
batch). Values are used as given: uint8 becomes 0..255 float32 (not 0..1), floats stay
as they are, so a 3x3 Sobel on a uint8 photo gives values up to +-1020.
mode="luminance" first mixes RGB to grey with ITU-R BT.601 weights
(0.299 R + 0.587 G + 0.114 B; a 4th alpha channel is ignored, a 2-channel image uses its
grey channel); mode="per_channel" filters every channel on its own (depthwise).

Edges: "zero" pads with zeros, "replicate" repeats the border pixel, "reflect" mirrors
without repeating the border (numpy "reflect" = scipy "mirror"; the pad must be smaller
than the image), "valid" means no padding at all (then `padding` must be 0 or "valid").
Output sizes always come from `arithmetic.conv_output_size`, per axis, and are checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from kernels_playground.arithmetic import (
    Padding,
    conv_output_size,
    pool_output_size,
    resolve_padding,
    whole,
)
from kernels_playground.kernels import PRESETS, validate_kernel

# 2048 x 2048: the playground recomputes on every slider move, so images are capped well
# below images.MAX_PIXELS (use images.fit_within first); a 4-megapixel grey image is
# 16 MB as float32.
MAX_PIXELS = 2048 * 2048
EDGES = ("zero", "valid", "replicate", "reflect")
MODES = ("luminance", "per_channel")
LUMA_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class ConvGeometry:
    """Where a kernel goes: padding (top, bottom, left, right) and output (rows, cols)."""

    kernel: tuple[int, int]
    stride: int
    dilation: int
    pad: tuple[int, int, int, int]
    output: tuple[int, int]


def conv_geometry(
    image_size: tuple[int, int],
    kernel_shape: tuple[int, int],
    stride: int = 1,
    padding: Padding = 0,
    edge: str = "zero",
    dilation: int = 1,
) -> ConvGeometry:
    """Check the settings and work out padding and output size with `arithmetic`."""
    if edge not in EDGES:
        raise ValueError(f"edge must be one of {', '.join(EDGES)}, got {edge!r}")
    stride = whole(stride, "stride", 1)
    dilation = whole(dilation, "dilation", 1)
    height, width = image_size
    kh, kw = kernel_shape
    top, bottom = resolve_padding(padding, kh, dilation)
    left, right = resolve_padding(padding, kw, dilation)
    if edge == "valid" and (top, bottom, left, right) != (0, 0, 0, 0):
        raise ValueError(
            f"edge 'valid' means no padding, so padding must be 0 or 'valid', got {padding!r}"
        )
    if edge == "reflect" and (max(top, bottom) >= height or max(left, right) >= width):
        raise ValueError(
            f"edge 'reflect' mirrors the image without its border pixel, so the padding must "
            f"be smaller than the image ({height}x{width}), got {max(top, bottom, left, right)}: "
            "use less padding or edge 'replicate'"
        )
    padded = (height + top + bottom) * (width + left + right)
    if padded > 2 * MAX_PIXELS:
        raise ValueError(
            f"padding makes the image {height + top + bottom}x{width + left + right} = "
            f"{padded / 1e6:.3g} megapixels; the limit is {2 * MAX_PIXELS / 1e6:.3g}: "
            "use less padding"
        )
    rows = _axis(conv_output_size, "height", height, kh, stride, (top, bottom), dilation)
    cols = _axis(conv_output_size, "width", width, kw, stride, (left, right), dilation)
    return ConvGeometry((kh, kw), stride, dilation, (top, bottom, left, right), (rows, cols))


def _axis(size_function, axis: str, *args) -> int:
    try:
        return size_function(*args)
    except ValueError as error:
        if "larger than the padded input" not in str(error):
            raise
        raise ValueError(f"image {axis}: {error}") from None


def as_planes(image: object, mode: str = "luminance") -> np.ndarray:
    """The image as float32 (H, W, C): C = 1 for luminance, every channel for per_channel."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    array = np.asarray(image)
    if array.dtype.kind not in "buif":
        raise TypeError(f"image must hold numbers, got dtype {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4 or 0 in array.shape:
        raise ValueError(
            f"image must be (H, W) grey or (H, W, C) with 1 to 4 channels, got shape {array.shape}"
        )
    height, width, channels = array.shape
    if height * width > MAX_PIXELS:
        raise ValueError(
            f"image is {width}x{height} = {height * width / 1e6:.3g} megapixels; the playground "
            f"limit is {MAX_PIXELS / 1e6:.3g} megapixels (shrink it with images.fit_within)"
        )
    planes = array.astype(np.float32, copy=False)
    if not np.isfinite(planes).all():
        raise ValueError("image contains NaN or infinite values")
    if mode == "per_channel" or channels == 1:
        return planes
    if channels == 2:
        return planes[:, :, :1]
    return (planes[:, :, :3] @ LUMA_BT601)[:, :, None]


def pad_planes(planes: np.ndarray, geometry: ConvGeometry, edge: str) -> mx.array:
    """(H, W, C) planes padded as the edge mode says, as an MLX array (H+pads, W+pads, C)."""
    top, bottom, left, right = geometry.pad
    widths = [(top, bottom), (left, right), (0, 0)]
    pad_mode = {"zero": "constant", "valid": "constant", "replicate": "edge", "reflect": "reflect"}
    return mx.pad(mx.array(planes), widths, mode=pad_mode[edge])


def _correlate(planes, kernels, geometry: ConvGeometry, edge: str) -> mx.array:
    """All kernels (O, kh, kw) on every plane: (C, H', W', O), channels in the batch axis."""
    top, bottom, left, right = geometry.pad
    if edge == "zero":  # the convolution pads with zeros itself, without a copy
        x = mx.array(np.ascontiguousarray(np.moveaxis(planes, 2, 0)))[..., None]
        padding = ([top, left], [bottom, right])
    else:
        x = mx.moveaxis(pad_planes(planes, geometry, edge), 2, 0)[..., None]
        padding = 0
    weights = mx.array(kernels)[..., None]
    try:
        out = mx.conv_general(
            x, weights, stride=geometry.stride, padding=padding, kernel_dilation=geometry.dilation
        )
        mx.eval(out)
    except (ValueError, RuntimeError) as error:  # not expected after the checks above
        raise ValueError(f"the convolution failed for these settings ({geometry})") from error
    if tuple(out.shape[1:3]) != geometry.output:
        raise RuntimeError(f"MLX gave {out.shape[1:3]}, arithmetic says {geometry.output}")
    return out


def apply_kernel(
    image: object,
    kernel: object,
    stride: int = 1,
    padding: Padding = 0,
    edge: str = "zero",
    dilation: int = 1,
    mode: str = "luminance",
    flip: bool = False,
) -> np.ndarray:
    """The feature map of `kernel` over `image`: float32 (H', W') or (H', W', C) per channel.

    padding: an int (every side), a (before, after) pair (top=left=before,
    bottom=right=after), or "valid" / "same" / "full" (see arithmetic.resolve_padding).
    H' and W' are `arithmetic.conv_output_size` of each axis with that padding.
    """
    weights = validate_kernel(kernel)
    if flip:
        weights = np.ascontiguousarray(weights[::-1, ::-1])
    planes = as_planes(image, mode)
    geometry = conv_geometry(planes.shape[:2], weights.shape, stride, padding, edge, dilation)
    return _to_map(_correlate(planes, weights[None], geometry, edge)[..., 0], mode)


def _to_map(out: mx.array, mode: str) -> np.ndarray:
    """(C, H', W') from the batch axis back to (H', W') or channels-last (H', W', C)."""
    result = np.array(out, dtype=np.float32)
    return result[0] if mode == "luminance" else np.ascontiguousarray(np.moveaxis(result, 0, 2))


def edge_magnitude(
    image: object,
    gx_kernel: object = PRESETS["Sobel x"],
    gy_kernel: object = PRESETS["Sobel y"],
    stride: int = 1,
    padding: Padding = 0,
    edge: str = "zero",
    dilation: int = 1,
    mode: str = "luminance",
    flip: bool = False,
) -> np.ndarray:
    """Gradient strength sqrt(Gx^2 + Gy^2): both kernels in one MLX convolution (2 outputs)."""
    gx, gy = validate_kernel(gx_kernel), validate_kernel(gy_kernel)
    if gx.shape != gy.shape:
        raise ValueError(
            f"gx and gy kernels must have the same shape, got {gx.shape} and {gy.shape}"
        )
    kernels = np.stack([gx, gy])
    if flip:
        kernels = np.ascontiguousarray(kernels[:, ::-1, ::-1])
    planes = as_planes(image, mode)
    geometry = conv_geometry(planes.shape[:2], gx.shape, stride, padding, edge, dilation)
    both = _correlate(planes, kernels, geometry, edge)
    return _to_map(mx.sqrt(mx.sum(both * both, axis=-1)), mode)


def relu(feature_map: np.ndarray) -> np.ndarray:
    """max(0, x), element-wise: what a CNN does right after a convolution."""
    return np.maximum(np.asarray(feature_map, dtype=np.float32), 0.0)


def pool(
    feature_map: np.ndarray,
    kind: str = "max",
    window: int = 2,
    stride: int | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Max or average pooling of an (H, W) or (H, W, C) map; stride defaults to the window.

    Output sizes are `arithmetic.pool_output_size` per axis. Max pooling pads with -inf, so
    padding never wins. Average pooling divides by the part of the window that lies on the
    input plus its explicit padding: zero padding counts (like MLX's nn.AvgPool2d and
    PyTorch's count_include_pad=True), the extra cells ceil_mode adds past the padding do
    not (as PyTorch). ceil_mode keeps a last, partial window at the right/bottom.
    """
    if kind not in ("max", "avg"):
        raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")
    values = np.asarray(feature_map, dtype=np.float32)
    if values.ndim not in (2, 3) or 0 in values.shape:
        raise ValueError(f"feature map must be (H, W) or (H, W, C), got shape {values.shape}")
    planes = values[:, :, None] if values.ndim == 2 else values
    height, width, channels = planes.shape
    size = whole(window, "pool window", 1)
    step = size if stride is None else whole(stride, "pool stride", 1)
    rows = _axis(pool_output_size, "height", height, size, step, padding, ceil_mode)
    cols = _axis(pool_output_size, "width", width, size, step, padding, ceil_mode)
    before, after = resolve_padding(padding, size)
    # Extra cells past the explicit padding that ceil_mode's last window reaches.
    extra_h = max(0, (rows - 1) * step + size - (height + before + after))
    extra_w = max(0, (cols - 1) * step + size - (width + before + after))
    fill = -np.inf if kind == "max" else 0.0
    x = mx.array(planes)
    if before or after or extra_h or extra_w:
        widths = [(before, after + extra_h), (before, after + extra_w), (0, 0)]
        x = mx.pad(x, widths, constant_values=fill)
    row_stride = x.shape[1] * channels
    windows = mx.as_strided(
        x,
        (rows, cols, size, size, channels),
        (step * row_stride, step * channels, row_stride, channels, 1),
    )
    if kind == "max":
        out = mx.max(windows, axis=(2, 3))
    else:
        counts = np.outer(
            _covered(rows, step, size, height + before + after),
            _covered(cols, step, size, width + before + after),
        ).astype(np.float32)
        out = mx.sum(windows, axis=(2, 3)) / mx.array(counts)[..., None]
    result = np.array(out, dtype=np.float32)
    return result[:, :, 0] if values.ndim == 2 else result


def _covered(count: int, step: int, size: int, limit: int) -> np.ndarray:
    """How many cells of each window lie before `limit` (input + explicit padding)."""
    starts = np.arange(count) * step
    return np.minimum(starts + size, limit) - starts
