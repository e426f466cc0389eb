"""Max and average pooling of a feature map, in MLX.

A pooling layer has no weights: it keeps one number per window (the largest, or the
mean), so a 2x2 window with stride 2 halves each side of the map. Sizes come from
`arithmetic.pool_output_size`, the same formula the playground shows.

How it is computed: max and sum over a square window are separable, so the window is
combined along the width, then along the height, each as `window` strided slices; two
passes of k slices instead of one of k*k.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from kernels_playground.arithmetic import Padding, pool_output_size, resolve_padding
from kernels_playground.convolve import size_on_axis
from menny_base.errors import MennyError
from menny_base.numbers import whole


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
        raise MennyError(f"pool kind must be 'max' or 'avg', got {kind!r}")
    values = np.asarray(feature_map, dtype=np.float32)
    if values.ndim not in (2, 3) or 0 in values.shape:
        raise MennyError(f"feature map must be (H, W) or (H, W, C), got shape {values.shape}")
    planes = values[:, :, None] if values.ndim == 2 else values
    height, width = planes.shape[:2]
    size = whole(window, "pool window", 1)
    step = size if stride is None else whole(stride, "pool stride", 1)
    rows = size_on_axis(
        pool_output_size, "feature map height", height, size, step, padding, ceil_mode
    )
    cols = size_on_axis(
        pool_output_size, "feature map width", width, size, step, padding, ceil_mode
    )
    before, after = resolve_padding(padding, size)
    # Extra cells past the explicit padding that ceil_mode's last window reaches.
    extra_h = max(0, (rows - 1) * step + size - (height + before + after))
    extra_w = max(0, (cols - 1) * step + size - (width + before + after))
    fill = -np.inf if kind == "max" else 0.0
    x = mx.array(planes)
    if before or after or extra_h or extra_w:
        widths = [(before, after + extra_h), (before, after + extra_w), (0, 0)]
        x = mx.pad(x, widths, constant_values=fill)
    # Max and sum over a square window are separable: along the width, then the height.
    combine = mx.maximum if kind == "max" else mx.add
    x = _window_taps(x, 1, size, step, cols, combine)
    out = _window_taps(x, 0, size, step, rows, combine)
    if kind == "avg":
        counts = np.outer(
            _covered(rows, step, size, height + before + after),
            _covered(cols, step, size, width + before + after),
        ).astype(np.float32)
        out = out / mx.array(counts)[..., None]
    result = np.array(out, dtype=np.float32)
    return result[:, :, 0] if values.ndim == 2 else result


def _window_taps(x: mx.array, axis: int, size: int, step: int, count: int, combine) -> mx.array:
    """Combine the `size` strided slices along `axis` that make up `count` windows."""

    def tap(offset: int) -> mx.array:
        index = [slice(None)] * x.ndim
        index[axis] = slice(offset, offset + (count - 1) * step + 1, step)
        return x[tuple(index)]

    out = tap(0)
    for offset in range(1, size):
        out = combine(out, tap(offset))
    return out


def _covered(count: int, step: int, size: int, limit: int) -> np.ndarray:
    """How many cells of each window lie before `limit` (input + explicit padding)."""
    starts = np.arange(count) * step
    return np.minimum(starts + size, limit) - starts
