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
it (`Pinned.cells`) may cover padding, and the app shows those cells differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels_playground.arithmetic import pool_output_formula
from kernels_playground.convolve import apply_kernel, conv_geometry, padded_planes
from kernels_playground.explain import markdown_table, short_number, step_at
from kernels_playground.kernels import validate_kernel
from kernels_playground.lessons import size_sums
from kernels_playground.number_grids import read_grid
from kernels_playground.pooling import pool
from kernels_playground.spec import ConvSpec
from kernels_playground.transposed import Transposed, conv_transpose, size_lines, stamps_at
from menny_base.errors import MennyError
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
        spec = _conv_spec(parse_lab_kernel(kernel), settings)
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
        t = _transposed(settings)
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


def _conv_spec(kernel: np.ndarray, settings: Settings) -> ConvSpec:
    padding = settings.padding
    if settings.edge == "valid" and padding:
        raise MennyError(f"edge 'valid' means no padding, so padding must be 0, got {padding}")
    return ConvSpec(kernel, settings.stride, padding, settings.edge, settings.dilation)


def _transposed(settings: Settings) -> Transposed:
    return Transposed(settings.stride, settings.padding, settings.output_padding, settings.dilation)


def _pool_formula(axis: str, size: int, window: int, stride: int, padding: int) -> str:
    try:
        return pool_output_formula(size, window, stride, padding)
    except MennyError as error:
        raise MennyError(f"grid {axis}: {error}") from None


@dataclass(frozen=True)
class Pinned:
    """One output cell explained. cells: the (row, col) cells of `Lab.shown` it reads
    (transposed: the input cells that stamp onto it); value: the output there;
    markdown: the products (or the max, or the mean) and the sum, in the learner's numbers."""

    row: int
    col: int
    cells: list[tuple[int, int]]
    value: float
    markdown: str


def position_of(lab: Lab, index: int) -> tuple[int, int]:
    """The output (row, col) of the index-th cell in reading order (row by row)."""
    index = whole(index, "output position", 0, lab.positions - 1)
    return divmod(index, lab.output.shape[1])


def pin(lab: Lab, row: int, col: int) -> Pinned:
    """Explain output (row, col): which cells of `lab.shown` it reads and the arithmetic."""
    rows, cols = lab.output.shape
    row = whole(row, "output row", 0, rows - 1)
    col = whole(col, "output column", 0, cols - 1)
    value = float(lab.output[row, col])
    operation = lab.settings.operation
    if operation == "convolution":
        spec = _conv_spec(lab.kernel, lab.settings)
        step = step_at(lab.grid.astype(np.float32), spec, row, col, feature_map=lab.output)
        w, (top, left) = step.window, lab.origin
        cells = [
            (top + w.top + u * w.dilation, left + w.left + v * w.dilation)
            for u in range(spec.kernel.shape[0])
            for v in range(spec.kernel.shape[1])
        ]
        return Pinned(row, col, cells, value, step.markdown())
    if operation == "transposed convolution":
        return _pin_transposed(lab, row, col, value)
    return _pin_pool(lab, row, col, value)


def _pin_pool(lab: Lab, row: int, col: int, value: float) -> Pinned:
    s, k = lab.settings.stride, lab.settings.window
    cells = [(row * s + u, col * s + v) for u in range(k) for v in range(k)]
    window = lab.shown[row * s : row * s + k, col * s : col * s + k]
    terms = ", ".join(cell_text(x) for x in window.ravel())
    if lab.settings.operation == "max pooling":
        total, text = float(window.max()), f"max({terms}) = {short_number(window.max())}"
    else:
        total = float(window.sum()) / window.size
        text = f"({terms.replace(', ', ' + ')}) / {window.size} = {short_number(total)}"
    if not np.isclose(total, value, rtol=1e-5, atol=1e-4):
        raise RuntimeError(
            f"the pooled map holds {value} at ({row}, {col}), the step gives {total}"
        )
    markdown = (
        f"**Output ({row}, {col})**: the {k}x{k} window at rows {row * s - lab.origin[0]}.."
        f"{row * s + k - 1 - lab.origin[0]}, columns {col * s - lab.origin[1]}.."
        f"{col * s + k - 1 - lab.origin[1]} of the input.\n\nWindow:\n\n"
        f"{markdown_table(np.where(np.isfinite(window), window, -np.inf))}\n\n`{text}`"
    )
    return Pinned(row, col, cells, value, markdown)


def _pin_transposed(lab: Lab, row: int, col: int, value: float) -> Pinned:
    stamps = stamps_at(lab.grid, lab.kernel, _transposed(lab.settings), row, col)
    total = sum(s.x * s.k for s in stamps)
    if not np.isclose(total, value, rtol=1e-5, atol=1e-3):
        raise RuntimeError(f"the output holds {value} at ({row}, {col}), the stamps give {total}")
    if not stamps:
        what = (
            "no input stamps its kernel here (the stride leaves a gap, or this is output "
            "padding), so it stays 0"
        )
        return Pinned(row, col, [], value, f"**Output ({row}, {col})**: {what}.")
    lines = [
        f"- input ({s.i}, {s.j}) = {short_number(s.x)} times kernel tap ({s.u}, {s.v}) = "
        f"{short_number(s.k)}: {short_number(s.x * s.k)}"
        for s in stamps
    ]
    terms = " + ".join(f"{_paren(s.x)}*{_paren(s.k)}" for s in stamps)
    markdown = (
        f"**Output ({row}, {col})** gathers {len(stamps)} stamp(s): each input value x at "
        f"(i, j) adds x * kernel with tap (u, v) landing on (i*S + u*D - P, j*S + v*D - P).\n\n"
        + "\n".join(lines)
        + f"\n\n`{terms} = {short_number(total)}`"
    )
    return Pinned(row, col, [(s.i, s.j) for s in stamps], value, markdown)


def cell_text(value: float) -> str:
    """A grid cell as the lab writes it: 12 for 12.0, 0.1111 for 1/9, -inf (max pooling's
    padding) as -inf."""
    return "-inf" if value == -np.inf else short_number(value)


def _paren(value: float) -> str:
    text = short_number(value)
    return f"({text})" if text.startswith("-") else text
