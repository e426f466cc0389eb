"""Transposed convolution and the upsamplings beside it: nearest, bilinear, pixel shuffle.

A transposed convolution makes a map LARGER. Read it as stamping: every input value x at
(i, j) adds x * kernel onto the output, the kernel's tap (u, v) landing on
    (i*S + u*D - P, j*S + v*D - P)
with stride S, dilation D and padding P. Where stamps overlap they add up; where none
lands (a stride larger than the kernel) the output is 0. Padding here CROPS P cells off
each side of the stamped area, and output padding adds OP cells at the bottom and right,
so the size is arithmetic.transposed_conv_output_size:
    O = (I - 1)*S - 2P + D*(K - 1) + OP + 1.
That is the size change a convolution with the same K, S, P, D undoes, which is why
decoders and U-Nets use it to go back up. It is also exactly the gradient of that
convolution with respect to its input, so the kernel is not flipped.

Computed in MLX as the stamping reads: one strided `.at[].add` per kernel tap. The tests
check every value and size against MLX's own mx.conv_transpose2d. Where MLX and the
formula disagree (padding > D*(K - 1), e.g. I=31, K=3, S=4, P=3, OP=1: MLX 115, formula 118)
arithmetic refuses the settings with a sentence instead of showing a size that is wrong.

Upsampling without weights, for comparison (all by an integer factor r):
- nearest: every value becomes an r x r block of itself;
- bilinear: values in between are linear blends of the 4 nearest inputs (MLX's
  nn.Upsample with align_corners=False, as PyTorch's default);
- pixel shuffle (sub-pixel convolution): r*r channels of an (H, W) map are laid out as
  r x r blocks of an (H*r, W*r) one; here the channels are made by a 1x1 convolution
  whose r*r weights are the kernel's top-left r x r taps, so with an r x r kernel, stride r
  and no padding it gives exactly the transposed convolution (a stamp with no overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from kernels_playground.arithmetic import (
    transposed_conv_output_formula,
    transposed_conv_output_size,
)
from menny_base.errors import MennyError
from menny_base.numbers import whole


@dataclass(frozen=True)
class Transposed:
    """Settings of a transposed convolution (the same along rows and columns)."""

    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    dilation: int = 1


def output_size(size_hw: tuple[int, int], kernel_hw: tuple[int, int], t: Transposed):
    """The (rows, cols) of the output, per axis from arithmetic.transposed_conv_output_size
    (which refuses padding > D*(K - 1), where MLX's size differs from the formula)."""
    return tuple(
        _named(axis, transposed_conv_output_size, size, k, *_args(t))
        for axis, size, k in zip(("height", "width"), size_hw, kernel_hw, strict=True)
    )


def size_lines(size_hw: tuple[int, int], kernel_hw: tuple[int, int], t: Transposed) -> str:
    """The size formula (I - 1)*S - 2P + D*(K - 1) + OP + 1 for rows and columns, in the
    learner's numbers, as markdown."""
    lines = ["**Transposed convolution output size** (I - 1)*S - 2P + D*(K - 1) + OP + 1:"]
    for axis, size, k in zip(("height", "width"), size_hw, kernel_hw, strict=True):
        formula = _named(axis, transposed_conv_output_formula, size, k, *_args(t))
        lines.append(f"- {axis}: `{formula}`")
    return "\n".join(lines)


def _args(t: Transposed) -> tuple[int, int, int, int]:
    return t.stride, t.padding, t.output_padding, t.dilation


def _named(axis: str, function, *args):
    try:
        return function(*args)
    except MennyError as error:
        raise MennyError(f"{axis}: {error}") from None


def conv_transpose(grid: np.ndarray, kernel: np.ndarray, t: Transposed) -> np.ndarray:
    """The transposed convolution of an (H, W) grid with a (KH, KW) kernel: float32
    (H', W'), sizes from `output_size`. Each input value stamps value * kernel (see the
    module docstring); computed in MLX, one strided add per kernel tap."""
    x = mx.array(np.asarray(grid, np.float32))
    weights = np.asarray(kernel, np.float32)
    (height, width), (kh, kw) = x.shape, weights.shape
    rows, cols = output_size((height, width), (kh, kw), t)
    s, d, p, op = t.stride, t.dilation, t.padding, t.output_padding
    # The whole stamped area, plus the output padding's cells past it (zeros unless stamped).
    full_h, full_w = (height - 1) * s + d * (kh - 1) + 1, (width - 1) * s + d * (kw - 1) + 1
    out = mx.zeros((full_h + op, full_w + op), mx.float32)
    for u in range(kh):
        for v in range(kw):
            row_taps = slice(u * d, u * d + (height - 1) * s + 1, s)
            col_taps = slice(v * d, v * d + (width - 1) * s + 1, s)
            out = out.at[row_taps, col_taps].add(x * float(weights[u, v]))
    out = out[p : p + rows, p : p + cols]
    mx.eval(out)
    return np.array(out, dtype=np.float32)


@dataclass(frozen=True)
class Stamp:
    """One term of a transposed-convolution output: input (i, j) times kernel tap (u, v)."""

    i: int
    j: int
    u: int
    v: int
    x: float
    k: float


def stamps_at(size_hw, kernel: np.ndarray, t: Transposed, row: int, col: int) -> list[Stamp]:
    """Every input value and kernel tap that lands on output (row, col): the (i, j, u, v)
    with i*S + u*D - P = row and j*S + v*D - P = col. `size_hw` is the input grid itself
    (its values fill Stamp.x) or only its (H, W), then x is 0. Empty where no stamp lands."""
    values = np.asarray(size_hw, np.float64) if not isinstance(size_hw, tuple) else None
    height, width = values.shape if values is not None else size_hw
    rows = _sources(row + t.padding, height, kernel.shape[0], t)
    cols = _sources(col + t.padding, width, kernel.shape[1], t)
    stamps = [
        Stamp(i, j, u, v, 0.0 if values is None else float(values[i, j]), float(kernel[u, v]))
        for i, u in rows
        for j, v in cols
    ]
    return sorted(stamps, key=lambda s: (s.i, s.j))  # the inputs in reading order


def _sources(position: int, size: int, taps: int, t: Transposed) -> list[tuple[int, int]]:
    """The (input index, tap) pairs along one axis whose stamp reaches `position`
    (counted on the uncropped stamped area)."""
    found = []
    for tap in range(taps):
        offset = position - tap * t.dilation
        if offset >= 0 and offset % t.stride == 0 and offset // t.stride < size:
            found.append((offset // t.stride, tap))
    return found


def upsample(grid: np.ndarray, factor: int, mode: str) -> np.ndarray:
    """An (H, W) grid made `factor` times larger per side with MLX's nn.Upsample:
    mode "nearest" (blocks) or "linear" (bilinear, align_corners=False). float32."""
    factor = whole(factor, "upsampling factor", 1, 8)
    if mode not in ("nearest", "linear"):
        raise MennyError(f"upsampling must be 'nearest' or 'linear', got {mode!r}")
    layer = nn.Upsample(scale_factor=factor, mode=mode, align_corners=False)
    x = mx.array(np.asarray(grid, np.float32))[None, :, :, None]  # NHWC
    return np.array(layer(x)[0, :, :, 0], dtype=np.float32)


def pixel_shuffle(channels: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, r*r) channels laid out as r x r blocks: float32 (H*r, W*r), where output
    (i*r + a, j*r + b) is channel a*r + b at (i, j). In MLX: reshape, transpose, reshape."""
    r = whole(factor, "pixel shuffle factor", 1, 8)
    x = mx.array(np.asarray(channels, np.float32))
    height, width, depth = x.shape
    if depth != r * r:
        raise MennyError(f"pixel shuffle by {r} needs {r * r} channels, got {depth}")
    blocks = x.reshape(height, width, r, r).transpose(0, 2, 1, 3)
    return np.array(blocks.reshape(height * r, width * r), dtype=np.float32)


def shuffle_channels(grid: np.ndarray, kernel: np.ndarray, factor: int) -> np.ndarray:
    """The r*r channels pixel shuffle lays out: a 1x1 convolution of the (H, W) grid whose
    weights are the kernel's top-left r x r taps (0 where the kernel is smaller).
    float32 (H, W, r*r), channel a*r + b = grid * kernel[a, b]."""
    r = whole(factor, "pixel shuffle factor", 1, 8)
    taps = np.zeros((r, r), np.float32)
    k = np.asarray(kernel, np.float32)[:r, :r]
    taps[: k.shape[0], : k.shape[1]] = k
    x = mx.array(np.asarray(grid, np.float32))[:, :, None]
    return np.array(x * mx.array(taps.reshape(1, 1, r * r)), dtype=np.float32)
