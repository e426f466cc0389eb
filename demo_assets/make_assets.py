"""Draw the playground's test images, no downloads: `python demo_assets/make_assets.py`.

Each is a classic for seeing what a kernel does, 256x256 RGB:
    checkerboard   edges in two directions and corners (Sobel x vs y, Laplacian)
    circle         edges at every angle (edge magnitude is a ring)
    step_edge      one vertical edge (a Sobel-x kernel answers, Sobel-y stays at zero)
    siemens_star   spokes that get finer toward the centre (blur and stride alias them)
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
HERE = Path(__file__).resolve().parent


def checkerboard(cells: int = 8) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    side = SIZE // cells
    for row in range(cells):
        for col in range(cells):
            if (row + col) % 2:
                draw.rectangle(
                    [col * side, row * side, (col + 1) * side - 1, (row + 1) * side - 1], "black"
                )
    return image


def circle() -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), (30, 30, 60))
    margin = SIZE // 5
    ImageDraw.Draw(image).ellipse([margin, margin, SIZE - margin, SIZE - margin], (240, 200, 40))
    return image


def step_edge() -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), (40, 40, 40))
    ImageDraw.Draw(image).rectangle([SIZE // 2, 0, SIZE - 1, SIZE - 1], (220, 220, 220))
    return image


def siemens_star(spokes: int = 36) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    centre, radius = SIZE / 2, SIZE / 2 - 4
    for spoke in range(spokes):
        start = 2 * math.pi * spoke / spokes
        end = start + math.pi / spokes
        points = [(centre, centre)] + [
            (centre + radius * math.cos(a), centre + radius * math.sin(a))
            for a in (start + (end - start) * t / 8 for t in range(9))
        ]
        draw.polygon(points, "black")
    return image


ASSETS = {
    "checkerboard": checkerboard,
    "circle": circle,
    "step_edge": step_edge,
    "siemens_star": siemens_star,
}

if __name__ == "__main__":
    for name, draw_it in ASSETS.items():
        draw_it().save(HERE / f"{name}.png", optimize=True)
        print(HERE / f"{name}.png")
