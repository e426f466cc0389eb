"""A layer as a learner types it, and what it produces: the records the Shapes engine
(shapes.py), its arithmetic (stack_arithmetic.py) and its MLX budget (stack_budget.py) read.

The kinds, and the columns of the table each one reads:

    conv       kernel, stride, padding, dilation, out_channels      (H, W, C) -> (H', W', C')
    maxpool    kernel (the window), stride, padding                  (H, W, C) -> (H', W', C)
    avgpool    as maxpool
    batchnorm  nothing: a scale and a shift per channel              any shape, unchanged
    dropout    nothing: no parameters, it only zeroes values while training   unchanged
    flatten    nothing: (H, W, C) -> (H*W*C,), the map laid out as one long vector
    gap        nothing: global average pooling, (H, W, C) -> (C,), one mean per channel
    dense      out_channels = its units: (N_in,) -> (units,), every input to every unit

A map (H, W, C) keeps where things are; a flat vector (N,) does not. conv and the pools
need a map, dense needs a vector: a flatten or a gap turns one into the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from menny_base.errors import MennyError

SPATIAL_KINDS = ("conv", "maxpool", "avgpool")  # need a map (H, W, C)
KINDS = (*SPATIAL_KINDS, "flatten", "gap", "dense", "dropout", "batchnorm")
# Other names learners bring from PyTorch or Keras, read as the kind they mean.
ALIASES = {
    "linear": "dense",
    "fc": "dense",
    "globalavgpool": "gap",
    "globalaveragepool": "gap",
    "bn": "batchnorm",
}
# The kinds that read no number from the table but out_channels (dense) or none at all.
NUMBERLESS_KINDS = ("flatten", "gap", "dropout", "batchnorm")


def kind_of(text: object, index: int) -> str:
    """The kind a learner typed, read leniently ("Max-Pool", " Dense ", "linear"), or a
    MennyError naming layer `index` and listing the kinds."""
    kind = str(text).strip().lower().replace("-", "").replace(" ", "").replace("_", "")
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise MennyError(f"layer {index}: kind must be one of {', '.join(KINDS)}, got {text!r}")
    return kind


@dataclass(frozen=True)
class LayerRow:
    """One layer as a learner types it (square kernels, the same padding on every side).

    kind: one of KINDS (see the module's table for what each reads).
    kernel: K (the pooling window for pools); stride S; padding P pixels on each side;
    dilation D (conv only; pools have none); out_channels: C_out for a conv, the units of a
    dense layer; ignored by every other kind.
    table_row: the 1-based row of the learner's table it came from, blank rows counted
    (set by `layer_rows`; 0 = not from a table), so every message names the row they see.
    """

    kind: str
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    out_channels: int = 1
    table_row: int = field(default=0, compare=False)


@dataclass(frozen=True)
class LayerShape:
    """What one layer produces, for one image.

    output: (H, W, C) for a map, (N,) for a flat vector; parameters: learned numbers
    (weights + biases, BatchNorm's scale and shift; not its running statistics);
    multiply_adds: per image; receptive_field: input pixels (along one axis) that one
    output unit sees, None once a gap or dense layer has mixed the whole input; jump: input
    pixels between neighbouring output units (None likewise); formula_h / formula_w: the
    layer's arithmetic in its own numbers (for a map, its output height and width);
    kind: the row's kind ("conv", "dense", ...).
    """

    name: str
    output: tuple[int, ...]
    parameters: int
    multiply_adds: int
    receptive_field: int | None
    jump: int | None
    formula_h: str
    formula_w: str
    kind: str = ""

    @property
    def numbers(self) -> int:
        """How many numbers the output holds per image: H*W*C, or N."""
        return math.prod(self.output)

    @property
    def parameter_bytes(self) -> int:
        """The parameters' memory in float32: 4 bytes each."""
        return 4 * self.parameters
