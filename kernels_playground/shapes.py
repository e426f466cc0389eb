"""Layer-by-layer shapes of a small CNN: output size, parameters, multiply-adds, receptive field.

A learner writes a stack of conv / max-pool / avg-pool layers; `describe_stack` works out
every layer's output (H, W, C) twice:

1. by hand, with `arithmetic` (the formula in the learner's numbers is kept for display);
2. by MLX: the same stack is built from real `nn.Conv2d` / `nn.MaxPool2d` / `nn.AvgPool2d`
   layers and run on a batch of one zero image, shape (1, H, W, C) (NHWC).

The two must agree; any difference lands in `StackShapes.disagreements` (a test checks it
stays empty over many random stacks) instead of being silently hidden.

Limits. A stack is refused (ValueError, one sentence) outside MAX_INPUT_SIDE, MAX_CHANNELS,
MAX_WINDOW, MAX_PADDING, MAX_STEP and MAX_LAYERS. A legal stack whose MLX run would be too
big for one request (`stack_budget.mlx_budget`, worked out before anything is allocated) is
described by arithmetic only: `mlx_outputs` holds None for every layer, `mlx_skipped` says why.

Counting (per image, bias included):
    conv parameters     K*K*C_in*C_out + C_out
    conv multiply-adds  H_out*W_out*C_out * K*K*C_in
    pooling has no parameters and no multiply-adds (it compares or averages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn

from kernels_playground.arithmetic import (
    LayerSpec,
    conv_output_formula,
    conv_output_size,
    pool_output_formula,
    pool_output_size,
    receptive_field,
)
from kernels_playground.layers import LayerRow, LayerShape
from kernels_playground.stack_budget import mlx_budget
from menny_base.errors import MennyError
from menny_base.numbers import whole

KINDS = ("conv", "maxpool", "avgpool")
# A layer table's columns, in LayerRow's field order (the Shapes tab's headers).
LAYER_COLUMNS = ["kind", "kernel", "stride", "padding", "dilation", "out_channels"]

# What a stack may hold: generous for any CNN a learner sketches, small enough that no
# number is absurd (a 1000x1000 kernel once made MLX's check allocate 50 GB and crash).
MAX_INPUT_SIDE = 8192  # input height and width, pixels
MAX_CHANNELS = 4096  # input channels and every conv's out_channels
MAX_WINDOW = 255  # a conv kernel or pool window, per side
MAX_PADDING = 255  # pixels on each side
MAX_STEP = 255  # stride and dilation
MAX_LAYERS = 64


@dataclass(frozen=True)
class StackShapes:
    """`layers` from arithmetic, `mlx_outputs` from running MLX, and where they differ.

    mlx_outputs: one (H, W, C) per layer, or None for every layer when MLX was not run;
    then mlx_skipped is the reason, one sentence ("not checked with MLX: this stack needs
    6.39 G multiply-adds, ..."), and disagreements is empty.
    """

    layers: list[LayerShape]
    mlx_outputs: list[tuple[int, int, int] | None] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    mlx_skipped: str | None = None

    @property
    def total_parameters(self) -> int:
        return sum(layer.parameters for layer in self.layers)

    @property
    def total_multiply_adds(self) -> int:
        return sum(layer.multiply_adds for layer in self.layers)


def layer_rows(table: Sequence[Sequence[object]]) -> list[LayerRow]:
    """LayerRows from a table as learners edit it: one list of cells per layer, in
    LAYER_COLUMNS order (kind, kernel, stride, padding, dilation, out_channels).

    Cells may be numbers or text ("3", "3.0"); a row whose cells are all blank ("", None,
    NaN) is skipped, since a learner adds rows before filling them. A short row is padded
    with 1s and extra cells are ignored. Ranges are checked later, by `describe_stack`.

    Raises ValueError naming the layer (1-based, counting skipped rows) when a number
    cell holds something that is not a whole number ("x", "3.7", "inf").
    """
    layers = []
    for index, cells in enumerate(table, start=1):
        cells = list(cells)
        if all(str(cell).strip() in ("", "nan", "None") for cell in cells):
            continue
        cells += [1] * (len(LAYER_COLUMNS) - len(cells))
        kind, *numbers = cells[: len(LAYER_COLUMNS)]
        try:
            values = [float(str(cell).strip()) for cell in numbers]
            if not all(value.is_integer() for value in values):  # also rejects inf and nan
                raise ValueError
        except ValueError:
            raise MennyError(
                f"layer {index}: kernel, stride, padding, dilation and out_channels must be "
                f"whole numbers, got {numbers}"
            ) from None
        layers.append(LayerRow(str(kind), *(int(value) for value in values), table_row=index))
    return layers


def _checked(index: int, row: LayerRow) -> LayerRow:
    """The row with whole numbers in range, or a ValueError naming the layer."""
    index = row.table_row or index
    kind = str(row.kind).strip().lower().replace("-", "").replace(" ", "")
    if kind not in KINDS:
        raise MennyError(f"layer {index}: kind must be one of {', '.join(KINDS)}, got {row.kind!r}")
    try:
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


def _by_hand(input_hw: tuple[int, int], in_channels: int, rows: list[LayerRow]) -> list[LayerShape]:
    height, width, channels = input_hw[0], input_hw[1], in_channels
    fields = receptive_field([LayerSpec(r.kernel, r.stride, r.padding, r.dilation) for r in rows])
    shapes = []
    for row, rf in zip(rows, fields, strict=True):
        name = f"layer {row.table_row} ({row.kind} {row.kernel}x{row.kernel})"
        try:
            if row.kind == "conv":
                args = (row.kernel, row.stride, row.padding, row.dilation)
                out_h, out_w = conv_output_size(height, *args), conv_output_size(width, *args)
                formulas = conv_output_formula(height, *args), conv_output_formula(width, *args)
                out_c = row.out_channels
                params = row.kernel * row.kernel * channels * out_c + out_c
                macs = out_h * out_w * out_c * row.kernel * row.kernel * channels
            else:
                args = (row.kernel, row.stride, row.padding)
                out_h, out_w = pool_output_size(height, *args), pool_output_size(width, *args)
                formulas = pool_output_formula(height, *args), pool_output_formula(width, *args)
                out_c, params, macs = channels, 0, 0
        except ValueError as error:
            raise MennyError(f"{name}: {error}") from None
        shapes.append(
            LayerShape(name, (out_h, out_w, out_c), params, macs, rf.size, rf.jump, *formulas)
        )
        height, width, channels = out_h, out_w, out_c
    return shapes


def build_mlx_stack(in_channels: int, rows: Sequence[LayerRow]) -> list[nn.Module]:
    """The stack as real MLX layers (channels-last: they take and return NHWC arrays)."""
    layers: list[nn.Module] = []
    channels = in_channels
    for row in rows:
        if row.kind == "conv":
            layers.append(
                nn.Conv2d(
                    channels, row.out_channels, row.kernel, row.stride, row.padding, row.dilation
                )
            )
            channels = row.out_channels
        elif row.kind == "maxpool":
            layers.append(nn.MaxPool2d(row.kernel, row.stride, row.padding))
        else:
            layers.append(nn.AvgPool2d(row.kernel, row.stride, row.padding))
    return layers


def _by_mlx(
    input_hw: tuple[int, int], in_channels: int, rows: list[LayerRow]
) -> list[tuple[int, int, int]]:
    x = mx.zeros((1, input_hw[0], input_hw[1], in_channels))
    outputs = []
    for layer in build_mlx_stack(in_channels, rows):
        x = layer(x)
        mx.eval(x)  # really run it: a shape MLX could not compute would fail here
        outputs.append(tuple(int(n) for n in x.shape[1:]))
    return outputs


def describe_stack(
    input_hw: tuple[int, int], in_channels: int, rows: Sequence[LayerRow], check_with_mlx=True
) -> StackShapes:
    """Every layer's output (H, W, C), parameters, multiply-adds and receptive field.

    input_hw: the input image (height, width) in pixels, each 1..MAX_INPUT_SIDE;
    in_channels: C of the input (3 for RGB), 1..MAX_CHANNELS; at most MAX_LAYERS rows.
    The arithmetic result is confirmed by running the same stack in MLX on zeros of shape
    (1, H, W, C) unless `check_with_mlx` is False or `mlx_budget` finds it too big; then
    `mlx_outputs` is all None and `mlx_skipped` says why.

    Raises ValueError with one sentence naming the layer for an impossible stack, e.g.
    "layer 3 (conv 5x5): the kernel (5) is larger than the padded input (4 + 0 = 4): ...".
    """
    height = whole(input_hw[0], "input height", 1, MAX_INPUT_SIDE)
    width = whole(input_hw[1], "input width", 1, MAX_INPUT_SIDE)
    in_channels = whole(in_channels, "input channels", 1, MAX_CHANNELS)
    if not rows:
        raise MennyError("the stack is empty: add at least one layer")
    if len(rows) > MAX_LAYERS:
        raise MennyError(f"the stack has {len(rows)} layers; at most {MAX_LAYERS} are allowed")
    checked = [_checked(index, row) for index, row in enumerate(rows, start=1)]
    layers = _by_hand((height, width), in_channels, checked)
    skipped = (
        mlx_budget((height, width), in_channels, checked, layers)
        if check_with_mlx
        else "not checked with MLX: only the arithmetic was asked for"
    )
    if skipped:
        return StackShapes(layers, [None] * len(layers), [], skipped)
    mlx_outputs = _by_mlx((height, width), in_channels, checked)
    disagreements = [
        f"{layer.name}: arithmetic says {layer.output}, MLX produced {got}"
        for layer, got in zip(layers, mlx_outputs, strict=True)
        if layer.output != got
    ]
    return StackShapes(layers, mlx_outputs, disagreements)
