"""Colours for pictures without a face: drawn from the same colours faces are made of (skin
tones, the wardrobe, hair colours) as often as from anywhere else, so that colour alone
never says "face" (a detector must look for eyes, nose and mouth, not for skin)."""

from __future__ import annotations

import numpy as np

from menny_core.portraits.character import RGB
from menny_core.portraits.draw import WARDROBE
from menny_core.portraits.strangers import HAIR_COLOURS, SKIN_TONES

_FACE_COLOURS = (*SKIN_TONES, *WARDROBE, *HAIR_COLOURS.values())


def random_colour(rng: np.random.Generator) -> RGB:
    """One colour: 40% a skin, clothes or hair colour (nudged), 60% anything (0..255)."""
    if rng.random() < 0.4:
        base = np.array(_FACE_COLOURS[rng.integers(len(_FACE_COLOURS))], dtype=np.float64)
        varied = base * rng.uniform(0.8, 1.2) + rng.normal(0, 10, 3)
    else:
        varied = rng.uniform(0, 255, 3)
    c = np.clip(varied, 0, 255).round()
    return (int(c[0]), int(c[1]), int(c[2]))


def random_colours(rng: np.random.Generator, n: int) -> list[RGB]:
    return [random_colour(rng) for _ in range(n)]
