"""A learner's layer stack as real MLX layers: the oracle the Shapes table is checked against.

Every kind becomes the MLX module a model would use: nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d,
nn.Linear (dense), nn.BatchNorm, nn.Dropout, and two small modules MLX does not ship as
layers: `Flatten` ((N, H, W, C) -> (N, H*W*C)) and `GlobalAveragePool` ((N, H, W, C) ->
(N, C), the mean over H and W, as Menny's head computes it). All take and return
channels-last (NHWC) batches.

`run_on_zeros` pushes one zero image through them and reports each output's shape and each
layer's trainable parameter count, as MLX itself counts them.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from kernels_playground.layers import LayerRow
from kernels_playground.stack_arithmetic import by_hand
from menny_base.errors import MennyError


class Flatten(nn.Module):
    """(N, H, W, C) -> (N, H*W*C): a map laid out as one vector per image (row by row,
    channels fastest, as MLX stores it). A flat (N, K) batch passes unchanged."""

    def __call__(self, x: mx.array) -> mx.array:
        return x.reshape(x.shape[0], -1)


class GlobalAveragePool(nn.Module):
    """(N, H, W, C) -> (N, C): each channel's mean over the whole map."""

    def __call__(self, x: mx.array) -> mx.array:
        return x.mean(axis=(1, 2))


def mlx_layer(row: LayerRow, last_axis: int) -> nn.Module:
    """One checked row as its MLX module, in eval mode (dropout off, BatchNorm on its
    running statistics). last_axis: the size of its input's last axis (C of a map, N of a
    vector): a conv's in_channels, a dense layer's inputs, BatchNorm's features."""
    if row.kind == "conv":
        layer = nn.Conv2d(
            last_axis, row.out_channels, row.kernel, row.stride, row.padding, row.dilation
        )
    elif row.kind in ("maxpool", "avgpool"):
        pool = nn.MaxPool2d if row.kind == "maxpool" else nn.AvgPool2d
        layer = pool(row.kernel, row.stride, row.padding)
    elif row.kind == "dense":
        layer = nn.Linear(last_axis, row.out_channels)
    elif row.kind == "batchnorm":
        layer = nn.BatchNorm(last_axis)
    else:
        kinds = {"flatten": Flatten, "gap": GlobalAveragePool, "dropout": nn.Dropout}
        layer = kinds[row.kind]()
    layer.eval()
    return layer


def build_mlx_stack(
    in_channels: int, rows: Sequence[LayerRow], input_hw: tuple[int, int] | None = None
) -> list[nn.Module]:
    """The stack as real MLX layers (NHWC in), ready for nn.Sequential.

    in_channels: C of the input; input_hw: its (H, W), needed only to size a dense layer
    after a flatten (H*W*C inputs). Rows must be checked (`shapes.describe_stack`).
    """
    if input_hw is not None:
        shapes = by_hand(input_hw, in_channels, rows)
        last_axes = [in_channels] + [shape.output[-1] for shape in shapes[:-1]]
        return [mlx_layer(row, last) for row, last in zip(rows, last_axes, strict=True)]
    if any(row.kind == "flatten" for row in rows):
        raise MennyError("a stack with a flatten needs the input's (H, W) to size what follows")
    layers, last = [], in_channels
    for row in rows:  # without a flatten, only conv and dense change the last axis
        layers.append(mlx_layer(row, last))
        last = row.out_channels if row.kind in ("conv", "dense") else last
    return layers


def parameter_count(layer: nn.Module) -> int:
    """The layer's trainable numbers as MLX counts them (BatchNorm's running statistics are
    state, not parameters)."""
    return sum(int(value.size) for _, value in tree_flatten(layer.trainable_parameters()))


def run_on_zeros(
    input_hw: tuple[int, int], in_channels: int, rows: Sequence[LayerRow]
) -> tuple[list[tuple[int, ...]], list[int]]:
    """(each layer's output shape without the batch axis, each layer's MLX parameter count)
    after running one zero image (1, H, W, C) through the real layers.

    A dense layer's input size is read from the array that reaches it, so a wrong flatten
    in the arithmetic cannot make MLX agree by construction.
    """
    x = mx.zeros((1, input_hw[0], input_hw[1], in_channels))
    outputs, counts = [], []
    for row in rows:
        layer = mlx_layer(row, x.shape[-1])
        x = layer(x)
        mx.eval(x)  # really run it: a shape MLX could not compute would fail here
        outputs.append(tuple(int(n) for n in x.shape[1:]))
        counts.append(parameter_count(layer))
    return outputs, counts
