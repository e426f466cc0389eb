"""A layer as a learner types it, and what it produces: the records the Shapes engine
(shapes.py) and its MLX budget (stack_budget.py) both read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LayerRow:
    """One layer as a learner types it (square kernels, the same padding on every side).

    kind: "conv", "maxpool" or "avgpool".
    kernel: K (the pooling window for pools); stride S; padding P pixels on each side;
    dilation D (conv only; pools have none); out_channels: C_out for a conv, ignored by
    pools, which keep the channel count.
    table_row: the 1-based row of the learner's table it came from, blank rows counted
    (set by `layer_rows`; 0 = not from a table), so every message names the row they see.
    """

    kind: str
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    out_channels: int = 1
    table_row: int = field(default=0, compare=False)


@dataclass(frozen=True)
class LayerShape:
    """What one layer produces, for one image.

    output: (H, W, C) after the layer; parameters: learned numbers (weights + biases);
    multiply_adds: per image; receptive_field: input pixels (along one axis) that one
    output unit sees; jump: input pixels between neighbouring output units;
    formula_h / formula_w: the output-size arithmetic in the layer's numbers.
    """

    name: str
    output: tuple[int, int, int]
    parameters: int
    multiply_adds: int
    receptive_field: int
    jump: int
    formula_h: str
    formula_w: str
