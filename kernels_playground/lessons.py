"""The playground's and the Shapes tab's texts, written in the learner's own numbers.

Every function returns markdown. The numbers come from `arithmetic` (the same functions
that size the feature maps) or from `shapes.describe_stack`'s result, so a lesson cannot
quote a size the computation did not produce.
"""

from __future__ import annotations

from decimal import Decimal

from kernels_playground.arithmetic import (
    conv_output_formula,
    conv_output_size,
    pool_output_formula,
    pool_output_size,
    resolve_padding,
)
from kernels_playground.shapes import StackShapes
from kernels_playground.spec import ConvSpec

# (window, stride) of the pooling after the convolution, or None for no pooling.
Pool = tuple[int, int] | None

# The Shapes table's headers, one per cell of a `table_rows` row.
TABLE_COLUMNS = [
    "layer",
    "output HxWxC",
    "MLX output",
    "parameters",
    "multiply-adds",
    "receptive field",
    "height arithmetic",
]
# A browser (JavaScript numbers) holds integers exactly only below 2**53, and Gradio's JSON
# encoder refuses any beyond 64 bits ("Integer exceeds 64-bit range"). A legal stack reaches
# 6.87e+19 multiply-adds (8192x8192x4096 input, one 255x255 conv to 4096 channels) and a
# receptive field of 1e+154 (64 layers of stride 255), so big counts are shown as text.
EXACT_INT_LIMIT = 2**53


def size_sums(input_hw: tuple[int, int], spec: ConvSpec, pool: Pool = None) -> str:
    """The output-size formula (I - K + 2P) / S + 1 for height and width, then the pooling's.

    input_hw: the image (H, W) in pixels; spec: the convolution (its kernel's rows and
    columns, stride, padding, dilation).
    """
    (height, width), (k_h, k_w) = input_hw, spec.kernel.shape
    rows, cols = _axes(spec)
    lines = [
        "**Convolution output size** (I - K + 2P) / S + 1, with your numbers:",
        f"- height: `{conv_output_formula(height, k_h, spec.stride, rows, spec.dilation)}`",
        f"- width: `{conv_output_formula(width, k_w, spec.stride, cols, spec.dilation)}`",
    ]
    if pool:
        window, pool_stride = pool
        out_h = conv_output_size(height, k_h, spec.stride, rows, spec.dilation)
        out_w = conv_output_size(width, k_w, spec.stride, cols, spec.dilation)
        lines += [
            f"\n**{window}x{window} pooling, stride {pool_stride}:**",
            f"- height: `{pool_output_formula(out_h, window, pool_stride)}`",
            f"- width: `{pool_output_formula(out_w, window, pool_stride)}`",
        ]
    return "\n".join(lines)


def playground_lesson(input_hw: tuple[int, int], spec: ConvSpec, pool: Pool = None) -> str:
    """What the playground's knobs did to this image: sliding, padding, dilation, flipping,
    signed maps, the RGBA pitfall and (with `pool`) pooling, in the learner's numbers.

    Arguments as for `size_sums`; kernels may be rectangular (k_h x k_w).
    """
    (height, width), (k_h, k_w) = input_hw, spec.kernel.shape
    stride, dilation = spec.stride, spec.dilation
    rows, cols = _axes(spec)
    out_h = conv_output_size(height, k_h, stride, rows, dilation)
    out_w = conv_output_size(width, k_w, stride, cols, dilation)
    span_h, span_w = dilation * (k_h - 1) + 1, dilation * (k_w - 1) + 1
    # Sizing only needs the span a dilated kernel covers, so the formula is written for a
    # plain kernel of that span: floor(...) appears exactly when the stride does not divide.
    fits = conv_output_formula(height, span_h, stride, rows)
    text = [
        f"A {k_h}x{k_w} kernel slides over the {height}x{width} image {stride} pixel(s) at a "
        f"time. Padding adds {_padding_words(rows, cols)}, so it fits {fits} times down: "
        f"the feature map is {out_h}x{out_w}.",
        f"Dilation {dilation} spreads the taps {dilation} pixel(s) apart: the kernel covers "
        f"{span_h}x{span_w} pixels with only {k_h * k_w} weights.",
        "Deep-learning 'convolution' layers compute a cross-correlation: the kernel is not "
        "flipped. Tick *flip* for the textbook convolution; symmetric kernels (blur) give the "
        "same map either way, Sobel changes sign." + (" (flipped now)" if spec.flip else ""),
        "Signed maps: blue is negative, red positive; ReLU keeps only the red.",
        "Pitfall: an RGBA upload has a 4th (alpha) channel; the loader composites it on black "
        "so every image reaches the kernel as 3 channels of values 0..255 (a grey or 16-bit "
        "image is converted the same way).",
    ]
    if pool:
        window, pool_stride = pool
        text.append(
            f"Pooling takes one number per {window}x{window} window every {pool_stride} pixels: "
            f"{out_h}x{out_w} becomes {pool_output_size(out_h, window, pool_stride)}x"
            f"{pool_output_size(out_w, window, pool_stride)}, with no weights to learn."
        )
    return "\n\n".join(text)


def _axes(spec: ConvSpec) -> tuple[tuple[int, int], tuple[int, int]]:
    """The (before, after) padding of the rows and of the columns, in pixels."""
    k_h, k_w = spec.kernel.shape
    return (
        resolve_padding(spec.padding, k_h, spec.dilation),
        resolve_padding(spec.padding, k_w, spec.dilation),
    )


def _padding_words(rows: tuple[int, int], cols: tuple[int, int]) -> str:
    """ "1 pixel(s) on each side", or each side's count when they differ."""
    (top, bottom), (left, right) = rows, cols
    if top == bottom == left == right:
        return f"{top} pixel(s) on each side"
    return f"{top} pixel(s) on top, {bottom} below, {left} on the left and {right} on the right"


def stack_summary(stack: StackShapes) -> str:
    """Whether arithmetic and MLX agree on every shape (or why MLX was not run), and the
    stack's totals."""
    if stack.mlx_skipped:
        check = (
            f"Shapes from arithmetic only. {stack.mlx_skipped[0].upper()}{stack.mlx_skipped[1:]}."
        )
    elif stack.disagreements:
        check = "**Arithmetic and MLX disagree:** " + "; ".join(stack.disagreements)
    else:
        check = "Arithmetic and a real MLX model of this stack agree on every shape."
    return (
        f"{check}\n\nTotal: **{stack.total_parameters:,}** parameters, "
        f"**{stack.total_multiply_adds:,}** multiply-adds per image."
    )


def mlx_output_cells(stack: StackShapes) -> list[str]:
    """The MLX column of the Shapes table, one cell per layer: "28x28x6", or "not run" when
    MLX was not run (`stack.mlx_skipped` says why; `stack_summary` quotes it)."""
    outputs = stack.mlx_outputs or [None] * len(stack.layers)
    return ["not run" if shape is None else "x".join(map(str, shape)) for shape in outputs]


def display_count(count: int) -> int | str:
    """A count as a table cell: the int itself when |count| < 2**53 (exact in JSON and in a
    browser), otherwise text with 3 significant digits, "6.87e+19" (never overflows: no
    float is involved)."""
    return count if abs(count) < EXACT_INT_LIMIT else f"{Decimal(count):.3g}"


def table_rows(stack: StackShapes) -> list[list[int | str]]:
    """The Shapes table, one row per layer, cells in TABLE_COLUMNS order, safe to send as JSON.

    Each row: name, "HxWxC" from arithmetic, the MLX cell (`mlx_output_cells`), parameters,
    multiply-adds, receptive field (counts through `display_count`), the height formula.
    The exact counts stay in `stack`; `stack_summary` prints the totals in full.
    """
    return [
        [
            layer.name,
            "x".join(map(str, layer.output)),
            mlx,
            display_count(layer.parameters),
            display_count(layer.multiply_adds),
            display_count(layer.receptive_field),
            layer.formula_h,
        ]
        for layer, mlx in zip(stack.layers, mlx_output_cells(stack), strict=True)
    ]


def shapes_lesson(stack: StackShapes, input_hw: tuple[int, int], channels: int) -> str:
    """Parameters versus multiply-adds, the last unit's receptive field and jump, and the
    batch dimension an MLX layer needs: an (H, W, C) image must become (1, H, W, C), NHWC.
    """
    last = stack.layers[-1]
    height, width = input_hw
    return (
        f"Each conv layer has K*K*C_in*C_out weights plus C_out biases, whatever the image size; "
        f"its multiply-adds grow with the output area. The last unit sees a "
        f"{last.receptive_field}x{last.receptive_field} patch of the input, and neighbouring "
        f"units are {last.jump} pixel(s) apart: pooling and stride multiply that jump. "
        f"MLX layers take NHWC batches: a single {height}x{width} image must become "
        f"(1, {height}, {width}, {channels}) first, the batch dimension people forget."
    )
