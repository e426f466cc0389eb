"""Pictures without a face drawn with ImageDraw: shape clutter, text, simple outdoor scenes
and the portraits' own background (near-faces: `near_faces`).

Each function takes a Generator and the canvas side `big` (twice the output side) and
returns a big x big RGB PIL image, as `patterns` does.
"""

from __future__ import annotations

import functools
import math
import string

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from menny_core.portraits import patterns
from menny_core.portraits.draw import backdrop
from menny_core.portraits.features import shade
from menny_core.portraits.palette import random_colour


def ground(rng: np.random.Generator, big: int) -> Image.Image:
    """Something to draw on: a flat colour, a portrait backdrop, a gradient or 1/f noise."""
    choice = rng.integers(4)
    if choice == 0:
        return Image.new("RGB", (big, big), random_colour(rng))
    if choice == 1:
        return portrait_backdrop(rng, big)
    if choice == 2:
        return patterns.gradient(rng, big)
    return patterns.pink_noise(rng, big)


def portrait_backdrop(rng: np.random.Generator, big: int) -> Image.Image:
    """The background a portrait is drawn on, with nobody in front of it."""
    return Image.fromarray(backdrop(rng, big))


def _sizes(rng: np.random.Generator, big: int, n: int, low: float, high: float) -> np.ndarray:
    """n sizes in px, log-uniform between low and high (fractions of the canvas)."""
    return big * np.exp(rng.uniform(math.log(low), math.log(high), n))


def shapes(rng: np.random.Generator, big: int) -> Image.Image:
    """Overlapping rectangles, ellipses, polygons, lines and arcs of many sizes and colours."""
    image = ground(rng, big)
    draw = ImageDraw.Draw(image)
    count = int(rng.integers(5, 60))
    for size in _sizes(rng, big, count, 0.02, 0.7):
        x, y = rng.uniform(-0.1, 1.1, 2) * big
        fill = random_colour(rng)
        outline = random_colour(rng) if rng.random() < 0.3 else None
        width = max(1, int(size * rng.uniform(0.01, 0.1)))
        kind = rng.integers(5)
        if kind == 0:  # a turned rectangle
            w, h, angle = size, size * rng.uniform(0.2, 1.5), rng.uniform(0, math.pi)
            c, s = math.cos(angle), math.sin(angle)
            corners = [(-w, -h), (w, -h), (w, h), (-w, h)]
            draw.polygon(
                [(x + (p * c - q * s) / 2, y + (p * s + q * c) / 2) for p, q in corners],
                fill=fill,
                outline=outline,
                width=width,
            )
        elif kind == 1:
            ry = size * rng.uniform(0.3, 1.0) / 2
            draw.ellipse(
                (x - size / 2, y - ry, x + size / 2, y + ry),
                fill=fill,
                outline=outline,
                width=width,
            )
        elif kind == 2:  # a regular or a random polygon
            corners = int(rng.integers(3, 9))
            regular = rng.random() < 0.5
            turn = rng.uniform(0, 2 * math.pi)
            radii = np.full(corners, size / 2) if regular else rng.uniform(0.2, 0.5, corners) * size
            points = [
                (
                    x + r * math.cos(turn + 2 * math.pi * i / corners),
                    y + r * math.sin(turn + 2 * math.pi * i / corners),
                )
                for i, r in enumerate(radii)
            ]
            draw.polygon(points, fill=fill, outline=outline, width=width)
        elif kind == 3:
            ends = [(x, y), tuple(rng.uniform(-0.1, 1.1, 2) * big)]
            draw.line(ends, fill=fill, width=max(1, int(size * rng.uniform(0.02, 0.2))))
        else:
            start = rng.uniform(0, 360)
            draw.arc(
                (x - size / 2, y - size / 2, x + size / 2, y + size / 2),
                start,
                start + rng.uniform(30, 300),
                fill=fill,
                width=width * 2,
            )
    return image


@functools.lru_cache(maxsize=128)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


_LETTERS = string.ascii_letters + string.digits + "  .,!?-&@#"


def text(rng: np.random.Generator, big: int) -> Image.Image:
    """Random letters and words in Pillow's default font, at random sizes and colours, in
    lines or scattered; sometimes turned."""
    image = ground(rng, big)
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for size in _sizes(rng, big, int(rng.integers(2, 12)), 0.03, 0.3):
        font = _font(max(4, int(size)))
        length = int(rng.integers(1, 14))
        words = "".join(_LETTERS[i] for i in rng.integers(len(_LETTERS), size=length))
        x, y = rng.uniform(-0.2, 0.95) * big, rng.uniform(-0.05, 0.95) * big
        draw.text((x, y), words, font=font, fill=(*random_colour(rng), 255))
    if rng.random() < 0.35:
        layer = layer.rotate(rng.uniform(-60, 60), resample=Image.Resampling.BILINEAR)
    image.paste(layer, mask=layer)
    return image


def scene(rng: np.random.Generator, big: int) -> Image.Image:
    """A horizon: sky over ground, a sun or moon, clouds, hills, trees and houses."""
    horizon = rng.uniform(0.3, 0.75) * big
    sky_top, sky_low = _sky(rng)
    _, y = patterns.axes(big)
    t = np.broadcast_to((y + 1) / 2, (big, big))
    image = patterns.colourise(t, [sky_top, sky_low, sky_low])
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.6:
        sx, sy, r = rng.uniform(0.1, 0.9) * big, rng.uniform(0.05, 0.6) * horizon, big * 0.05
        draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=random_colour(rng))
    for _ in range(int(rng.integers(0, 5))):  # clouds: a few overlapping ovals
        cx, cy, w = (
            rng.uniform(0, 1) * big,
            rng.uniform(0.05, 0.8) * horizon,
            big * rng.uniform(0.05, 0.15),
        )
        for dx in rng.uniform(-1, 1, 4):
            draw.ellipse(
                (cx + dx * w - w, cy - w * 0.5, cx + dx * w + w, cy + w * 0.5),
                fill=shade((235, 235, 240), rng.uniform(0.7, 1.05)),
            )
    land = _land_colour(rng)
    hills = [(0, big), *_hill_line(rng, big, horizon), (big, big)]
    draw.polygon(hills, fill=shade(land, 0.8))
    draw.rectangle((0, horizon, big, big), fill=land)
    depth = sorted(rng.uniform(0, 1, int(rng.integers(2, 12))))
    for d in depth:  # far to near: lower in the picture and bigger
        base = horizon + (big - horizon) * d
        size = big * (0.05 + 0.3 * d)
        x = rng.uniform(-0.05, 1.05) * big
        if rng.random() < 0.6:
            _tree(draw, rng, x, base, size)
        else:
            _house(draw, rng, x, base, size)
    return image


def _sky(rng: np.random.Generator):
    top, low = [
        ((60, 110, 200), (170, 205, 240)),
        ((40, 40, 90), (240, 150, 90)),
        ((120, 125, 135), (200, 200, 205)),
        ((20, 20, 45), (60, 60, 110)),
    ][rng.integers(4)]
    return shade(top, rng.uniform(0.8, 1.2)), shade(low, rng.uniform(0.8, 1.2))


def _land_colour(rng: np.random.Generator):
    colours = ((70, 130, 60), (120, 100, 60), (190, 170, 120), (110, 110, 110), (230, 230, 235))
    return shade(colours[rng.integers(len(colours))], rng.uniform(0.7, 1.2))


def _hill_line(rng: np.random.Generator, big: int, horizon: float) -> list[tuple[float, float]]:
    """The top of the hills: four sine waves of random heights and phases over the horizon."""
    heights = rng.uniform(0, 0.25, 4) * horizon
    phases = rng.uniform(0, 2 * math.pi, 4)
    xs = np.linspace(0, big, 24)
    waves = sum(
        h * (1 + np.sin(xs / big * (k + 1) * 3 + p)) / 2
        for k, (h, p) in enumerate(zip(heights, phases, strict=True))
    )
    return list(zip(xs.tolist(), (horizon - waves).tolist(), strict=True))


def _tree(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, base: float, size: float):
    trunk = (95, 65, 40)
    draw.rectangle((x - size * 0.06, base - size * 0.5, x + size * 0.06, base), fill=trunk)
    leaves = shade((55, 120, 50), rng.uniform(0.6, 1.3))
    if rng.random() < 0.5:  # a fir
        draw.polygon(
            [
                (x - size * 0.3, base - size * 0.35),
                (x, base - size * 1.2),
                (x + size * 0.3, base - size * 0.35),
            ],
            fill=leaves,
        )
    else:
        r = size * 0.32
        draw.ellipse(
            (x - r, base - size * 0.55 - 1.6 * r, x + r, base - size * 0.55 + 0.4 * r), fill=leaves
        )


def _house(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, base: float, size: float):
    w, h = size * rng.uniform(0.5, 1.0), size * rng.uniform(0.4, 0.8)
    wall, roof = random_colour(rng), shade(random_colour(rng), 0.7)
    draw.rectangle((x - w / 2, base - h, x + w / 2, base), fill=wall, outline=shade(wall, 0.6))
    draw.polygon(
        [(x - w * 0.6, base - h), (x, base - h - size * 0.35), (x + w * 0.6, base - h)], fill=roof
    )
    for k in range(int(rng.integers(1, 4))):  # windows and a door
        wx = x - w / 2 + w * (k + 0.5) / 3
        draw.rectangle(
            (wx - w * 0.08, base - h * 0.75, wx + w * 0.08, base - h * 0.5),
            fill=(200, 220, 235) if rng.random() < 0.7 else (250, 230, 150),
        )
    draw.rectangle((x - w * 0.07, base - h * 0.4, x + w * 0.07, base), fill=shade(wall, 0.5))
