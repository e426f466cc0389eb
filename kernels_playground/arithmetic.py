"""Convolution arithmetic: how big is the output, and why.

Pure integer functions (no MLX needed), one size per call: a 2-D layer applies
them to height and width separately. Every function has a `*_formula` twin that
returns the same computation as text with the caller's numbers substituted, for a
learner to check by hand, e.g. "(256 - 3 + 2*1) / 1 + 1 = 256".

Notation (Dumoulin & Visin, "A guide to convolution arithmetic"):
    I input size, K kernel size, S stride, P padding, D dilation,
    effective kernel size  K_eff = D*(K - 1) + 1,
    output size            O = floor((I + P_before + P_after - K_eff) / S) + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from menny_base.errors import MennyError
from menny_base.numbers import whole

Padding = int | tuple[int, int] | str
PADDING_MODES = ("valid", "same", "full")


def resolve_padding(padding: Padding, kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Padding as a (before, after) pair of non-negative ints.

    `padding` is an int (the same on both sides), a (before, after) pair, or a mode:
    "valid" (none), "same" (output size = input size at stride 1),
    "full" (every partial overlap of kernel and input: D*(K-1) on each side).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0)
        if mode == "same":
            return same_padding(kernel, dilation)
        if mode == "full":
            full = dilation * (kernel - 1)
            return (full, full)
        raise MennyError(f"padding mode must be one of {', '.join(PADDING_MODES)}, got {padding!r}")
    if isinstance(padding, Sequence):
        if len(padding) != 2:
            raise MennyError(f"padding must be an int or a (before, after) pair, got {padding!r}")
        return (
            whole(padding[0], "padding before", 0),
            whole(padding[1], "padding after", 0),
        )
    amount = whole(padding, "padding", 0)
    return (amount, amount)


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """The (before, after) padding that keeps the size at stride 1.

    The effective kernel covers D*(K-1) + 1 pixels, so D*(K-1) pixels of padding are
    needed in total. When that is odd (an even kernel), the extra pixel goes after,
    as in TensorFlow's "SAME".
    """
    kernel = whole(kernel, "kernel", 1)
    dilation = whole(dilation, "dilation", 1)
    total = dilation * (kernel - 1)
    return (total // 2, total - total // 2)


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """How many input pixels a dilated kernel spans: D*(K - 1) + 1."""
    return whole(dilation, "dilation", 1) * (whole(kernel, "kernel", 1) - 1) + 1


# -- convolution -------------------------------------------------------------


@dataclass(frozen=True)
class _Conv:
    size: int
    kernel: int
    stride: int
    before: int
    after: int
    dilation: int

    @property
    def span(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded(self) -> int:
        return self.size + self.before + self.after

    @property
    def output(self) -> int:
        return (self.padded - self.span) // self.stride + 1


class WindowTooLarge(MennyError):
    """A kernel or pool window that spans more than the padded input along one axis.

    Callers that know more (which axis; whether padding is possible at all) reword it
    from `shown` ("kernel (5)", "dilated kernel (2*(3 - 1) + 1 = 5)") and `size`.
    """

    def __init__(self, shown: str, size: int, padding: int, advice: str):
        self.shown, self.size = shown, size
        super().__init__(
            f"the {shown} is larger than the padded input ({size} + {padding} = "
            f"{size + padding}): {advice}"
        )


def _conv(size, kernel, stride, padding, dilation, what: str = "kernel") -> _Conv:
    size = whole(size, "input size", 1)
    kernel = whole(kernel, what, 1)
    stride = whole(stride, "stride", 1)
    dilation = whole(dilation, "dilation", 1)
    before, after = resolve_padding(padding, kernel, dilation)
    conv = _Conv(size, kernel, stride, before, after, dilation)
    if conv.span > conv.padded:
        shown = (
            f"{what} ({kernel})"
            if dilation == 1
            else (f"dilated {what} ({dilation}*({kernel} - 1) + 1 = {conv.span})")
        )
        advice = (
            "use a smaller kernel or dilation, or more padding"
            if what == "kernel"
            else f"use a smaller {what}, or more padding (at most half the window)"
        )
        raise WindowTooLarge(shown, size, before + after, advice)
    return conv


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1
) -> int:
    """Output size of a convolution along one axis: floor((I + P - D*(K-1) - 1) / S) + 1.

    >>> conv_output_size(256, 3), conv_output_size(256, 3, padding=1)
    (254, 256)
    """
    return _conv(size, kernel, stride, padding, dilation).output


def _padding_terms(before: int, after: int) -> str:
    if before == after:
        return f"2*{before}"
    return f"{before} + {after}"


def conv_output_formula(
    size: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1
) -> str:
    """`conv_output_size` as text in the caller's numbers.

    >>> conv_output_formula(256, 3, padding=1)
    '(256 - 3 + 2*1) / 1 + 1 = 256'
    """
    c = _conv(size, kernel, stride, padding, dilation)
    prefix = ""
    k = str(c.kernel)
    if c.dilation > 1:
        prefix = f"K_eff = {c.dilation}*({c.kernel} - 1) + 1 = {c.span}; "
        k = str(c.span)
    return prefix + _division_text(c.size, k, c.before, c.after, c.stride, "floor", c.output)


def _division_text(size, kernel, before, after, stride, rounding, output) -> str:
    """'(I - K + 2*P) / S + 1 = O', with the rounding written out when S does not divide."""
    fraction = f"({size} - {kernel} + {_padding_terms(before, after)}) / {stride}"
    numerator = size + before + after - int(kernel)
    if numerator % stride == 0:
        return f"{fraction} + 1 = {output}"
    return f"{rounding}({fraction}) + 1 = {rounding}({numerator} / {stride}) + 1 = {output}"


# -- pooling -----------------------------------------------------------------


def _pool(size, window, stride, padding, ceil_mode) -> tuple[_Conv, int]:
    window = whole(window, "pool window", 1)
    stride = window if stride is None else whole(stride, "pool stride", 1)
    before, after = resolve_padding(padding, window)
    if max(before, after) > window // 2:
        raise MennyError(
            f"pool padding must be at most half the window ({window // 2} for a window of "
            f"{window}), got {max(before, after)}: a wider pad would make windows of padding only"
        )
    conv = _conv(size, window, stride, (before, after), 1, what="pool window")
    out = conv.output
    if ceil_mode:
        out = -(-(conv.padded - window) // stride) + 1
        # The last window must start inside the input or the left padding.
        if (out - 1) * stride >= size + before:
            out -= 1
    return conv, out


def pool_output_size(
    size: int,
    window: int,
    stride: int | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
) -> int:
    """Output size of max/avg pooling along one axis; stride defaults to the window.

    ceil_mode rounds the division up (a last, partial window) as PyTorch does, but
    drops a window that would start in the right padding.

    >>> pool_output_size(256, 2)
    128
    """
    return _pool(size, window, stride, padding, ceil_mode)[1]


def pool_output_formula(
    size: int,
    window: int,
    stride: int | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
) -> str:
    """`pool_output_size` as text in the caller's numbers."""
    c, out = _pool(size, window, stride, padding, ceil_mode)
    rounding = "ceil" if ceil_mode else "floor"
    text = _division_text(c.size, c.kernel, c.before, c.after, c.stride, rounding, out)
    if ceil_mode and out == c.output and (c.padded - c.kernel) % c.stride:
        text += " (a last window would start in the right padding, so it is dropped)"
    return text


# -- transposed convolution --------------------------------------------------


def _transposed(size, kernel, stride, padding, output_padding, dilation):
    size = whole(size, "input size", 1)
    kernel = whole(kernel, "kernel", 1)
    stride = whole(stride, "stride", 1)
    dilation = whole(dilation, "dilation", 1)
    padding = whole(padding, "padding", 0)
    output_padding = whole(output_padding, "output padding", 0)
    if output_padding >= max(stride, dilation):
        raise MennyError(
            f"output padding must be smaller than the stride or the dilation "
            f"(< {max(stride, dilation)}), got {output_padding}"
        )
    # A transposed convolution is a direct one over the stride-dilated input padded by
    # D*(K-1) - P on each side; that padding cannot be negative.
    if padding > dilation * (kernel - 1):
        raise MennyError(
            f"transposed-convolution padding can be at most D*(K - 1) = "
            f"{dilation * (kernel - 1)} for this kernel, got {padding}"
        )
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise MennyError(
            f"padding {padding} crops away the whole output of the transposed convolution "
            f"(size {out}); use less padding"
        )
    return out


def transposed_conv_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output size of a transposed convolution: (I-1)*S - 2P + D*(K-1) + output_padding + 1.

    It undoes the size change of `conv_output_size` with the same K, S, P, D;
    output_padding picks among the input sizes a strided convolution maps to the same output.
    """
    return _transposed(size, kernel, stride, padding, output_padding, dilation)


def transposed_conv_output_formula(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> str:
    """`transposed_conv_output_size` as text in the caller's numbers."""
    out = _transposed(size, kernel, stride, padding, output_padding, dilation)
    return (
        f"({size} - 1)*{stride} - 2*{padding} + {dilation}*({kernel} - 1) "
        f"+ {output_padding} + 1 = {out}"
    )


# -- receptive field ---------------------------------------------------------


@dataclass(frozen=True)
class LayerSpec:
    """One conv or pool layer, as far as geometry is concerned (the same along H and W)."""

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    name: str = ""


@dataclass(frozen=True)
class ReceptiveField:
    """What one output unit of a layer sees of the network's input.

    size:  how many input pixels along one axis influence one unit (r).
    jump:  how many input pixels apart two neighbouring units' fields are (j).
    start: the input coordinate of the centre of the first unit's field (pixel i has
           centre i; negative means the field is centred in the padding).
    formula: the recurrence r = r_prev + (K_eff - 1) * j_prev in the layer's numbers.
    """

    size: int
    jump: int
    start: float
    formula: str


def receptive_field(layers: Sequence[LayerSpec | tuple[int, ...]]) -> list[ReceptiveField]:
    """The receptive field after each layer of a conv/pool stack (Araujo et al., Distill 2019).

    Layers are `LayerSpec`s or (kernel, stride[, padding[, dilation]]) tuples. With
    j_0 = 1, r_0 = 1, start_0 = 0 for the input, each layer applies
        j = j_prev * S
        r = r_prev + (K_eff - 1) * j_prev
        start = start_prev + ((K_eff - 1) / 2 - P) * j_prev
    """
    fields: list[ReceptiveField] = []
    size, jump, start = 1, 1, 0.0
    for index, layer in enumerate(layers, start=1):
        spec = layer if isinstance(layer, LayerSpec) else LayerSpec(*layer)
        label = spec.name or f"layer {index}"
        kernel = whole(spec.kernel, f"{label} kernel", 1)
        stride = whole(spec.stride, f"{label} stride", 1)
        padding = whole(spec.padding, f"{label} padding", 0)
        span = effective_kernel(kernel, whole(spec.dilation, f"{label} dilation", 1))
        formula = f"r = {size} + ({span} - 1)*{jump} = {size + (span - 1) * jump}"
        start = start + ((span - 1) / 2 - padding) * jump
        size = size + (span - 1) * jump
        jump = jump * stride
        fields.append(ReceptiveField(size, jump, start, formula))
    return fields
