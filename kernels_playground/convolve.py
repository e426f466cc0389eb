"""Apply a kernel to an image, in MLX (pooling is in `pooling`).

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

How it is computed, in MLX: as a sum of shifted copies of the padded image, one strided
slice per kernel tap, fused by mx.compile (see `_correlate`). The tests check every value
against mx.conv_general / nn.Conv2d and scipy. On a 2-core CPU it beat MLX's own convolution,
which has a single output channel to compute here, 1.5-4x for 3x3 kernels and 6-10x for 5x5
to 15x15 ones (bench/playground_speed.py); so mx.conv_general is the oracle, not the engine.
The fused kernels are built once per machine (a few seconds; `warm_up` does it up front).
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from kernels_playground.arithmetic import (
    WindowTooLarge,
    conv_output_size,
    resolve_padding,
)
from kernels_playground.spec import MODES, ConvSpec
from menny_base import fast_ops
from menny_base.errors import MennyError, WrongType
from menny_base.images import LUMA_BT601

# 2048 x 2048: the playground recomputes on every slider move, so images are capped well
# below images.MAX_PIXELS (use images.fit_within first); a 4-megapixel grey image is
# 16 MB as float32.
MAX_PIXELS = 2048 * 2048


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
    spec: ConvSpec,
    axes: tuple[str, str] = ("image height", "image width"),
) -> ConvGeometry:
    """Work out padding and output size of `spec` over an (H, W) image with `arithmetic`,
    and check what needs the image: padding that fits, an output that exists. `axes` name
    the two axes in the sentences (the grid lab says "grid height")."""
    stride, dilation, padding, edge = spec.stride, spec.dilation, spec.padding, spec.edge
    height, width = image_size
    kh, kw = spec.kernel.shape
    top, bottom = resolve_padding(padding, kh, dilation)
    left, right = resolve_padding(padding, kw, dilation)
    if edge == "valid" and (top, bottom, left, right) != (0, 0, 0, 0):
        raise MennyError(
            f"edge 'valid' means no padding, so padding must be 0 or 'valid', got {padding!r}"
        )
    if edge == "reflect" and (max(top, bottom) >= height or max(left, right) >= width):
        raise MennyError(
            f"edge 'reflect' mirrors the image without its border pixel, so the padding must "
            f"be smaller than the image ({height}x{width}), got {max(top, bottom, left, right)}: "
            "use less padding or edge 'replicate'"
        )
    padded = (height + top + bottom) * (width + left + right)
    if padded > 2 * MAX_PIXELS:
        raise MennyError(
            f"padding makes the image {height + top + bottom}x{width + left + right} = "
            f"{padded / 1e6:.3g} megapixels; the limit is {2 * MAX_PIXELS / 1e6:.3g}: "
            "use less padding"
        )
    can_pad = edge != "valid"
    rows = size_on_axis(
        conv_output_size,
        axes[0],
        height,
        kh,
        stride,
        (top, bottom),
        dilation,
        padded=can_pad,
    )
    cols = size_on_axis(
        conv_output_size, axes[1], width, kw, stride, (left, right), dilation, padded=can_pad
    )
    return ConvGeometry((kh, kw), stride, dilation, (top, bottom, left, right), (rows, cols))


def size_on_axis(size_function, axis: str, *args, padded: bool = True) -> int:
    """size_function(*args), with the axis ("image height", "feature map width") named in
    its error. padded=False (edge 'valid') drops the advice to pad, since nothing can be."""
    try:
        return size_function(*args)
    except WindowTooLarge as error:
        if padded:
            raise MennyError(f"{axis}: {error}") from None
        raise MennyError(
            f"{axis}: the {error.shown} is larger than the {error.size}-pixel {axis}, and "
            "'valid' edges add no padding: use a smaller kernel or dilation, or another edge mode"
        ) from None


def check_image(image: object) -> np.ndarray:
    """The image as a numpy (H, W, C) array, C <= 4, numbers only (floats as float32, finite)."""
    array = np.asarray(image)
    if array.dtype.kind not in "buif":
        raise WrongType(f"image must hold numbers, got dtype {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4 or 0 in array.shape:
        raise MennyError(
            f"image must be (H, W) grey or (H, W, C) with 1 to 4 channels, got shape {array.shape}"
        )
    height, width = array.shape[:2]
    if height * width > MAX_PIXELS:
        raise MennyError(
            f"image is {width}x{height} = {height * width / 1e6:.3g} megapixels; the playground "
            f"limit is {MAX_PIXELS / 1e6:.3g} megapixels (shrink it with images.fit_within)"
        )
    if array.dtype.kind == "f":
        array = array.astype(np.float32, copy=False)
        if not np.isfinite(array).all():
            raise MennyError("image contains NaN or infinite values")
    return array


def padded_planes(image: np.ndarray, mode: str, geometry: ConvGeometry, edge: str) -> mx.array:
    """What the kernel slides over, in MLX: float32 (H + top + bottom, W + left + right, C).

    C = 1 for luminance, every channel for per_channel. `image` comes from check_image.
    For zero padding the grey values are written straight into the middle of a zeroed
    buffer (one pass, no separate padding copy); replicate/reflect pad with numpy.
    """
    if mode not in MODES:
        raise MennyError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    top, bottom, left, right = geometry.pad
    height, width, channels = image.shape
    planes = channels if mode == "per_channel" else 1
    if edge in ("zero", "valid"):
        buffer = np.zeros((height + top + bottom, width + left + right, planes), np.float32)
        inner = buffer[top : top + height, left : left + width]
    else:
        buffer = inner = np.empty((height, width, planes), np.float32)
    if mode == "luminance" and channels >= 3:  # alpha, if any, is ignored
        np.matmul(image[:, :, :3].astype(np.float32, copy=False), LUMA_BT601, out=inner[:, :, 0])
    else:
        inner[...] = image[:, :, :planes]  # grey (+ alpha): the grey channel
    if edge in ("replicate", "reflect") and any(geometry.pad):
        buffer = np.pad(
            inner,
            [(top, bottom), (left, right), (0, 0)],
            mode={"replicate": "edge"}.get(edge, edge),
        )
    return mx.array(buffer)


def _weighted_sum(weights: mx.array, *taps: mx.array) -> mx.array:
    total = taps[0] * weights[0]
    for index in range(1, len(taps)):
        total = total + taps[index] * weights[index]
    return total


def _accumulate(total: mx.array, weights: mx.array, *taps: mx.array) -> mx.array:
    return total + _weighted_sum(weights, *taps)


# Taps are summed in fused chunks of 9 (one pass over memory per chunk instead of two per
# tap). mx.compile on a CPU builds C++ once per graph; "shapeless" and a fixed chunk size
# make that two graphs in all, reused for every image size, kernel size, stride, padding
# and dilation. Without a C++ compiler MLX runs the same graphs unfused.
_CHUNK = 9
_fused_sum = mx.compile(_weighted_sum, shapeless=True)
_fused_accumulate = mx.compile(_accumulate, shapeless=True)


def _sum_of_taps(weights: np.ndarray, taps: list[mx.array]) -> mx.array:
    """sum(weights[i] * taps[i]), the tap list padded to whole chunks with zero weights."""
    filler = -len(taps) % _CHUNK
    taps = taps + [taps[0]] * filler
    chunks = mx.array(np.concatenate([weights, np.zeros(filler, np.float32)]))
    total = _fused_sum(chunks[:_CHUNK], *taps[:_CHUNK])
    for start in range(_CHUNK, len(taps), _CHUNK):
        end = start + _CHUNK
        total = _fused_accumulate(total, chunks[start:end], *taps[start:end])
    return total


def _correlate(padded: mx.array, kernel: np.ndarray, geometry: ConvGeometry) -> mx.array:
    """Cross-correlation as a weighted sum of shifted copies of the padded image.

    Tap (u, v) of the kernel meets, at every output (i, j), the padded pixel
    (i*S + u*D, j*S + v*D): one strided slice of the padded image per tap, so
    output = sum over taps of kernel[u, v] * slice(u, v). This is the same sum nn.Conv2d
    computes (the tests compare the two), but on a CPU it beats MLX's GEMM convolution,
    which has only one output channel to multiply here (see bench/playground_speed.py).
    With stride 1 and Menny's CPU primitives built, `fast_ops.correlate` computes the same
    sum, tap by tap in the same order, on contiguous rows and all cores.
    Returns (H', W', C) float32, evaluated.
    """
    (kh, kw), (rows, cols) = geometry.kernel, geometry.output
    s, d = geometry.stride, geometry.dilation
    if s == 1:  # Menny's compiled correlation, where it was built (menny_base.fast_ops)
        out = fast_ops.correlate(padded, mx.array(kernel, dtype=mx.float32), d)
        if out is not None:
            mx.eval(out)
            if tuple(out.shape[:2]) != geometry.output:
                raise RuntimeError(f"gave {out.shape[:2]}, arithmetic says {geometry.output}")
            return out
    taps = [
        padded[u * d : u * d + (rows - 1) * s + 1 : s, v * d : v * d + (cols - 1) * s + 1 : s]
        for u in range(kh)
        for v in range(kw)
    ]
    out = _sum_of_taps(kernel.ravel(), taps)
    mx.eval(out)
    if tuple(out.shape[:2]) != geometry.output:
        raise RuntimeError(f"MLX gave {out.shape[:2]}, arithmetic says {geometry.output}")
    return out


def apply_kernel(image: object, kernel: ConvSpec | object, *settings, **options) -> np.ndarray:
    """The feature map of a kernel over `image`: float32 (H', W') for luminance, (H', W', C)
    per channel. kernel: a ConvSpec, or a kernel and the ConvSpec's other fields (stride,
    padding, edge, dilation, mode, flip) in that order or by name. H' and W' are
    `arithmetic.conv_output_size` of each axis with the spec's padding.
    """
    spec = ConvSpec.of(kernel, *settings, **options)
    array = check_image(image)
    geometry = conv_geometry(array.shape[:2], spec)
    padded = padded_planes(array, spec.mode, geometry, spec.edge)
    return _to_map(_correlate(padded, spec.weights, geometry), spec.mode)


def _to_map(out: mx.array, mode: str) -> np.ndarray:
    """(H', W', C) MLX -> numpy (H', W') for luminance, (H', W', C) per channel."""
    result = np.array(out, dtype=np.float32)
    return result[:, :, 0] if mode == "luminance" else result


def warm_up() -> None:
    """Build the fused MLX kernels now (about 2-4 s once per machine; MLX keeps them in the
    temp directory), so a learner's first click does not wait. Safe to run in a thread."""
    image = np.zeros((16, 16, 3), np.uint8)
    for kernel in (np.ones((3, 3)), np.ones((5, 5))):  # one chunk of taps; several chunks
        for mode in MODES:
            for stride in (1, 2):  # strided per-channel slices are a separate MLX kernel
                apply_kernel(image, kernel, stride=stride, padding="same", mode=mode)


def relu(feature_map: np.ndarray) -> np.ndarray:
    """max(0, x), element-wise: what a CNN does right after a convolution."""
    return np.maximum(np.asarray(feature_map, dtype=np.float32), 0.0)
