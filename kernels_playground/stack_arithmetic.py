"""A checked layer stack worked out by hand: each layer's output, parameters, multiply-adds
and receptive field, with the arithmetic in the layer's own numbers.

Counting (per image, biases included; C is the channels coming in, N the vector's length):
    conv       parameters K*K*C*C_out + C_out     multiply-adds H_out*W_out*C_out * K*K*C
    dense      parameters N*units + units          multiply-adds N*units
    batchnorm  parameters 2*C (scale, shift)       multiply-adds one per number
    pools, gap, flatten, dropout: no parameters and no multiply-adds (they compare, average,
    reshape or zero values).

So a conv's count does not depend on the picture's size (the same K*K*C weights are used at
every position: weight sharing), while a dense layer's grows with everything it reads: a
flatten of a 64x64x128 map feeds 524,288 numbers to every unit.

The order rules: conv and the pools need a map (H, W, C); dense needs a flat vector, so a
flatten or gap must come between a map and a dense layer; a gap needs a map too. Breaking
one is a MennyError naming the layer, one sentence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kernels_playground.arithmetic import (
    LayerSpec,
    conv_output_formula,
    conv_output_size,
    pool_output_formula,
    pool_output_size,
    receptive_field,
)
from kernels_playground.layers import SPATIAL_KINDS, LayerRow, LayerShape
from menny_base.errors import MennyError


def layer_name(row: LayerRow) -> str:
    """How tables and messages name a layer: "layer 3 (conv 5x5)", "layer 6 (dense 400)"."""
    if row.kind in SPATIAL_KINDS:
        return f"layer {row.table_row} ({row.kind} {row.kernel}x{row.kernel})"
    if row.kind == "dense":
        return f"layer {row.table_row} (dense {row.out_channels})"
    return f"layer {row.table_row} ({row.kind})"


def _shown(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _map_needed(name: str, row: LayerRow, shape: tuple[int, ...], before: str) -> MennyError:
    what = {
        "conv": "a kernel slides over",
        "gap": "a global average pool averages",
    }.get(row.kind, "a pooling window slides over")
    count = f"{shape[0]:,} number" + ("s" if shape[0] != 1 else "")
    return MennyError(
        f"{name}: {what} an HxWxC map, but {before} gives a flat vector of {count}: put conv, "
        "pool and gap layers before any flatten or dense layer"
    )


def _spatial(name: str, row: LayerRow, shape: tuple[int, int, int]) -> tuple:
    """(output, parameters, multiply-adds, formula_h, formula_w) of a conv or pool."""
    height, width, channels = shape
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
    return (out_h, out_w, out_c), params, macs, *formulas


def _other(name: str, row: LayerRow, shape: tuple[int, ...], before: str) -> tuple:
    """(output, parameters, multiply-adds, formula) of flatten, gap, dense, dropout,
    batchnorm."""
    numbers = math.prod(shape)
    if row.kind == "flatten":
        if len(shape) == 1:
            return shape, 0, 0, f"already flat: {shape[0]:,} numbers"
        return (numbers,), 0, 0, f"{'*'.join(map(str, shape))} = {numbers:,}"
    if row.kind == "gap":
        if len(shape) == 1:
            raise _map_needed(name, row, shape, before)
        height, width, channels = shape
        return (channels,), 0, 0, f"one mean per channel of the {height}x{width} map: {channels}"
    if row.kind == "dense":
        if len(shape) == 3:
            raise MennyError(
                f"{name}: a dense layer reads a flat vector, but {before} gives a "
                f"{_shown(shape)} map: add a flatten (or gap) row before it"
            )
        units = row.out_channels
        params = numbers * units + units
        return (units,), params, numbers * units, f"{numbers:,}*{units} + {units} = {params:,}"
    if row.kind == "batchnorm":
        channels = shape[-1]
        return shape, 2 * channels, numbers, f"scale and shift per channel: 2*{channels}"
    return shape, 0, 0, "unchanged (in training it zeroes a random share of the values)"


def _receptive_fields(rows: Sequence[LayerRow]) -> list[tuple[int | None, int | None]]:
    """(receptive field, jump) after each layer; (None, None) from the first gap or dense
    on: each of their outputs reads the whole input."""
    specs = []
    for row in rows:
        if row.kind in ("gap", "dense"):
            break
        spatial = row.kind in SPATIAL_KINDS
        specs.append(
            LayerSpec(row.kernel, row.stride, row.padding, row.dilation) if spatial else (1, 1)
        )
    fields = [(field.size, field.jump) for field in receptive_field(specs)]
    return fields + [(None, None)] * (len(rows) - len(fields))


def by_hand(input_hw: tuple[int, int], in_channels: int, rows: Sequence[LayerRow]) -> list:
    """Every layer's LayerShape for checked rows (kinds known, numbers in range).

    input_hw: (H, W) in pixels; in_channels: C of the NHWC input. Raises MennyError for an
    impossible stack, naming the layer: a window larger than its padded input, a dense layer
    on a map, a conv or pool on a flat vector.
    """
    shape: tuple[int, ...] = (input_hw[0], input_hw[1], in_channels)
    before = f"the {_shown(shape)} input"
    shapes = []
    for row, (field, jump) in zip(rows, _receptive_fields(rows), strict=True):
        name = layer_name(row)
        if row.kind in SPATIAL_KINDS:
            if len(shape) == 1:
                raise _map_needed(name, row, shape, before)
            output, params, macs, formula_h, formula_w = _spatial(name, row, shape)
        else:
            output, params, macs, formula_h = _other(name, row, shape, before)
            formula_w = formula_h
        shapes.append(
            LayerShape(name, output, params, macs, field, jump, formula_h, formula_w, row.kind)
        )
        shape, before = output, name
    return shapes
