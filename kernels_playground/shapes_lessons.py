"""The Shapes tab's table, summary and Learn text, in the stack's own numbers.

Every number comes from `shapes.describe_stack`'s result (or from the same counting rules
applied to the same input), so a lesson cannot quote a count the table does not show.
Products are written in code spans (`784*400`): in markdown a bare `*` between digits
starts italics and swallows the stars.
"""

from __future__ import annotations

import math
from decimal import Decimal

from kernels_playground.layers import SPATIAL_KINDS, LayerShape
from kernels_playground.shapes import StackShapes

# The Shapes table's headers, one per cell of a `table_rows` row.
TABLE_COLUMNS = [
    "layer",
    "output",
    "MLX output",
    "parameters",
    "multiply-adds",
    "share of parameters",
    "parameter bytes (float32)",
    "memory",
    "receptive field",
    "arithmetic",
]
# A browser (JavaScript numbers) holds integers exactly only below 2**53, and Gradio's JSON
# encoder refuses any beyond 64 bits ("Integer exceeds 64-bit range"). A legal stack reaches
# 6.87e+19 multiply-adds (8192x8192x4096 input, one 255x255 conv to 4096 channels) and a
# receptive field of 1e+154 (64 layers of stride 255), so big counts are shown as text.
EXACT_INT_LIMIT = 2**53


def display_count(count: int) -> int | str:
    """A count as a table cell: the int itself when |count| < 2**53 (exact in JSON and in a
    browser), otherwise text with 3 significant digits, "6.87e+19" (never overflows: no
    float is involved)."""
    return count if abs(count) < EXACT_INT_LIMIT else f"{Decimal(count):.3g}"


def memory_text(size: int) -> str:
    """Bytes for people, in powers of 1000 (as disks are sold): 1,280 -> "1.28 kB",
    1,074,125,072 -> "1.07 GB"."""
    for power, unit in ((18, "EB"), (15, "PB"), (12, "TB"), (9, "GB"), (6, "MB"), (3, "kB")):
        if size >= 10**power:
            return f"{size / 10**power:.3g} {unit}"
    return f"{size} B"


def share_text(share: float) -> str:
    """A fraction of the parameters as a percentage with two decimals: "99.96%", "0%" for
    none, "<0.01%" for a few that would round to zero."""
    if share == 0:
        return "0%"
    return "<0.01%" if share < 0.00005 else f"{100 * share:.2f}%"


def _field_cell(layer: LayerShape) -> int | str:
    return "whole input" if layer.receptive_field is None else display_count(layer.receptive_field)


def mlx_output_cells(stack: StackShapes) -> list[str]:
    """The MLX column of the Shapes table, one cell per layer: "28x28x6" or "784", or
    "not built" when MLX was not run (`stack.mlx_skipped` says why; `stack_summary` quotes it)."""
    outputs = stack.mlx_outputs or [None] * len(stack.layers)
    return ["not built" if shape is None else "x".join(map(str, shape)) for shape in outputs]


def table_rows(stack: StackShapes) -> list[list[int | str]]:
    """The Shapes table, one row per layer, cells in TABLE_COLUMNS order, safe to send as JSON.

    Each row: name, the output from arithmetic ("HxWxC" for a map, "N" for a vector), the
    MLX cell (`mlx_output_cells`), parameters, multiply-adds, the layer's share of all
    parameters, their float32 bytes and that memory for people, the receptive field ("whole
    input" after a gap or dense layer) and the layer's arithmetic (a map's height formula, a
    dense layer's parameter sum). The exact counts stay in `stack`; `stack_summary` prints
    the totals in full.
    """
    return [
        [
            layer.name,
            "x".join(map(str, layer.output)),
            mlx,
            display_count(layer.parameters),
            display_count(layer.multiply_adds),
            share_text(stack.share(layer)),
            display_count(layer.parameter_bytes),
            memory_text(layer.parameter_bytes),
            _field_cell(layer),
            layer.formula_h,
        ]
        for layer, mlx in zip(stack.layers, mlx_output_cells(stack), strict=True)
    ]


def stack_summary(stack: StackShapes) -> str:
    """Whether arithmetic and MLX agree on every shape and parameter count (or why MLX was
    not run), and the stack's totals: parameters, their float32 memory, multiply-adds."""
    if stack.mlx_skipped:
        reason = f"{stack.mlx_skipped[0].upper()}{stack.mlx_skipped[1:]}"
        check = f"Shapes from arithmetic only. {reason}, so the MLX model was not built."
    elif stack.disagreements:
        check = "**Arithmetic and MLX disagree:** " + "; ".join(stack.disagreements)
    else:
        check = (
            "Arithmetic and a real MLX model of this stack agree on every shape and every "
            "parameter count."
        )
    size = stack.total_parameter_bytes
    biggest = max(stack.layers, key=lambda layer: layer.parameters)
    heaviest = (
        f" {biggest.name.capitalize()} holds {share_text(stack.share(biggest))} of the parameters."
        if biggest.parameters
        else ""
    )
    return (
        f"{check}\n\nTotal: **{stack.total_parameters:,}** parameters "
        f"({size:,} bytes in float32: **{memory_text(size)}**), "
        f"**{stack.total_multiply_adds:,}** multiply-adds per image.{heaviest}"
    )


def _inputs(stack: StackShapes, input_hwc: tuple[int, int, int]) -> list[tuple[int, ...]]:
    return [input_hwc] + [layer.output for layer in stack.layers[:-1]]


def weight_sharing_lesson(stack: StackShapes, input_hw: tuple[int, int], channels: int) -> str:
    """Weight sharing, locality and translation equivariance, with this stack's numbers:
    its first conv against the dense layer that would map the same input to the same output,
    its first dense layer against a 3x3 conv with 32 filters on the same input."""
    inputs = _inputs(stack, (input_hw[0], input_hw[1], channels))
    pairs = list(zip(stack.layers, inputs, strict=True))
    conv = next((pair for pair in pairs if pair[0].kind == "conv"), None)
    dense = next((pair for pair in pairs if pair[0].kind == "dense"), None)
    text = []
    if conv:
        layer, shape = conv
        out = math.prod(layer.output)
        as_dense = math.prod(shape) * out + out
        text.append(
            f"**Weight sharing.** {layer.name.capitalize()} has {layer.parameters:,} "
            f"parameters wherever it looks: the same filters slide over every one of its "
            f"{layer.output[0] * layer.output[1]:,} output positions. A dense layer from the "
            f"same {'x'.join(map(str, shape))} input to the same {'x'.join(map(str, layer.output))}"
            f" output would need `{math.prod(shape):,}*{out:,} + {out:,} = {as_dense:,}`."
        )
    if dense:
        layer, shape = dense
        units = layer.output[0]
        through_gap = any(other.kind == "gap" for other, _ in pairs[: pairs.index(dense)])
        growth = (
            "The gap before it averages each channel away, so this count stays the same "
            "whatever the picture's size."
            if through_gap
            else "Its count grows with what it reads: a picture twice as wide and tall "
            "flattens to 4x the inputs, so 4x the weights."
        )
        text.append(
            f"**Every input to every unit.** {layer.name.capitalize()} connects each of its "
            f"{shape[0]:,} inputs to each of its {units:,} units: `{shape[0]:,}*{units:,} = "
            f"{shape[0] * units:,}` weights plus {units:,} biases. {growth}"
        )
        if not conv:
            conv_count = 3 * 3 * channels * 32 + 32
            text.append(
                f"A 3x3 conv with 32 filters on the same {input_hw[0]}x{input_hw[1]}x{channels} "
                f"input has `3*3*{channels}*32 + 32 = {conv_count:,}` parameters, wherever it "
                f"looks and whatever the picture's size."
            )
    maps = [layer for layer in stack.layers if layer.kind in SPATIAL_KINDS]
    if conv and maps:
        first, last = conv[0], maps[-1]
        grown = (
            f"; by {last.name} the patch has grown to {last.receptive_field}x{last.receptive_field}"
            if last is not first
            else ""
        )
        text.append(
            f"**Locality.** Each unit of {first.name} reads only a {first.receptive_field}x"
            f"{first.receptive_field} patch of the input (its receptive field), not all "
            f"{input_hw[0] * input_hw[1]:,} pixels{grown}. Nearby pixels belong together (an "
            "edge, an eye), so each filter looks at a neighbourhood, and depth widens it."
        )
        text.append(
            f"**Translation equivariance.** Shift the picture by {first.jump} pixel(s) and "
            f"{first.name}'s map shifts by {first.jump} cell(s): the same filter finds the same "
            f"pattern anywhere. After {last.name} a shift of {last.jump} pixel(s) moves the map "
            "by one cell. A flatten throws the where away (a dense layer after it has separate "
            "weights for every position, so it must learn a face top-left and bottom-right "
            "apart); a gap keeps what was found and forgets where, so its answer does not move."
        )
    return "\n\n".join(text)


def shapes_lesson(stack: StackShapes, input_hw: tuple[int, int], channels: int) -> str:
    """Parameters versus multiply-adds, the last unit's receptive field and jump, the batch
    dimension an MLX layer needs ((H, W, C) must become (1, H, W, C), NHWC), then
    `weight_sharing_lesson`."""
    last = stack.layers[-1]
    height, width = input_hw
    if last.receptive_field is None:
        sees = "Every output of the last layer reads the whole input (after a gap or dense)."
    else:
        sees = (
            f"The last unit sees a {last.receptive_field}x{last.receptive_field} patch of the "
            f"input, and neighbouring units are {last.jump} pixel(s) apart: pooling and stride "
            "multiply that jump."
        )
    has_conv = any(layer.kind == "conv" for layer in stack.layers)
    counting = (
        "Each conv layer has `K*K*C_in*C_out` weights plus `C_out` biases, whatever the image "
        "size; its multiply-adds grow with the output area. "
        if has_conv
        else "A dense layer has `N_in*units` weights plus `units` biases. "
    )
    basics = (
        f"{counting}{sees} MLX layers take NHWC batches: a single {height}x{width} image must "
        f"become (1, {height}, {width}, {channels}) first, the batch dimension people forget."
    )
    lesson = weight_sharing_lesson(stack, input_hw, channels)
    return f"{basics}\n\n{lesson}" if lesson else basics
