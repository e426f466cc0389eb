"""Layer-by-layer shapes of a small network: output size, parameters, multiply-adds,
receptive field, memory.

A learner writes a stack of layers (conv, pools, batchnorm, dropout, flatten, gap, dense:
see layers.py); `describe_stack` works out every layer's output twice:

1. by hand, with `stack_arithmetic` (the arithmetic in the learner's numbers is kept);
2. by MLX: the same stack is built from real MLX layers (`mlx_stack`: nn.Conv2d,
   nn.Linear, ...) and run on a batch of one zero image, shape (1, H, W, C) (NHWC); MLX's
   own count of each layer's trainable parameters is read off the built layers.

The two must agree on every output shape and every parameter count; any difference lands
in `StackShapes.disagreements` (tests check it stays empty over many random stacks)
instead of being silently hidden.

Limits. A stack is refused (MennyError, one sentence) outside MAX_INPUT_SIDE, MAX_CHANNELS,
MAX_UNITS, MAX_WINDOW, MAX_PADDING, MAX_STEP and MAX_LAYERS. A legal stack whose MLX run
would be too big for one request (`stack_budget.mlx_budget`, worked out before anything is
allocated: the seed chapter's 268-million-parameter face detector is one) is described by
arithmetic only: `mlx_outputs` holds None for every layer, `mlx_skipped` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kernels_playground.layers import NUMBERLESS_KINDS, LayerRow, LayerShape, kind_of
from kernels_playground.mlx_stack import build_mlx_stack, run_on_zeros
from kernels_playground.stack_arithmetic import by_hand
from kernels_playground.stack_budget import mlx_budget
from menny_base.errors import MennyError
from menny_base.numbers import whole

__all__ = ["LayerRow", "StackShapes", "build_mlx_stack", "describe_stack", "layer_rows"]

# A layer table's columns, in LayerRow's field order (the Shapes tab's headers).
LAYER_COLUMNS = ["kind", "kernel", "stride", "padding", "dilation", "out_channels"]

# What a stack may hold: generous for any CNN a learner sketches, small enough that no
# number is absurd (a 1000x1000 kernel once made MLX's check allocate 50 GB and crash).
MAX_INPUT_SIDE = 8192  # input height and width, pixels
MAX_CHANNELS = 4096  # input channels and every conv's out_channels
MAX_UNITS = 65536  # a dense layer's units
MAX_WINDOW = 255  # a conv kernel or pool window, per side
MAX_PADDING = 255  # pixels on each side
MAX_STEP = 255  # stride and dilation
MAX_LAYERS = 64


@dataclass(frozen=True)
class StackShapes:
    """`layers` from arithmetic, `mlx_outputs` from running MLX, and where they differ.

    mlx_outputs: one output shape per layer ((H, W, C) or (N,)), or None for every layer
    when MLX was not run; then mlx_skipped is the reason, one sentence ("not checked with
    MLX: this stack needs 6.39 G multiply-adds, ..."), and disagreements is empty.
    mlx_parameters: each layer's trainable parameters as the built MLX layer counts them
    (empty when MLX was not run).
    """

    layers: list[LayerShape]
    mlx_outputs: list[tuple[int, ...] | None] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    mlx_skipped: str | None = None
    mlx_parameters: list[int] = field(default_factory=list)

    @property
    def total_parameters(self) -> int:
        return sum(layer.parameters for layer in self.layers)

    @property
    def total_multiply_adds(self) -> int:
        return sum(layer.multiply_adds for layer in self.layers)

    @property
    def total_parameter_bytes(self) -> int:
        """All parameters in float32, 4 bytes each."""
        return 4 * self.total_parameters

    def share(self, layer: LayerShape) -> float:
        """The layer's fraction of the stack's parameters, 0..1 (0 for a stack without any)."""
        total = self.total_parameters
        return layer.parameters / total if total else 0.0


def _is_blank(cell: object) -> bool:
    return str(cell).strip() in ("", "nan", "None")


# The number columns each kind reads (indices into LAYER_COLUMNS[1:]); the others are
# ignored and take LayerRow's defaults, so they may stay blank.
READS = {"conv": (0, 1, 2, 3, 4), "maxpool": (0, 1, 2, 3), "avgpool": (0, 1, 2, 3), "dense": (4,)}
DEFAULTS = (1, 1, 0, 1, 1)


def _whole_cells(index: int, kind: str, cells: list[object]) -> list[int]:
    """The number cells a kind reads, as ints (the rest take LayerRow's defaults), or a
    sentence naming the layer and the columns."""
    reads = READS.get(kind, ())
    values = list(DEFAULTS)
    try:
        for column in reads:
            value = float(str(cells[column]).strip())
            if not value.is_integer():  # also rejects inf and nan
                raise ValueError
            values[column] = int(value)
    except ValueError:
        if kind == "dense":
            raise MennyError(
                f"layer {index} (dense): its units (the out_channels column) must be a whole "
                f"number, got {cells[4]!r}"
            ) from None
        names = [LAYER_COLUMNS[1 + column] for column in reads]
        raise MennyError(
            f"layer {index}: {', '.join(names[:-1])} and {names[-1]} must be whole numbers, "
            f"got {[cells[column] for column in reads]}"
        ) from None
    return values


def layer_rows(table: Sequence[Sequence[object]]) -> list[LayerRow]:
    """LayerRows from a table as learners edit it: one list of cells per layer, in
    LAYER_COLUMNS order (kind, kernel, stride, padding, dilation, out_channels).

    Cells may be numbers or text ("3", "3.0"); a row whose cells are all blank ("", None,
    NaN) is skipped, since a learner adds rows before filling them. A short row is padded
    with 1s and extra cells are ignored. Only the cells a kind reads are read (READS): pools
    ignore out_channels, a dense row reads only out_channels (its units), flatten, gap,
    dropout and batchnorm read none; ignored cells may stay blank. Ranges are checked later,
    by `describe_stack`.

    Raises MennyError naming the layer (1-based, counting skipped rows) for an unknown kind
    or when a cell it reads holds something that is not a whole number ("x", "3.7", "inf").
    """
    layers = []
    for index, cells in enumerate(table, start=1):
        cells = list(cells)
        if all(_is_blank(cell) for cell in cells):
            continue
        cells += [1] * (len(LAYER_COLUMNS) - len(cells))
        kind, *numbers = cells[: len(LAYER_COLUMNS)]
        kind = kind_of(kind, index)
        layers.append(LayerRow(kind, *_whole_cells(index, kind, numbers), table_row=index))
    return layers


def _checked(index: int, row: LayerRow) -> LayerRow:
    """The row with its kind known and the numbers it reads in range, or a MennyError
    naming the layer."""
    index = row.table_row or index
    kind = kind_of(row.kind, index)
    if kind in NUMBERLESS_KINDS:
        return LayerRow(kind, table_row=index)
    try:
        if kind == "dense":
            units = whole(row.out_channels, "units (the out_channels column)", 1, MAX_UNITS)
            return LayerRow(kind, out_channels=units, table_row=index)
        kernel = whole(row.kernel, "kernel", 1, MAX_WINDOW)
        stride = whole(row.stride, "stride", 1, MAX_STEP)
        padding = whole(row.padding, "padding", 0, MAX_PADDING)
        dilation = whole(row.dilation, "dilation", 1, MAX_STEP)
        channels = whole(row.out_channels, "out_channels", 1, MAX_CHANNELS) if kind == "conv" else 1
    except (TypeError, ValueError) as error:
        raise MennyError(f"layer {index} ({kind}): {error}") from None
    if kind != "conv" and dilation != 1:
        raise MennyError(f"layer {index} ({kind}): pooling has no dilation, got {dilation}")
    return LayerRow(kind, kernel, stride, padding, dilation, channels, index)


def describe_stack(
    input_hw: tuple[int, int], in_channels: int, rows: Sequence[LayerRow], check_with_mlx=True
) -> StackShapes:
    """Every layer's output, parameters, multiply-adds and receptive field.

    input_hw: the input image (height, width) in pixels, each 1..MAX_INPUT_SIDE;
    in_channels: C of the input (3 for RGB), 1..MAX_CHANNELS; at most MAX_LAYERS rows.
    The arithmetic result is confirmed by running the same stack in MLX on zeros of shape
    (1, H, W, C) unless `check_with_mlx` is False or `mlx_budget` finds it too big; then
    `mlx_outputs` is all None and `mlx_skipped` says why.

    Raises MennyError with one sentence naming the layer for an impossible stack, e.g.
    "layer 3 (conv 5x5): the kernel (5) is larger than the padded input (4 + 0 = 4): ..."
    or "layer 5 (dense 10): a dense layer reads a flat vector, but ... add a flatten".
    """
    height = whole(input_hw[0], "input height", 1, MAX_INPUT_SIDE)
    width = whole(input_hw[1], "input width", 1, MAX_INPUT_SIDE)
    in_channels = whole(in_channels, "input channels", 1, MAX_CHANNELS)
    if not rows:
        raise MennyError("the stack is empty: add at least one layer")
    if len(rows) > MAX_LAYERS:
        raise MennyError(f"the stack has {len(rows)} layers; at most {MAX_LAYERS} are allowed")
    checked = [_checked(index, row) for index, row in enumerate(rows, start=1)]
    layers = by_hand((height, width), in_channels, checked)
    skipped = (
        mlx_budget((height, width), in_channels, checked, layers)
        if check_with_mlx
        else "not checked with MLX: only the arithmetic was asked for"
    )
    if skipped:
        return StackShapes(layers, [None] * len(layers), [], skipped)
    mlx_outputs, mlx_parameters = run_on_zeros((height, width), in_channels, checked)
    disagreements = [
        f"{layer.name}: arithmetic says {layer.output}, MLX produced {got}"
        for layer, got in zip(layers, mlx_outputs, strict=True)
        if layer.output != got
    ] + [
        f"{layer.name}: arithmetic counts {layer.parameters:,} parameters, MLX {got:,}"
        for layer, got in zip(layers, mlx_parameters, strict=True)
        if layer.parameters != got
    ]
    return StackShapes(layers, mlx_outputs, disagreements, None, mlx_parameters)
