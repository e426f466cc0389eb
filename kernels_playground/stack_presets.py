"""Ready-made stacks for the Shapes tab: an MLP against CNNs, from 478 thousand parameters
to 268 million.

Each preset is a table as the learner sees it (rows in LAYER_COLUMNS order: kind, kernel,
stride, padding, dilation, out_channels; None in a column the kind ignores), an input size
and a description that names the architecture and its total. The totals are worked out
here by hand in the docstrings and checked by tests against `describe_stack` and against
real MLX modules:

    MNIST MLP (the course)        784 -> 400 -> 400 -> 10                      478,410
    small CNN for 28x28 digits    conv 32, pool, conv 64, pool, dense 10        34,826
    SimpleFaceDetector (chapter)  conv 16, conv 32, pools, dense 128, dense 4   67,114,596
    ComplexFaceDetector (chapter) conv 32, 64, 128, pools, dense 512, dense 4   268,531,268

ReLU is not a row: it has no parameters and keeps the shape, so the tables leave it out (the
models apply it after every conv and hidden dense layer). Menny's own preset is built by
`menny_preset` from what its weights file says (the app reads it; this package never
imports menny_core).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Cell = str | int | None


@dataclass(frozen=True)
class Preset:
    """A stack to load into the Shapes tab: input (H, W) and channels, the table's rows
    and a markdown description."""

    name: str
    input_hw: tuple[int, int]
    channels: int
    rows: list[list[Cell]]
    description: str


def conv(kernel: int, out_channels: int, padding: int = 0, stride: int = 1) -> list[Cell]:
    return ["conv", kernel, stride, padding, 1, out_channels]


def pool(window: int = 2, stride: int = 2, kind: str = "maxpool") -> list[Cell]:
    return [kind, window, stride, 0, 1, None]


def dense(units: int) -> list[Cell]:
    return ["dense", None, None, None, None, units]


def plain(kind: str) -> list[Cell]:
    """A row that reads no number: flatten, gap, dropout, batchnorm."""
    return [kind, None, None, None, None, None]


MNIST_MLP = Preset(
    "MNIST MLP (course): 784 -> 400 -> 400 -> 10",
    (28, 28),
    1,
    [plain("flatten"), dense(400), dense(400), dense(10)],
    "The course's multilayer perceptron for 28x28 grey digits: the picture is flattened to "
    "784 numbers, then two dense layers of 400 units and 10 outputs. **478,410** parameters: "
    "784\\*400 + 400 = 314,000, 400\\*400 + 400 = 160,400 and 400\\*10 + 10 = 4,010. "
    "(ReLU between the dense layers is not a row: it has no parameters.)",
)

SMALL_CNN = Preset(
    "Small CNN for 28x28 digits",
    (28, 28),
    1,
    [conv(3, 32), pool(), conv(3, 64), pool(), plain("flatten"), plain("dropout"), dense(10)],
    "Two 3x3 convolutions (32 and 64 filters, no padding) with 2x2 max-pools, a flatten of "
    "the 5x5x64 map, dropout and 10 outputs: **34,826** parameters, 7% of the MLP's 478,410, "
    "for the same 28x28 digits (the layout of Keras's MNIST convnet example).",
)

SIMPLE_FACE_DETECTOR = Preset(
    "SimpleFaceDetector (seed chapter), 512x512",
    (512, 512),
    3,
    [
        conv(3, 16, padding=1),
        pool(),
        conv(3, 32, padding=1),
        pool(),
        plain("flatten"),
        dense(128),
        plain("dropout"),
        dense(4),
    ],
    "The chapter's simple model on 512x512 RGB portraits: 3x3 convolutions (padding 1) "
    "3 -> 16 -> 32, each followed by a 2x2 max-pool (512 -> 256 -> 128), a flatten of "
    "128\\*128\\*32 = 524,288 numbers, a dense layer of 128 units, dropout and 4 outputs (one "
    "per person). **67,114,596** parameters (268 MB in float32), 99.99% of them in the "
    "dense layer after the flatten: 524,288\\*128 + 128 = 67,108,992.",
)

COMPLEX_FACE_DETECTOR = Preset(
    "ComplexFaceDetector (seed chapter), 512x512",
    (512, 512),
    3,
    [
        conv(3, 32, padding=1),
        pool(),
        conv(3, 64, padding=1),
        pool(),
        conv(3, 128, padding=1),
        pool(),
        plain("dropout"),
        plain("flatten"),
        dense(512),
        plain("dropout"),
        dense(4),
    ],
    "The chapter's complex model: 3x3 convolutions (padding 1) 3 -> 32 -> 64 -> 128, each "
    "followed by a 2x2 max-pool (512 -> 256 -> 128 -> 64), dropout, a flatten of "
    "64\\*64\\*128 = 524,288 numbers, a dense layer of 512 units, dropout and 4 outputs. "
    "**268,531,268** parameters, about 1.07 GB in float32: 896 + 18,496 + 73,856 in the "
    "convolutions, 524,288\\*512 + 512 = 268,435,968 (99.96%) in the first dense layer and "
    "512\\*4 + 4 = 2,052 in the last. The convolutions that find the faces are 0.03% of it; "
    "the flatten makes every pixel position a separate set of weights. Too big to build here: "
    "sized by arithmetic only.",
)

PRESETS = {
    preset.name: preset
    for preset in (MNIST_MLP, SMALL_CNN, SIMPLE_FACE_DETECTOR, COMPLEX_FACE_DETECTOR)
}


def menny_rows(widths: Sequence[int], batch_norm: bool, num_classes: int) -> list[list[Cell]]:
    """The rows of a Menny-shaped classifier: per block conv 3x3 (padding 1) -> [batchnorm]
    -> max-pool 2x2, then gap, dropout and a dense layer of `num_classes` outputs."""
    rows: list[list[Cell]] = []
    for width in widths:
        rows.append(conv(3, width, padding=1))
        if batch_norm:
            rows.append(plain("batchnorm"))
        rows.append(pool())
    return [*rows, plain("gap"), plain("dropout"), dense(num_classes)]


def menny_preset(
    widths: Sequence[int],
    batch_norm: bool,
    classes: Sequence[str],
    image_size: int,
    left_out: str = "",
) -> Preset:
    """Menny as its weights file describes it: `widths` filters per block, BatchNorm or not,
    one output per class, `image_size` pixels per side (what it was trained on).

    left_out: a sentence about what the table cannot hold (the caller knows: e.g. the
    detector heads' parameters, which read several maps side by side).
    """
    blocks = " -> ".join(map(str, widths))
    norm = " -> BatchNorm" if batch_norm else ""
    description = (
        f"Menny as shipped: {len(widths)} blocks of 3x3 conv (padding 1){norm} -> ReLU -> "
        f"2x2 max-pool with {blocks} filters on {image_size}x{image_size} RGB, then global "
        f"average pooling, dropout and a dense layer to its {len(classes)} classes "
        f"({', '.join(classes)}). The gap makes the dense layer's count independent of the "
        "picture's size. " + left_out
    )
    rows = menny_rows(widths, batch_norm, len(classes))
    return Preset("Menny as shipped", (image_size, image_size), 3, rows, description.strip())
