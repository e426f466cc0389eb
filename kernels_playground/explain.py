"""One output value, step by step: which input values the kernel sees, and the sum written out.

`step_at` picks the window under the kernel for output position (row, col), multiplies it
element-wise with the kernel and adds up, then checks the sum against the value
`convolve.apply_kernel` produced there: the lesson and the computation cannot drift apart.
`Step.markdown` writes the whole step out as the playground shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels_playground.convolve import (
    ConvGeometry,
    apply_kernel,
    check_image,
    conv_geometry,
    padded_planes,
)
from kernels_playground.spec import ConvSpec
from menny_base.errors import MennyError, WrongType
from menny_base.numbers import whole


@dataclass(frozen=True)
class Window:
    """The input area one output value sees, in input pixel coordinates.

    top/left may be negative (the window starts in the padding); height/width are the
    dilated span D*(K - 1) + 1; only every D-th row and column of it is used.
    """

    top: int
    left: int
    height: int
    width: int
    dilation: int


@dataclass(frozen=True)
class Step:
    """patch: the input values under the kernel taps (padding included), kernel's shape.
    products = patch * kernel; total = their sum; value = apply_kernel's output there.
    text: "k*x + k*x + ... = total" in the learner's numbers.
    row, col: the output position explained; channel: the channel explained (None for
    luminance); flipped: the kernel shown is flipped (a true convolution).
    """

    patch: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    total: float
    value: float
    window: Window
    text: str
    row: int
    col: int
    channel: int | None
    flipped: bool

    def markdown(self, before_relu: bool = False) -> str:
        """The step as the playground shows it: patch, kernel and products as tables, the
        sum written out, and the feature map's value there (`before_relu`: the map shown
        went through ReLU afterwards, so its pixel may read 0 where this sum is negative).
        """
        of = ""
        if self.channel is not None:
            names = ("red", "green", "blue")
            name = names[self.channel] if self.channel < 3 else f"#{self.channel}"
            of = f" of the {name} channel"
        return (
            f"**Output ({self.row}, {self.col})**{of}: the patch under the kernel, times the "
            f"kernel, summed.\n\nPatch:\n\n{markdown_table(self.patch)}\n\n"
            f"Kernel{' (flipped: true convolution)' if self.flipped else ''}:\n\n"
            f"{markdown_table(self.kernel)}\n\nProducts:\n\n{markdown_table(self.products)}"
            f"\n\n`{self.text}`\n\nSum = **{self.total:.4g}**, the feature map holds "
            f"**{self.value:.4g}** there{' before ReLU' if before_relu else ''}."
        )


def markdown_table(matrix: np.ndarray, digits: int = 3) -> str:
    """A 2-D array as a markdown table of `digits` significant digits; the header row is
    left empty, since the rows and columns are positions, not named fields."""
    cols = matrix.shape[1]
    lines = ["|" + " |" * cols, "|" + "---|" * cols]
    # + 0.0 turns -0.0 (a negative weight times a zero pixel) into 0 for display.
    lines += ["| " + " | ".join(f"{v + 0.0:.{digits}g}" for v in row) + " |" for row in matrix]
    return "\n".join(lines)


def input_window(image: object, kernel: ConvSpec | object, row: int, col: int, **options) -> Window:
    """Where output (row, col) looks in the input: top-left corner and span, for drawing a box.

    image: the image array, or just its (H, W) size. kernel: a ConvSpec, or a kernel and
    the ConvSpec options by name (as apply_kernel).
    """
    spec = ConvSpec.of(kernel, **options)
    return _window(conv_geometry(_size(image), spec), row, col)


def _window(geometry: ConvGeometry, row: int, col: int) -> Window:
    rows, cols = geometry.output
    row = _position(row, "row", rows)
    col = _position(col, "column", cols)
    top, _, left, _ = geometry.pad
    (kh, kw), d = geometry.kernel, geometry.dilation
    return Window(
        top=row * geometry.stride - top,
        left=col * geometry.stride - left,
        height=d * (kh - 1) + 1,
        width=d * (kw - 1) + 1,
        dilation=d,
    )


def step_at(
    image: object,
    kernel: ConvSpec | object,
    row: int,
    col: int,
    channel: int | None = None,
    feature_map: np.ndarray | None = None,
    **options,
) -> Step:
    """The computation of feature-map value (row, col): the patch under the kernel, the
    products and their sum, next to the value apply_kernel gives there.

    kernel: a ConvSpec, or a kernel and the ConvSpec options by name (as apply_kernel).
    mode="per_channel" explains one channel: `channel` (default 0); luminance ignores it.
    flip=True shows the flipped kernel, which is what a true convolution multiplies.
    feature_map: apply_kernel(image, spec) if the caller has it already (the playground
    does), so it is not computed twice.
    """
    spec = ConvSpec.of(kernel, **options)
    weights = spec.weights
    array = check_image(image)
    geometry = conv_geometry(array.shape[:2], spec)
    padded = np.array(padded_planes(array, spec.mode, geometry, spec.edge))
    index = 0
    if spec.mode == "per_channel":
        index = whole(0 if channel is None else channel, "channel", 0)
        if index >= padded.shape[2]:
            raise MennyError(f"channel must be between 0 and {padded.shape[2] - 1}, got {index}")
    padded = padded[:, :, index]
    window = _window(geometry, row, col)
    top = window.top + geometry.pad[0]
    left = window.left + geometry.pad[2]
    d = window.dilation
    patch = padded[top : top + window.height : d, left : left + window.width : d]
    products = patch.astype(np.float64) * weights.astype(np.float64)
    total = float(products.sum())
    if feature_map is None:
        feature_map = apply_kernel(image, spec)
    value = feature_map[row, col] if spec.mode == "luminance" else feature_map[row, col, index]
    return Step(
        patch=patch,
        kernel=weights,
        products=products,
        total=total,
        value=float(value),
        window=window,
        text=_sum_text(weights, patch, total),
        row=int(row),
        col=int(col),
        channel=index if spec.mode == "per_channel" else None,
        flipped=bool(spec.flip),
    )


def _size(image: object) -> tuple[int, int]:
    if isinstance(image, tuple) and len(image) == 2:
        return whole(image[0], "image height", 1), whole(image[1], "image width", 1)
    shape = np.shape(image)
    if len(shape) not in (2, 3):
        raise MennyError(f"image must be (H, W) or (H, W, C), got shape {shape}")
    return shape[0], shape[1]


def _position(value: int, name: str, count: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise WrongType(f"{name} must be a whole number between 0 and {count - 1}, got {value!r}")
    if not 0 <= value < count:
        raise MennyError(f"{name} must be between 0 and {count - 1}, got {value}")
    return int(value)


def short_number(value: float) -> str:
    """12 for 12.0, 139.906 for 139.90599..., -0.1111 for -1/9: short but honest."""
    rounded = round(float(value), 4)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.4f}".rstrip("0")


def _sum_text(kernel: np.ndarray, patch: np.ndarray, total: float) -> str:
    terms = []
    for k, x in zip(kernel.ravel(), patch.ravel(), strict=True):
        weight = short_number(k)
        if weight.startswith("-"):
            weight = f"({weight})"
        pixel = short_number(x)
        if pixel.startswith("-"):
            pixel = f"({pixel})"
        terms.append(f"{weight}*{pixel}")
    return " + ".join(terms) + f" = {short_number(total)}"
