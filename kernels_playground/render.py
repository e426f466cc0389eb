"""Turn a feature map (any float range) into pixels a person can read, and say how.

A feature map is not an image: a Sobel on a uint8 photo gives values in about -1020..1020.
Rescaling is unavoidable, so `Rendered.note` says exactly what was done:

- signed maps (some value < 0): a diverging blue-white-red map scaled by
  s = max(|min|, |max|), so 0 is always white, -s pure blue (0, 0, 255) and +s pure red
  (255, 0, 0); the sign of a response stays visible.
- non-negative maps: grey from 0 (black) to the maximum (white). It starts at 0, not at
  the minimum, so a blur of a bright image stays bright rather than being stretched.
- per-channel maps (H, W, C>1): non-negative ones are shown as colour (RGB channels,
  a 4th channel dropped), each channel on the same 0..max scale; signed ones as |value|.
Constant maps never divide by zero: all-zero is black; a tiny but non-zero maximum (even a
subnormal float32 like 1e-40) is still a scale. The note writes numbers with 4 significant
digits (0.1111, 1e-40, -5.1e+32), whole numbers below a million in full (57375).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from menny_base.errors import MennyError


@dataclass(frozen=True)
class Rendered:
    """image: (H, W, 3) uint8; low/high: the value range of the map; signed: min < 0."""

    image: np.ndarray
    low: float
    high: float
    signed: bool
    note: str


def render_feature_map(feature_map: np.ndarray) -> Rendered:
    """Colour an (H, W) or (H, W, C) feature map as described in the module docstring."""
    values = np.asarray(feature_map, dtype=np.float32)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim not in (2, 3) or values.size == 0:
        raise MennyError(f"feature map must be (H, W) or (H, W, C), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise MennyError("feature map contains NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    signed = low < 0
    if values.ndim == 3:
        return _render_channels(values, low, high, signed)
    if signed:
        scale = max(-low, high)
        image = _diverging(values / scale)
        note = (
            f"values {_short(low)} .. {_short(high)} shown as blue (negative) .. white (0) .. "
            f"red (positive), scaled by {_short(scale)}"
        )
    else:
        image, note = _grey(values, high)
    return Rendered(image, low, high, signed, note)


def _grey(values: np.ndarray, high: float) -> tuple[np.ndarray, str]:
    if high == 0:
        return np.zeros((*values.shape[:2], 3), np.uint8), "all values are 0, shown as black"
    level = _to_byte(values / high)
    image = level[:, :, None].repeat(3, axis=2) if level.ndim == 2 else level
    return image, f"values 0 .. {_short(high)} shown as black .. white (divided by {_short(high)})"


def _diverging(t: np.ndarray) -> np.ndarray:
    """t in [-1, 1]: -1 blue, 0 white, +1 red, linear in between."""
    fade = _to_byte(1.0 - np.abs(t))  # how much of the other two channels remains
    full = np.full_like(fade, 255)
    red = np.where(t >= 0, full, fade)
    blue = np.where(t <= 0, full, fade)
    return np.stack([red, fade, blue], axis=-1)


def _render_channels(values: np.ndarray, low: float, high: float, signed: bool) -> Rendered:
    channels = values.shape[2]
    colour = values[:, :, :3] if channels >= 3 else values[:, :, :1].repeat(3, axis=2)
    if signed:
        colour = np.abs(colour)
    image, note = _grey(colour, float(colour.max()))
    what = "RGB" if channels >= 3 else "grey"
    prefix = f"{channels} channels shown as {what}"
    if signed:
        prefix += f" of |value| (values {_short(low)} .. {_short(high)}; the sign is not shown)"
    return Rendered(image, low, high, signed, f"{prefix}; {note}")


def _short(value: float) -> str:
    """A value for the note: 4 significant digits, but whole numbers below 1e6 in full."""
    if 1e4 <= abs(value) < 1e6:
        return f"{value:.0f}"
    return f"{value:.4g}"


def _to_byte(unit: np.ndarray) -> np.ndarray:
    """[0, 1] -> 0..255, rounded to the nearest integer."""
    return np.rint(np.clip(unit, 0.0, 1.0) * 255).astype(np.uint8)
