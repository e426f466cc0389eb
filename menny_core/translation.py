"""Translation: move the face across the frame and watch the maps and the answer.

Two different promises hide under "CNNs handle translation":

    EQUIVARIANCE  a convolution slides the same kernel everywhere, so shifting the input
                  shifts the feature map by the same amount (in the map's own cells:
                  input pixels / the layer's jump j). Measured here as the correlation of
                  the shifted picture's map with the original map moved by shift / j
                  cells, against the correlation without moving it.
    INVARIANCE    the answer stays the same wherever the face is. Nothing guarantees it:
                  pooling and global averaging only buy some of it, the edges and the
                  fill colour change what the network sees, and a network trained on
                  centred faces may never have seen an off-centre one. Measured here as
                  each class's probability against the shift.

The shift moves the network's input (S, S) square: the picture is cut to its centre square
and resized to S as Classify does (predict.model_input), then moved right by `shift`
pixels; the strip it uncovers repeats the edge colour (a portrait's backdrop), the part
pushed out is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.model import MennyCNN
from menny_core.predict import model_input
from menny_core.receptive import stages, theoretical_field
from menny_core.stream import normalize
from menny_core.verdicts import softmax

MAX_SHIFT_SHARE = 0.5  # a shift moves the face at most half the input's side
CURVE_POINTS = 17  # shifts on the probability curve: -max .. +max (one batch)
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127)]  # fmt: skip


def shift_image(image: np.ndarray, shift: int) -> np.ndarray:
    """uint8 (S, S, 3) moved `shift` pixels right (negative: left); the uncovered columns
    repeat the edge column. Same shape and dtype."""
    side = image.shape[1]
    if abs(shift) >= side:
        raise MennyError(f"a shift must be smaller than the image's {side} pixels, got {shift}")
    padded = np.pad(image, ((0, 0), (abs(shift), abs(shift)), (0, 0)), mode="edge")
    start = abs(shift) - shift
    return np.ascontiguousarray(padded[:, start : start + side])


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays, -1..1 (0 if either is constant)."""
    a = np.asarray(a, np.float64).ravel() - np.mean(a)
    b = np.asarray(b, np.float64).ravel() - np.mean(b)
    scale = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / scale) if scale > 0 else 0.0


def moved_correlation(original: np.ndarray, shifted: np.ndarray, cells: int) -> float:
    """Correlation of `shifted` (h, w, C) with `original` moved `cells` columns right, on
    the columns both cover (cells = 0: the maps as they are)."""
    width = original.shape[1]
    if abs(cells) >= width:
        return 0.0
    if cells >= 0:
        return correlation(original[:, : width - cells], shifted[:, cells:])
    return correlation(original[:, -cells:], shifted[:, : width + cells])


@dataclass(frozen=True)
class ShiftResult:
    """One shift experiment.

    shifts (P,) pixels and probabilities (P, K): the curve, one row per shift.
    shift: the chosen shift; picture: the shifted uint8 (S, S, 3) input.
    stage, jump: the layer whose maps are compared and its jump j (input pixels per cell).
    cells: round(shift / j), how far its map should move.
    original, moved: the stage's maps (h, w, C) of the unshifted and shifted input.
    aligned: correlation of `moved` with `original` moved by `cells` (equivariance).
    unaligned: the same without moving (what equivariance is compared with).
    """

    classes: list[str]
    shifts: np.ndarray
    probabilities: np.ndarray
    shift: int
    picture: np.ndarray
    stage: str
    jump: int
    cells: int
    original: np.ndarray
    moved: np.ndarray
    aligned: float
    unaligned: float

    def at(self, shift: int) -> np.ndarray:
        """The class probabilities (K,) at a shift on the curve."""
        return self.probabilities[list(self.shifts).index(shift)]


def max_shift(image_size: int) -> int:
    return int(image_size * MAX_SHIFT_SHARE)


def curve_shifts(image_size: int, shift: int) -> np.ndarray:
    """CURVE_POINTS whole shifts evenly from -max to +max, plus 0 and `shift`, sorted."""
    limit = max_shift(image_size)
    points = np.rint(np.linspace(-limit, limit, CURVE_POINTS)).astype(int)
    return np.unique(np.concatenate([points, [0, shift]]))


def shift_experiment(
    model: MennyCNN,
    classes: list[str],
    image: np.ndarray,
    image_size: int,
    shift: int,
    stage: str = "block 2 conv",
    temperature: float = 1.0,
) -> ShiftResult:
    """Shift a uint8 (H, W, 3) picture's network input by `shift` pixels (|shift| <=
    max_shift) and measure equivariance (the stage's maps) and invariance (the curve).
    All shifted inputs go through the model as one batch."""
    limit = max_shift(image_size)
    shift = whole(shift, "The shift", -limit, limit, " pixels")
    jump = theoretical_field(model, stage).jump  # also checks the stage's name
    base = model_input(np.asarray(image), image_size)
    shifts = curve_shifts(image_size, shift)
    pictures = np.stack([shift_image(base, int(s)) for s in shifts])
    model.eval()
    batch = mx.array(normalize(pictures))
    logits = model(batch)
    chosen = [int(np.flatnonzero(shifts == 0)[0]), int(np.flatnonzero(shifts == shift)[0])]
    maps = dict(model.feature_maps(batch[mx.array(chosen)]))[stage]
    mx.eval(logits, maps)
    probabilities = softmax(np.array(logits, dtype=np.float64), temperature)
    original, moved = (np.array(m, dtype=np.float32) for m in maps)
    cells = round(shift / jump)
    return ShiftResult(
        list(classes), shifts, probabilities, shift, pictures[chosen[1]], stage, jump, cells,
        original, moved, moved_correlation(original, moved, cells),
        moved_correlation(original, moved, 0),
    )  # fmt: skip


def default_stage(model: MennyCNN) -> str:
    """The conv stage of the middle block: coarse enough to see shapes, fine enough to
    see them move."""
    convs = [name for name in stages(model) if name.endswith("conv")]
    return convs[(len(convs) - 1) // 2]


def probability_plot(result: ShiftResult, width: int = 420, height: int = 240) -> np.ndarray:
    """Each class's probability (0..1, up) against the shift (pixels, across), one coloured
    line per class with a legend, the chosen shift marked by a grey line. uint8 (H, W, 3)."""
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=11)
    left, right, top, bottom = 34, width - 96, 10, height - 28
    low, high = float(result.shifts.min()), float(result.shifts.max())

    def x_of(shift: float) -> float:
        return left + (shift - low) / (high - low or 1) * (right - left)

    def y_of(p: float) -> float:
        return bottom - p * (bottom - top)

    for p in (0.0, 0.5, 1.0):
        draw.line((left, y_of(p), right, y_of(p)), fill=(225, 225, 225))
        draw.text((4, y_of(p) - 6), f"{p:.1f}", fill=(0, 0, 0), font=font)
    for s in (low, 0.0, high):
        draw.text((x_of(s) - 8, bottom + 4), f"{s:+.0f}" if s else "0", fill=(0, 0, 0), font=font)
    draw.text((left + 40, bottom + 14), "shift (pixels)", fill=(0, 0, 0), font=font)
    draw.line((x_of(result.shift), top, x_of(result.shift), bottom), fill=(150, 150, 150))
    for k, name in enumerate(result.classes):
        colour = COLOURS[k % len(COLOURS)]
        points = [
            (x_of(s), y_of(p))
            for s, p in zip(result.shifts, result.probabilities[:, k], strict=True)
        ]
        draw.line(points, fill=colour, width=2)
        # The legend starts below the corner where Gradio lays its image buttons.
        draw.text((right + 8, top + 30 + 14 * k), name[:14], fill=colour, font=font)
    draw.rectangle((left, top, right, bottom), outline=(0, 0, 0))
    return np.asarray(canvas)
