"""The grid lab's words: one-click examples from the course, and texts in the lab's numbers.

Every example is a test (tests/test_grid_lab.py): its numbers are computed by the lab, not
written here, except for the course's own misprint, which the Laplacian example names.
`upsampling_markdown` puts the weight-free upsamplings beside the transposed convolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kernels_playground.explain import markdown_table
from kernels_playground.grid_lab import Lab, Settings, grid_text
from kernels_playground.transposed import pixel_shuffle, shuffle_channels, upsample

MAX_SHOWN_SIDE = 32  # an upsampled grid wider than this is described, not tabled


STEP_EDGE = grid_text([[255, 255, 255, 0, 0, 0]] * 6)  # bright left half, dark right half
SQUARE = np.full((10, 10), 20)
SQUARE[3:7, 3:7] = 200  # a bright square on a dark ground: a 10x10 picture


@dataclass(frozen=True)
class Example:
    """A lab set-up: input grid and kernel as text, settings, the output cell pinned, and
    what to notice (markdown)."""

    grid: str
    kernel: str
    settings: Settings = field(default_factory=Settings)
    pinned: tuple[int, int] = (0, 0)
    note: str = ""


EXAMPLES: dict[str, Example] = {
    "the course's Laplacian on a 3x3 patch": Example(
        grid_text([[140, 120, 120], [225, 220, 205], [255, 250, 230]]),
        grid_text([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]),
        note=(
            "The course's worked example. The course prints **60**, but the sum is "
            "`4*220 - (120+225+205+250) = 880 - 800 = 80`: the course's 60 is a misprint, and "
            "**80** is what the kernel really gives (the pinned cell shows every product)."
        ),
    ),
    "vertical edge kernel on a step edge": Example(
        STEP_EDGE,
        grid_text([[1, 0, -1]] * 3),
        pinned=(0, 1),
        note=(
            "The chapter's vertical-edge kernel (left column minus right column). Where the "
            "window straddles the edge it gives `3*255 - 3*0 = 765`; on flat areas 0."
        ),
    ),
    "horizontal edge kernel on the same step edge": Example(
        STEP_EDGE,
        grid_text([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
        pinned=(0, 1),
        note=(
            "The chapter's horizontal-edge kernel (top row minus bottom row) on the same "
            "vertical edge: every row of the window is alike, so the sum is **0** everywhere. "
            "A kernel answers only to edges in its own direction."
        ),
    ),
    "3x3 kernel on a 3x3 image, no padding": Example(
        grid_text([[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        grid_text([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        note=(
            "The kernel fits the image exactly once, so the output is **one number**: "
            "`(3 - 3 + 2*0) / 1 + 1 = 1`. Add padding 1 to get a 3x3 output."
        ),
    ),
    "2x2 max pooling of a 4x4 grid": Example(
        grid_text([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]),
        "1",
        Settings("max pooling", stride=2, window=2),
        note="Each 2x2 block keeps its largest number: a 4x4 grid becomes 2x2, no weights.",
    ),
    "2x2 average pooling of a 4x4 grid": Example(
        grid_text([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]),
        "1",
        Settings("average pooling", stride=2, window=2),
        note="Each 2x2 block keeps its mean: (1 + 1 + 5 + 6) / 4 = 3.25 for the first.",
    ),
    "stride 2 on a 7x7 grid": Example(
        grid_text(np.arange(1, 50).reshape(7, 7)),
        grid_text(np.ones((3, 3))),
        Settings(stride=2),
        note="Play the sweep: the window jumps 2 cells at a time, so a 7x7 grid gives 3x3.",
    ),
    "transposed convolution, stride 2: 2x2 to 4x4": Example(
        grid_text([[1, 2], [3, 4]]),
        grid_text(np.ones((3, 3))),
        Settings("transposed convolution", stride=2, padding=1, output_padding=1),
        pinned=(1, 1),
        note=(
            "Each input value stamps value x kernel, 2 cells apart; where stamps overlap they "
            "add up (pin (1, 1): four stamps). Padding 1 crops the border; output padding 1 "
            "keeps one more row and column, so 2x2 becomes exactly 4x4."
        ),
    ),
    "a small picture: a bright square, Sobel x": Example(
        grid_text(SQUARE),
        grid_text([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        Settings(padding=1),
        pinned=(4, 2),
        note=(
            "A 10x10 picture: a bright square (200) on a dark ground (20). Sobel x lights "
            "up the left edge (+720) and the right edge (-720): play the sweep."
        ),
    ),
}


def upsampling_factor(settings: Settings) -> int:
    """The factor the weight-free upsamplings use: the stride, at least 2."""
    return max(2, settings.stride)


def upsampling_markdown(lab: Lab) -> str:
    """Nearest, bilinear and pixel-shuffle upsampling of the lab's input grid, by the
    upsampling factor, as markdown tables (or a sentence when they would be too wide)."""
    factor = upsampling_factor(lab.settings)
    height, width = lab.grid.shape
    head = (
        f"**Upsampling by {factor}** (the stride, at least 2), on the same grid, without "
        "learned weights except the pixel shuffle's 1x1 convolution:"
    )
    if max(height, width) * factor > MAX_SHOWN_SIDE:
        return (
            f"{head} the {height}x{width} grid would become {height * factor}x"
            f"{width * factor}, too wide to show as numbers here: use a grid of at most "
            f"{MAX_SHOWN_SIDE // factor} cells a side, or a smaller stride."
        )
    nearest = upsample(lab.grid, factor, "nearest")
    bilinear = upsample(lab.grid, factor, "linear")
    shuffled = pixel_shuffle(shuffle_channels(lab.grid, lab.kernel, factor), factor)
    return (
        f"{head}\n\n*Nearest* (each value becomes a {factor}x{factor} block):\n\n"
        f"{markdown_table(nearest)}\n\n*Bilinear* (blends of the 4 nearest values, "
        f"align_corners=False):\n\n{markdown_table(bilinear)}\n\n*Pixel shuffle*: a 1x1 "
        f"convolution makes {factor * factor} channels (weights: the kernel's top-left "
        f"{factor}x{factor} taps), laid out as {factor}x{factor} blocks. With a "
        f"{factor}x{factor} kernel, stride {factor} and no padding this is exactly the "
        f"transposed convolution:\n\n{markdown_table(shuffled)}"
    )


def lab_lesson(lab: Lab) -> str:
    """What the lab's operation does, in its numbers (markdown)."""
    s, (height, width) = lab.settings, lab.grid.shape
    rows, cols = lab.output.shape
    size = f"Your {height}x{width} grid gives a {rows}x{cols} output."
    if s.operation == "convolution":
        kh, kw = lab.kernel.shape
        return (
            f"{size} A {kh}x{kw} kernel slides over the grid {s.stride} cell(s) at a time; at "
            f"each stop it multiplies the {kh * kw} numbers under it by its weights and adds "
            "them up (cross-correlation: the kernel is not flipped, as in every CNN). "
            f"Padding {s.padding} adds cells around the grid ({s.edge} edges: shown "
            "shaded); dilation spreads the taps apart. The same weights are used at every "
            "stop: that is weight sharing."
        )
    if s.operation == "transposed convolution":
        return (
            f"{size} A transposed convolution goes the other way: each input value stamps "
            f"value x kernel onto the output, {s.stride} cell(s) apart; overlapping stamps add "
            f"up. Padding {s.padding} crops cells off each side; output padding "
            f"{s.output_padding} adds rows and columns at the bottom and right. Decoders use "
            "it to make maps larger with learned weights; nearest and bilinear upsampling do "
            "it without weights (below)."
        )
    return (
        f"{size} Pooling has no weights: each {s.window}x{s.window} window, {s.stride} "
        f"cell(s) apart, keeps its {'largest number' if 'max' in s.operation else 'mean'}. "
        "It makes the map smaller and the answer less sensitive to small shifts."
    )
