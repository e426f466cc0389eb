"""Pictures without a face made from formulas on the pixel grid: 1/f noise, gradients,
stripes, checkers, grids, dots, radial patterns, wood and marble, blurred blobs.

Each function takes a Generator and the canvas side `big` (twice the output side: like a
portrait, every picture is shrunk with LANCZOS afterwards) and returns a big x big RGB
PIL image. Coordinates u, v run from -1 to 1 across the canvas, turned by a random angle.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from menny_core.portraits.palette import random_colour, random_colours

NOISE_SIDE = 256  # 1/f noise is made at most this big and enlarged: it has little fine detail


def axes(big: int) -> tuple[np.ndarray, np.ndarray]:
    """x as a (1, big) row and y as a (big, 1) column, -1..1 at the pixel centres, float32."""
    r = ((np.arange(big, dtype=np.float32) + 0.5) / big * 2 - 1).astype(np.float32)
    return r[None, :], r[:, None]


def _turned(rng: np.random.Generator, big: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v): the canvas coordinates turned by a random angle, each (big, big) float32."""
    x, y = axes(big)
    angle = rng.uniform(0, math.pi)
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    return x * c + y * s, y * c - x * s


def colourise(t: np.ndarray, colours: list) -> Image.Image:
    """(H, W) values in 0..1 -> an RGB image going through `colours` evenly (2 or more)."""
    stops = np.linspace(0, 1, len(colours))
    table = np.array(colours, dtype=np.float32)
    flat = np.clip(t, 0, 1).ravel()
    planes = [np.interp(flat, stops, table[:, c]).reshape(t.shape) for c in range(3)]
    return Image.fromarray(np.stack(planes, axis=-1).round().astype(np.uint8))


def _indexed(index: np.ndarray, colours: list) -> Image.Image:
    """(H, W) integer index -> the RGB image of colours[index % len(colours)]."""
    table = np.array(colours, dtype=np.uint8)
    return Image.fromarray(table[np.mod(index, len(colours))])


def noise_fields(rng: np.random.Generator, big: int, beta: float, count: int = 1) -> np.ndarray:
    """(count, big, big) float32, each roughly in 0..1 (mean 0.5): noise whose amplitude
    falls as 1/f**beta (beta ~1: the spectrum of natural photos). Made at the OUTPUT side
    (big / 2, at most NOISE_SIDE) and enlarged: the canvas is shrunk back to it anyway."""
    side = max(8, min(big // 2, NOISE_SIDE))
    fy = np.fft.fftfreq(side).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(side).astype(np.float32)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amplitude = f ** np.float32(-beta)
    amplitude[0, 0] = 0.0  # no mean: it is set below
    shape = (count, *f.shape)
    real = rng.standard_normal(shape, dtype=np.float32)
    imaginary = rng.standard_normal(shape, dtype=np.float32)
    fields = np.fft.irfft2((real + 1j * imaginary) * amplitude, s=(side, side)).astype(np.float32)
    spread = fields.std(axis=(1, 2), keepdims=True) * 5  # +-2.5 sigma spans 0..1
    fields = np.clip(0.5 + fields / np.maximum(spread, 1e-12), 0, 1)
    if side == big:
        return fields
    return np.stack([_enlarged(field, big) for field in fields])


def _enlarged(field: np.ndarray, big: int) -> np.ndarray:
    image = Image.fromarray(field, mode="F").resize((big, big), Image.Resampling.BICUBIC)
    return np.asarray(image)


def pink_noise(rng: np.random.Generator, big: int) -> Image.Image:
    """Colour 1/f noise: three noise fields mixed by a random colour matrix."""
    beta = rng.uniform(0.8, 1.8)
    fields = noise_fields(rng, big, beta, 3) - 0.5
    mixing = rng.normal(0, 1, (3, 3)) * 0.25 + np.eye(3) * rng.uniform(0.2, 1.0)
    mixing *= rng.uniform(80, 220) / max(np.abs(mixing).sum(axis=0).max(), 1e-6)
    mean = random_colour(rng)
    planes = [
        np.clip(mean[c] + sum(fields[k] * np.float32(mixing[k, c]) for k in range(3)), 0, 255)
        for c in range(3)
    ]
    return Image.fromarray(np.stack(planes, axis=-1).round().astype(np.uint8))


def gradient(rng: np.random.Generator, big: int) -> Image.Image:
    """A smooth linear or radial gradient through 2..4 colours."""
    colours = random_colours(rng, int(rng.integers(2, 5)))
    if rng.random() < 0.6:
        u, _ = _turned(rng, big)
        t = (u + 1) / 2
    else:
        x, y = axes(big)
        cx, cy = rng.uniform(-1, 1, 2)
        t = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / rng.uniform(1, 2.5)
    return colourise(t, colours)


def stripes(rng: np.random.Generator, big: int) -> Image.Image:
    """Straight stripes at a random angle and width: hard-edged bands or smooth waves."""
    u, _ = _turned(rng, big)
    cycles = math.exp(rng.uniform(math.log(1.5), math.log(big / 16)))
    colours = random_colours(rng, int(rng.integers(2, 5)))
    if rng.random() < 0.5:
        return _indexed(np.floor(u * cycles + rng.uniform(0, 1)).astype(np.int64), colours)
    return colourise(0.5 + 0.5 * np.sin(math.pi * cycles * u), colours[:2])


def checkers(rng: np.random.Generator, big: int) -> Image.Image:
    """A checkerboard at a random angle and square size, sometimes with stretched squares."""
    u, v = _turned(rng, big)
    cycles = math.exp(rng.uniform(math.log(1.5), math.log(big / 16)))
    stretch = rng.uniform(0.5, 2.0) if rng.random() < 0.4 else 1.0
    index = np.floor(u * cycles).astype(np.int64) + np.floor(v * cycles * stretch).astype(np.int64)
    return _indexed(index, random_colours(rng, 2))


def grid(rng: np.random.Generator, big: int) -> Image.Image:
    """Lines in one or two directions over a flat or graded ground."""
    u, v = _turned(rng, big)
    cycles = math.exp(rng.uniform(math.log(2), math.log(big / 12)))
    width = rng.uniform(0.04, 0.3)
    near = np.abs(u * cycles - np.round(u * cycles)) < width / 2
    if rng.random() < 0.7:
        near |= np.abs(v * cycles - np.round(v * cycles)) < width / 2
    ground, line = random_colours(rng, 2)
    return _indexed(near.astype(np.int64), [ground, line])


def dots(rng: np.random.Generator, big: int) -> Image.Image:
    """Round dots on a (sometimes staggered) lattice, of a random size and spacing."""
    u, v = _turned(rng, big)
    cycles = math.exp(rng.uniform(math.log(2), math.log(big / 12)))
    row = np.floor(v * cycles)
    shift = 0.5 * np.mod(row, 2) if rng.random() < 0.5 else 0.0
    du = u * cycles + shift
    du, dv = du - np.round(du), v * cycles - row - 0.5
    radius = rng.uniform(0.1, 0.48)
    inside = (du * du + dv * dv) < radius * radius
    return _indexed(inside.astype(np.int64), random_colours(rng, 2))


def radial(rng: np.random.Generator, big: int) -> Image.Image:
    """Rings, rays or a spiral about a random centre."""
    x, y = axes(big)
    cx, cy = rng.uniform(-0.8, 0.8, 2)
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    angle = np.arctan2(y - cy, x - cx)
    rings, rays = rng.uniform(2, big / 24), int(rng.integers(3, 40))
    phase = {
        "rings": r * rings,
        "rays": angle * rays / (2 * math.pi),
        "spiral": r * rings + angle * rays / (2 * math.pi),
    }[("rings", "rays", "spiral")[rng.integers(3)]]
    colours = random_colours(rng, int(rng.integers(2, 4)))
    if rng.random() < 0.5:
        return _indexed(np.floor(phase).astype(np.int64), colours)
    return colourise(0.5 + 0.5 * np.cos(2 * math.pi * phase), colours[:2])


def texture(rng: np.random.Generator, big: int) -> Image.Image:
    """Wood (rings bent by noise) or marble (veins: a wave bent by noise)."""
    noise = noise_fields(rng, big, rng.uniform(1.2, 2.0))[0]
    u, v = _turned(rng, big)
    if rng.random() < 0.5:  # wood: long rings about an axis far outside the picture
        rings = np.sqrt(u * u + (v * rng.uniform(0.05, 0.4)) ** 2)
        t = np.mod(rings * rng.uniform(4, 20) + noise * rng.uniform(1, 3), 1.0)
        warm = (rng.uniform(90, 200), rng.uniform(50, 130), rng.uniform(20, 70))
        colours = [tuple(int(c * 0.55) for c in warm), tuple(int(c) for c in warm)]
    else:  # marble
        t = 0.5 + 0.5 * np.sin(u * rng.uniform(3, 12) + noise * rng.uniform(4, 12))
        t = t ** rng.uniform(0.3, 3)
        colours = random_colours(rng, 2)
    return colourise(t, colours)


def blobs(rng: np.random.Generator, big: int) -> Image.Image:
    """Soft coloured blobs: ellipses drawn small, blurred, and enlarged."""
    side = max(16, big // 4)
    image = Image.new("RGB", (side, side), random_colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 15))):
        x, y = rng.uniform(0, side, 2)
        rx, ry = rng.uniform(0.03, 0.35, 2) * side
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=random_colour(rng))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 4) * side / 64))
    return image.resize((big, big), Image.Resampling.BICUBIC)
