"""The playground's and the Shapes tab's texts, written in the learner's own numbers.

Every function returns markdown. The numbers come from `arithmetic` (the same functions
that size the feature maps) or from `shapes.describe_stack`'s result, so a lesson cannot
quote a size the computation did not produce. The Shapes tab's texts (its table, summary
and Learn text on weight sharing) live in `shapes_lessons` and are importable from here.
"""

from __future__ import annotations

from kernels_playground.arithmetic import (
    conv_output_formula,
    conv_output_size,
    pool_output_formula,
    pool_output_size,
    resolve_padding,
)
from kernels_playground.shapes_lessons import (
    TABLE_COLUMNS,
    display_count,
    mlx_output_cells,
    shapes_lesson,
    stack_summary,
    table_rows,
)
from kernels_playground.spec import ConvSpec

# (window, stride) of the pooling after the convolution, or None for no pooling.
Pool = tuple[int, int] | None

__all__ = [
    "TABLE_COLUMNS",
    "display_count",
    "mlx_output_cells",
    "playground_lesson",
    "shapes_lesson",
    "size_sums",
    "stack_summary",
    "table_rows",
]


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
