"""The number-grid lab: a small grid of numbers, one operation, every output explained.

A learner types (or pastes from a spreadsheet) an input grid of at most 16x16 numbers and a
kernel of at most 7x7, picks an operation and its settings, and gets the output grid; then
pins any output cell to see which input cells made it, and how. The operations:

- "convolution": cross-correlation as in every CNN (convolve.apply_kernel, in MLX), with
  stride, padding, edge mode and dilation; the pinned step is explain.step_at's;
- "max pooling" / "average pooling": a window (at most 7) sliding with the stride over the
  grid padded by `padding` cells (pooling.pool, in MLX); max pads with -inf so padding
  never wins, average pads with 0 and divides by the whole window;
- "transposed convolution": every input value stamps value * kernel onto a larger output
  (transposed.conv_transpose, in MLX), with stride, padding, output padding and dilation.

Sizes always come from `arithmetic`. Every grid is shown as the kernel sees it: the input
with its padding cells around it (`Lab.shown`, `Lab.is_padding`), so the window drawn over
it (grid_steps.Pinned.cells) may cover padding, and the app shows those cells differently.
One output cell explained (the pinned one, or a frame of the sweep) is in `grid_steps`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels_playground.arithmetic import pool_output_formula
from kernels_playground.convolve import apply_kernel, conv_geometry, padded_planes
from kernels_playground.kernels import validate_kernel
from kernels_playground.lessons import size_sums
from kernels_playground.number_grids import read_grid
from kernels_playground.pooling import pool
from kernels_playground.spec import ConvSpec
from kernels_playground.transposed import Transposed, conv_transpose, size_lines
from menny_base.errors import MennyError
from menny_base.images import LUMA_BT601, load_rgb
from menny_base.numbers import whole

MAX_GRID_SIDE = 16
MAX_LAB_KERNEL = 7
# float32 holds every whole number up to 2**24 = 16,777,216 exactly, so numbers up to a
# million keep their digits, and a sum of 49 products (with weights up to a million) stays
# far below float32's 3.4e38.
MAX_GRID_VALUE = 1e6
LIMIT_TEXT = f"numbers must be between -{MAX_GRID_VALUE:,.0f} and {MAX_GRID_VALUE:,.0f}"
OPERATIONS = ("convolution", "max pooling", "average pooling", "transposed convolution")
MAX_STRIDE, MAX_PADDING, MAX_DILATION = 8, 8, 4


def parse_grid(grid: object) -> np.ndarray:
    """The learner's input grid (text, pasted spreadsheet cells, or rows; see number_grids)
    as float64 (H, W), 1x1 up to 16x16, every number finite and within +-MAX_GRID_VALUE."""
    values = np.asarray(read_grid(grid, "input grid", MAX_GRID_SIDE, LIMIT_TEXT))
    if values.dtype.kind not in "biuf":
        raise MennyError(f"the input grid must hold numbers, got {values.dtype}")
    values = values.astype(np.float64)
    if values.ndim != 2 or values.size == 0:
        raise MennyError(f"the input grid must be rows x columns of numbers, got {values.shape}")
    for test, what in (
        (~np.isfinite(values), "is not a finite number"),
        (np.abs(values) > MAX_GRID_VALUE, f"is too large: {LIMIT_TEXT}"),
    ):
        bad = np.argwhere(test)
        if len(bad):
            row, col = bad[0]
            raise MennyError(f"row {row + 1}, column {col + 1}: {values[row, col]:g} {what}")
    return values


def parse_lab_kernel(grid: object) -> np.ndarray:
    """The lab's kernel, at most 7x7: float32 (KH, KW), read like the input grid."""
    too_large = "kernel weights must be between -1,000,000 and 1,000,000"
    return validate_kernel(read_grid(grid, "kernel", MAX_LAB_KERNEL, too_large))


def grid_text(values: object) -> str:
    """A grid as the lab's text box shows it: one row per line, numbers apart by two spaces."""
    return "\n".join("  ".join(f"{value:g}" for value in row) for row in np.asarray(values))


def picture_grid(picture: object, side: int = MAX_GRID_SIDE) -> np.ndarray:
    """A picture as a grid of grey levels 0..255 (whole numbers), its longer side shrunk to
    `side` cells (Lanczos, aspect kept): what a CNN's first layer sees, small enough to
    follow by hand. picture: anything images.load_rgb reads (a path, bytes, an array).
    Grey is the BT.601 luminance 0.299 R + 0.587 G + 0.114 B, as the playground uses."""
    side = whole(side, "grid side", 1, MAX_GRID_SIDE)
    rgb = load_rgb(picture, max_side=side)
    return np.rint(rgb.astype(np.float32) @ LUMA_BT601).astype(np.float64)


@dataclass(frozen=True)
class Settings:
    """What the lab does: `operation` (one of OPERATIONS) and its numbers. `window` is the
    pooling window; `edge` and `dilation` apply to convolution; `output_padding` to the
    transposed one; stride and padding to all."""

    operation: str = "convolution"
    stride: int = 1
    padding: int = 0
    edge: str = "zero"
    dilation: int = 1
    output_padding: int = 0
    window: int = 2

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise MennyError(
                f"operation must be one of {', '.join(OPERATIONS)}, got {self.operation!r}"
            )
        set_field = object.__setattr__  # frozen: the checked values replace the given ones
        set_field(self, "stride", whole(self.stride, "stride", 1, MAX_STRIDE))
        set_field(self, "padding", whole(self.padding, "padding", 0, MAX_PADDING))
        set_field(self, "dilation", whole(self.dilation, "dilation", 1, MAX_DILATION))
        set_field(self, "output_padding", whole(self.output_padding, "output padding", 0, 7))
        set_field(self, "window", whole(self.window, "pool window", 1, MAX_LAB_KERNEL))


@dataclass(frozen=True)
class Lab:
    """One run of the lab. grid: the input (H, W); kernel: float32 (KH, KW) (pooling: a
    window of ones); output: float32 (H', W'); shown: the input as the operation sees it,
    padding included (max pooling's padding is -inf); is_padding: True on padding cells;
    origin: where input (0, 0) sits in `shown`; sizes: the size arithmetic, markdown."""

    settings: Settings
    grid: np.ndarray
    kernel: np.ndarray
    output: np.ndarray
    shown: np.ndarray
    is_padding: np.ndarray
    origin: tuple[int, int]
    sizes: str

    @property
    def positions(self) -> int:
        """How many output cells there are (the animation's frames, one per cell)."""
        return int(self.output.size)


def run_lab(grid: object, kernel: object, settings: Settings) -> Lab:
    """Parse the grids, compute the output with the operation's core, and lay out the input
    as the operation sees it."""
    values = parse_grid(grid)
    operation, height, width = settings.operation, *values.shape
    if operation == "convolution":
        spec = conv_spec(parse_lab_kernel(kernel), settings)
        geometry = conv_geometry((height, width), spec, ("grid height", "grid width"))
        output = apply_kernel(values.astype(np.float32), spec)
        top, _, left, _ = geometry.pad
        shown = np.array(padded_planes(values[:, :, None], "luminance", geometry, spec.edge))
        return _lab(
            settings,
            values,
            spec.kernel,
            output,
            shown[:, :, 0],
            (top, left),
            size_sums((height, width), spec),
        )
    if operation == "transposed convolution":
        weights = parse_lab_kernel(kernel)
        t = transposed_of(settings)
        sizes = size_lines((height, width), weights.shape, t)  # refuses what MLX sizes otherwise
        output = conv_transpose(values, weights, t)
        return _lab(settings, values, weights, output, values, (0, 0), sizes)
    kind = "max" if operation == "max pooling" else "avg"
    window, stride, padding = settings.window, settings.stride, settings.padding
    lines = [f"**{window}x{window} {operation}, stride {stride}** (I - K + 2P) / S + 1:"]
    for axis, size in (("height", height), ("width", width)):
        lines.append(f"- {axis}: `{_pool_formula(axis, size, window, stride, padding)}`")
    output = pool(values, kind, window, stride, padding)
    fill = -np.inf if kind == "max" else 0.0
    shown = np.pad(values, padding, constant_values=fill)
    return _lab(
        settings,
        values,
        np.ones((window, window), np.float32),
        output,
        shown,
        (padding, padding),
        "\n".join(lines),
    )


def _lab(settings, values, kernel, output, shown, origin, sizes) -> Lab:
    is_padding = np.ones(shown.shape, bool)
    top, left = origin
    is_padding[top : top + values.shape[0], left : left + values.shape[1]] = False
    return Lab(settings, values, kernel, output, shown, is_padding, origin, sizes)


def conv_spec(kernel: np.ndarray, settings: Settings) -> ConvSpec:
    padding = settings.padding
    if settings.edge == "valid" and padding:
        raise MennyError(f"edge 'valid' means no padding, so padding must be 0, got {padding}")
    return ConvSpec(kernel, settings.stride, padding, settings.edge, settings.dilation)


def transposed_of(settings: Settings) -> Transposed:
    return Transposed(settings.stride, settings.padding, settings.output_padding, settings.dilation)


def _pool_formula(axis: str, size: int, window: int, stride: int, padding: int) -> str:
    try:
        return pool_output_formula(size, window, stride, padding)
    except MennyError as error:
        raise MennyError(f"grid {axis}: {error}") from None
