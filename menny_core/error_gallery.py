"""Error analysis as pictures: test images in tiles, each framed green (right) or red
(wrong) and captioned with what Menny said and how sure it was.

    sheet([(heading, rows), ...])   one strip per section, a heading line above each
    cell_sheet(report, i, j)        a confusion cell's images
    close_calls_sheet(report)       the least confident right answers of every class
    class_sheet(report)             every class's images, its mistakes first

At most MAX_TILES images per section are drawn (the heading says how many there were), so
a large test split costs no more than a small one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from menny_base.images import ImageError, load_rgb
from menny_core.error_analysis import ErrorReport, ImageResult

TILE = 72  # pixels per side of one thumbnail
COLUMNS = 8
MAX_TILES = 16  # per section
BORDER = 3
CAPTION = 26  # two lines of the default font under each tile
HEADING = 20
RIGHT, WRONG = (40, 160, 60), (210, 40, 40)
BACKGROUND = (255, 255, 255)


def _font(size: int = 11) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def thumbnail(path: str, side: int = TILE) -> Image.Image:
    """The centre square of the image at `path`, side x side (grey if it is unreadable:
    a gallery of a run whose files are gone still draws)."""
    try:
        pixels = load_rgb(path)
    except (ImageError, OSError):
        return Image.new("RGB", (side, side), (200, 200, 200))
    height, width = pixels.shape[:2]
    short = min(height, width)
    top, left = (height - short) // 2, (width - short) // 2
    square = Image.fromarray(pixels[top : top + short, left : left + short])
    return square.resize((side, side), Image.Resampling.BILINEAR)


def _caption(row: ImageResult, classes: Sequence[str]) -> tuple[str, str]:
    said = f"{classes[row.predicted]} {row.confidence:.0%}"
    if row.correct:
        return said, f"right ({row.p_true:.0%})"
    return said, f"true {classes[row.true]} {row.p_true:.0%}"


def sheet(
    sections: Sequence[tuple[str, Sequence[ImageResult]]], classes: Sequence[str]
) -> np.ndarray:
    """Sections of tiles as one picture: uint8 (H, W, 3). Each section is a heading and
    up to MAX_TILES of its rows, COLUMNS a line; an empty section says "no images"."""
    cell_w, cell_h = TILE + 2 * BORDER, TILE + 2 * BORDER + CAPTION
    width = COLUMNS * cell_w
    heights = []
    for _, rows in sections:
        lines = max(1, -(-min(len(rows), MAX_TILES) // COLUMNS))
        heights.append(HEADING + lines * cell_h)
    canvas = Image.new("RGB", (width, max(sum(heights), 1)), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font, y = _font(), 0
    for (heading, rows), height in zip(sections, heights, strict=True):
        shown = list(rows)[:MAX_TILES]
        more = f" (first {len(shown)} of {len(rows)})" if len(rows) > len(shown) else ""
        draw.text((2, y + 4), heading + more, fill=(0, 0, 0), font=_font(12))
        if not shown:
            draw.text((6, y + HEADING + 6), "no images", fill=(120, 120, 120), font=font)
        for index, row in enumerate(shown):
            x0 = (index % COLUMNS) * cell_w
            y0 = y + HEADING + (index // COLUMNS) * cell_h
            colour = RIGHT if row.correct else WRONG
            draw.rectangle((x0, y0, x0 + cell_w - 1, y0 + TILE + 2 * BORDER - 1), fill=colour)
            canvas.paste(thumbnail(row.path), (x0 + BORDER, y0 + BORDER))
            first, second = _caption(row, classes)
            draw.text((x0 + 2, y0 + TILE + 2 * BORDER + 1), first, fill=colour, font=font)
            draw.text((x0 + 2, y0 + TILE + 2 * BORDER + 13), second, fill=(60, 60, 60), font=font)
        y += height
    return np.asarray(canvas)


def cell_sheet(report: ErrorReport, true: str | int, predicted: str | int) -> np.ndarray:
    """The images behind one confusion cell, the most telling first (ErrorReport.cell)."""
    i, j = report.index(true, "true class"), report.index(predicted, "predicted class")
    rows = report.cell(i, j)
    heading = f"true {report.classes[i]}, predicted {report.classes[j]}: {len(rows)} image(s)"
    return sheet([(heading, rows)], report.classes)


def close_calls_sheet(report: ErrorReport, per_class: int = 4) -> np.ndarray:
    """The least confident right answers of every class that has test images."""
    calls = report.least_confident_correct(per_class)
    tested = {report.classes[r.true] for r in report.images}  # classes with test images
    sections = [
        (f"{name}: least confident right answers", rows)
        for name, rows in calls.items()
        if name in tested
    ]
    return sheet(sections, report.classes)


def class_sheet(report: ErrorReport) -> np.ndarray:
    """A strip per class that has test images: its mistakes first, then its close calls."""
    sections = []
    for name in report.classes:
        rows = report.by_class(name)
        if rows:
            wrong = sum(not r.correct for r in rows)
            sections.append((f"{name}: {len(rows)} test image(s), {wrong} wrong", rows))
    return sheet(sections, report.classes)
