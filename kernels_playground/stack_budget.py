"""What confirming a layer stack in MLX would cost, worked out before anything runs.

`shapes.describe_stack` runs the learner's stack in MLX on zeros to confirm the arithmetic.
A legal stack can still be far too big for that (a 255x255 kernel over 4096 channels; an
8192x8192 input): MLX would allocate gigabytes or compute for minutes, and once crashed the
process. So the cost is computed from the arithmetic first, and above any of these limits
MLX is not run (the arithmetic still is):

    MLX_MAX_ELEMENTS    numbers in any one array: the input, or a layer's padded input, its
                        input unfolded into windows (a conv's im2col: out_h*out_w positions
                        x K*K*C_in weights each; a pool's windows: out_h*out_w*C x K*K), its
                        weights (a dense layer from a 64x64x128 map to 512 units holds
                        268 M), or its output
    MLX_MAX_OPERATIONS  multiply-adds (conv, dense, batchnorm) + pooling window reads (the
                        pools' windows, a gap's whole map), summed over the stack
    MLX_MAX_WRITTEN     numbers written, summed over the stack: every layer's weights,
                        padded input (if padded), unfolded input and output

The last one matters because MLX's CPU convolution costs about 5-30 ns per unfolded number
(measured on a 2-core Linux machine, the bigger the array the slower), whatever the
multiply-adds: 24 1x1 convolutions of a 20-megapixel grey image took 20 s.
"""

from __future__ import annotations

from collections.abc import Sequence

from kernels_playground.layers import SPATIAL_KINDS, LayerRow, LayerShape

MLX_MAX_ELEMENTS = 20_000_000  # in any one array (80 MB of float32)
MLX_MAX_OPERATIONS = 500_000_000  # in the whole stack
MLX_MAX_WRITTEN = 100_000_000  # in the whole stack


def _count(number: int) -> str:
    """A count for people: 950, 20 M, 1.27 G."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if number >= size:
            return f"{number / size:.3g} {unit}"
    return str(number)


def _arrays(
    input_shape: tuple[int, ...], row: LayerRow, layer: LayerShape
) -> list[tuple[int, str]]:
    """(numbers, what) for each array MLX makes for one layer, given its input shape."""
    arrays = [(layer.numbers, "its output")]
    if layer.parameters:
        arrays.append((layer.parameters, "its weights"))
    if row.kind in SPATIAL_KINDS:
        height, width, channels = input_shape
        out_h, out_w, _ = layer.output
        unfolded = "its input unfolded into windows" + (" (im2col)" if row.kind == "conv" else "")
        arrays.append((out_h * out_w * row.kernel**2 * channels, unfolded))
        if row.padding:
            padded = (height + 2 * row.padding) * (width + 2 * row.padding) * channels
            arrays.append((padded, "its padded input"))
    return arrays


def _reads(input_numbers: int, row: LayerRow, layer: LayerShape) -> int:
    """Numbers a pooling layer reads: K*K per output of a pool, the whole map for a gap."""
    if row.kind in ("maxpool", "avgpool"):
        return layer.numbers * row.kernel**2
    return input_numbers if row.kind == "gap" else 0


def mlx_budget(
    input_hw: tuple[int, int], in_channels: int, rows: Sequence[LayerRow], layers: list[LayerShape]
) -> str | None:
    """Why running this stack in MLX would cost too much for one request, or None if it fits.

    One sentence starting "not checked with MLX: ", worked out from the arithmetic alone
    (rows are checked rows, layers their shapes): the input, the whole stack's operations,
    every layer's largest array, then everything written, against the limits above.
    """
    height, width = input_hw
    numbers = height * width * in_channels
    per_array = f"more than the {_count(MLX_MAX_ELEMENTS)} this demo allocates per array"
    if numbers > MLX_MAX_ELEMENTS:
        return (
            f"not checked with MLX: the {height}x{width}x{in_channels} input holds "
            f"{_count(numbers)} numbers, {per_array}"
        )
    sizes = [numbers] + [layer.numbers for layer in layers[:-1]]
    reads = sum(
        _reads(size, row, layer) for size, row, layer in zip(sizes, rows, layers, strict=True)
    )
    operations = sum(layer.multiply_adds for layer in layers) + reads
    if operations > MLX_MAX_OPERATIONS:
        what = "multiply-adds and pooling window reads" if reads else "multiply-adds"
        return (
            f"not checked with MLX: this stack needs {_count(operations)} {what}, more than "
            f"the {_count(MLX_MAX_OPERATIONS)} this demo runs per request"
        )
    written, shape = 0, (height, width, in_channels)
    for row, layer in zip(rows, layers, strict=True):
        arrays = _arrays(shape, row, layer)
        size, what = max(arrays)
        if size > MLX_MAX_ELEMENTS:
            return (
                f"not checked with MLX: {layer.name} needs {_count(size)} numbers for {what}, "
                f"{per_array}"
            )
        written += sum(size for size, _ in arrays)
        shape = layer.output
    if written > MLX_MAX_WRITTEN:
        return (
            f"not checked with MLX: this stack would write {_count(written)} numbers (weights, "
            f"unfolded inputs and outputs), more than the {_count(MLX_MAX_WRITTEN)} this demo "
            "allows per request"
        )
    return None
