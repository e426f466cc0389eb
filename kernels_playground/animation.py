"""The sliding window, drawn: one frame per output cell, input and output side by side.

`frame(lab, index)` draws the lab at its index-th output cell (reading order, row by row):
on the left, labelled "input", the grid as the operation sees it with the cells that
output reads highlighted (padding cells hatched grey, so they never look like input); on
the right, labelled "output", the cells written so far, the current one highlighted, the
rest still empty. The caption says which cell is written and its value. Every frame is
drawn from grid_lab's computation (`pin`), never by hand.

`animate(lab)` renders the whole sweep as an animated GIF (Pillow), at most MAX_FRAMES
frames: a longer sweep shows its first MAX_FRAMES cells and `Animation.note` says so.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kernels_playground.explain import short_number
from kernels_playground.grid_lab import Lab
from kernels_playground.grid_steps import cell_text, pin, position_of

MAX_FRAMES = 120
FRAME_MS = 450  # per output cell: slow enough to follow the window with the eye
PANEL = 360  # the largest side of a panel's grid, in pixels
MARGIN, TITLE, CAPTION = 16, 30, 34
INK, FAINT, GRID_LINE = (20, 20, 20), (150, 150, 150), (190, 190, 190)
WINDOW, WRITTEN = (255, 196, 0), (255, 140, 0)  # window cells; the cell being written
PADDING, HATCH = (225, 228, 235), (170, 176, 190)
PADDED_WINDOW = (255, 232, 160)  # a padding cell under the window: paler than input


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _cell_size(shape: tuple[int, int]) -> int:
    """Pixels per cell so the larger side fits PANEL: 44 for small grids, at least 4."""
    return int(np.clip(PANEL // max(shape), 4, 44))


def _shade(values: np.ndarray) -> np.ndarray:
    """Light greys (255 white .. 170) from the finite values' range, so black numbers stay
    readable and a picture still shows: higher values lighter."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    span = high - low or 1.0
    level = 170 + 85 * (np.where(np.isfinite(values), values, low) - low) / span
    return np.rint(level).astype(int)


def _text_in(draw: ImageDraw.ImageDraw, box, text: str, colour) -> None:
    """`text` centred in box (x0, y0, x1, y1), in the largest font (8..14 px) that fits."""
    x0, y0, x1, y1 = box
    for size in (14, 12, 10, 8):
        font = _font(size)
        if font.getlength(text) <= (x1 - x0) - 3 and size <= (y1 - y0) - 2:
            draw.text(((x0 + x1) / 2, (y0 + y1) / 2), text, fill=colour, font=font, anchor="mm")
            return


def _cell(draw, box, value: float, fill, padding: bool, shown: bool = True) -> None:
    """One cell: its fill, a stroke across a padding cell (so padding never looks like
    input, even under the window), and its number (faint on padding) if `shown`."""
    draw.rectangle(box, fill=fill, outline=GRID_LINE)
    if padding:
        draw.line((box[0], box[3], box[2], box[1]), fill=HATCH, width=2)
    if shown and box[2] - box[0] >= 16:
        _text_in(draw, box, cell_text(value), FAINT if padding else INK)


@dataclass(frozen=True)
class Layout:
    """Where things go in a frame: the two panels' origins and cell sizes, the frame size."""

    input_at: tuple[int, int]
    output_at: tuple[int, int]
    input_cell: int
    output_cell: int
    size: tuple[int, int]

    def box(self, panel: str, row: int, col: int) -> tuple[int, int, int, int]:
        """The pixel box (x0, y0, x1, y1) of cell (row, col) of the "input" or "output" panel."""
        (x, y), a = (
            (self.input_at, self.input_cell)
            if panel == "input"
            else (self.output_at, self.output_cell)
        )
        return (x + col * a, y + row * a, x + (col + 1) * a, y + (row + 1) * a)


def layout(lab: Lab) -> Layout:
    """The frame's geometry: input panel left, output panel right, titles above."""
    a, b = _cell_size(lab.shown.shape), _cell_size(lab.output.shape)
    in_w, in_h = lab.shown.shape[1] * a, lab.shown.shape[0] * a
    out_w, out_h = lab.output.shape[1] * b, lab.output.shape[0] * b
    width = MARGIN * 3 + in_w + out_w
    height = MARGIN * 2 + TITLE + max(in_h, out_h) + CAPTION
    top = MARGIN + TITLE
    return Layout((MARGIN, top), (MARGIN * 2 + in_w, top), a, b, (max(width, 420), height))


class Sweep:
    """The frames of one lab. The parts every frame shares (both panels' cells and numbers,
    the titles) are drawn once, twice over: with every output cell written, and with none;
    a frame copies the written cells from the first, then draws only what moves."""

    def __init__(self, lab: Lab):
        self.lab, self.layout = lab, layout(lab)
        self.written, self.empty = self._base(True), self._base(False)

    def _base(self, written: bool) -> np.ndarray:
        lab, geometry = self.lab, self.layout
        image = Image.new("RGB", geometry.size, "white")
        draw = ImageDraw.Draw(image)
        for panel, values, padding in (
            ("input", lab.shown, lab.is_padding),
            ("output", lab.output, np.zeros(lab.output.shape, bool)),
        ):
            shades = _shade(values)
            shown = written or panel == "input"
            for (r, c), value in np.ndenumerate(values):
                fill = PADDING if padding[r, c] else (int(shades[r, c]),) * 3
                box = geometry.box(panel, r, c)
                _cell(draw, box, value, fill if shown else "white", padding[r, c], shown)
        title = _font(16)
        draw.text((geometry.input_at[0], MARGIN), "input", fill=INK, font=title)
        draw.text((geometry.output_at[0], MARGIN), "output", fill=INK, font=title)
        return np.array(image)

    def frame(self, index: int) -> np.ndarray:
        """The sweep at output cell `index` (reading order): uint8 RGB (H, W, 3)."""
        lab, geometry = self.lab, self.layout
        row, col = position_of(lab, index)
        pinned = pin(lab, row, col)
        pixels = self.empty.copy()
        # Written so far: every row above, and this row up to this cell.
        x0, y0, _, _ = geometry.box("output", 0, 0)
        _, _, x1, y1 = geometry.box("output", row - 1, lab.output.shape[1] - 1)
        pixels[y0:y1, x0:x1] = self.written[y0:y1, x0:x1]
        _, y0, _, _ = geometry.box("output", row, 0)
        _, _, x1, y1 = geometry.box("output", row, col)
        pixels[y0:y1, x0:x1] = self.written[y0:y1, x0:x1]
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        for r, c in pinned.cells:
            padding = bool(lab.is_padding[r, c])
            fill = PADDED_WINDOW if padding else WINDOW
            _cell(draw, geometry.box("input", r, c), lab.shown[r, c], fill, padding)
        if pinned.cells:  # the window's outline, so its extent reads at a glance
            rows, cols = [r for r, _ in pinned.cells], [c for _, c in pinned.cells]
            left, top, _, _ = geometry.box("input", min(rows), min(cols))
            _, _, right, bottom = geometry.box("input", max(rows), max(cols))
            draw.rectangle((left, top, right, bottom), outline=WRITTEN, width=3)
        box = geometry.box("output", row, col)
        _cell(draw, box, pinned.value, WRITTEN, False)
        draw.rectangle(box, outline=INK, width=2)
        caption = (
            f"{lab.settings.operation}: output ({row}, {col}) = {short_number(pinned.value)}"
            f"   [{index + 1} of {lab.positions}]"
        )
        draw.text((MARGIN, geometry.size[1] - CAPTION + 8), caption, fill=INK, font=_font(14))
        return np.asarray(image)


def frame(lab: Lab, index: int) -> np.ndarray:
    """The sweep at output cell `index` (reading order, row by row): uint8 RGB (H, W, 3)."""
    return Sweep(lab).frame(index)


@dataclass(frozen=True)
class Animation:
    """gif: the animated GIF's bytes; frames: how many; note: what it shows, one sentence."""

    gif: bytes
    frames: int
    note: str


def animate(lab: Lab, max_frames: int = MAX_FRAMES) -> Animation:
    """The whole sweep as an animated GIF, one frame per output cell in reading order,
    FRAME_MS each, looping; at most `max_frames` frames (the first ones), said in the note."""
    count = min(lab.positions, max_frames)
    sweep = Sweep(lab)
    pictures = [sweep.frame(index) for index in range(count)]
    # One palette for every frame, from the cells with every number written and a frame's
    # highlights: mapping onto a given palette costs ~2 ms a frame, an adaptive one ~40.
    palette = Image.fromarray(np.concatenate([sweep.written, pictures[0]])).quantize(256)
    frames = [
        Image.fromarray(p).quantize(palette=palette, dither=Image.Dither.NONE) for p in pictures
    ]
    buffer = io.BytesIO()
    # optimize=False: Pillow's frame-difference search took ~30 ms a frame for a 3x smaller file.
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=FRAME_MS,
        loop=0,
        optimize=False,
    )
    note = f"The sweep: all {count} output cells, one frame each."
    if lab.positions > max_frames:
        note = (
            f"The sweep has {lab.positions} output cells, more than the {max_frames} frames an "
            f"animation may have, so it shows the first {max_frames}: use a smaller grid or a "
            "larger stride to see it all."
        )
    return Animation(buffer.getvalue(), count, note)
