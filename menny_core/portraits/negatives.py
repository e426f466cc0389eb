"""Pictures with NO face, for a face detector to learn "face or not" from.

A detector shown faces against a few kinds of non-faces learns to tell those kinds apart,
not to find faces. So the kinds here are many and broad, from natural-image statistics to
near misses:

    pink_noise     colour noise with a natural photo's 1/f spectrum
    gradient       smooth linear or radial colour ramps
    shapes         overlapping rectangles, ellipses, polygons, lines, arcs
    stripes, checkers, grid, dots, radial    periodic patterns at any scale, angle, colour
    text           random letters and words at random sizes
    scene          a horizon with sky, ground, hills, trees and houses
    blobs          soft blurred colour blobs
    texture        wood and marble made from noise
    backdrop       the portraits' own background, with nobody in front of it
    skin_ovals     face-sized ovals of skin colour without eyes, nose or mouth (hard)
    body           shoulders and clothes, the head out of the picture (hard)
    back_of_head   a person seen from behind (hard)

Every picture is drawn at twice its size, shrunk with LANCZOS and relit exactly as a
portrait is (`draw.finish`), so neither edges nor light give a face away. Colours come as
often from skin, clothes and hair as from anywhere (`palette`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.portraits import clutter, near_faces, patterns
from menny_core.portraits.draw import finish, seeded

_DRAW: dict[str, Callable[[np.random.Generator, int], Image.Image]] = {
    "pink_noise": patterns.pink_noise,
    "gradient": patterns.gradient,
    "shapes": clutter.shapes,
    "stripes": patterns.stripes,
    "checkers": patterns.checkers,
    "grid": patterns.grid,
    "dots": patterns.dots,
    "radial": patterns.radial,
    "text": clutter.text,
    "scene": clutter.scene,
    "blobs": patterns.blobs,
    "texture": patterns.texture,
    "backdrop": clutter.portrait_backdrop,
    "skin_ovals": near_faces.skin_ovals,
    "body": near_faces.body,
    "back_of_head": near_faces.back_of_head,
}
NEGATIVE_KINDS = tuple(_DRAW)


def render_negative(
    rng_or_seed: int | np.random.Generator = 0, size: int = 512, kind: str | None = None
) -> Image.Image:
    """A size x size RGB picture (0..255, no alpha) with no face in it.

    kind: one of NEGATIVE_KINDS, or None for one drawn from `rng_or_seed` (each equally
    likely). The same int seed gives the same pixels; a Generator is drawn from.
    """
    if kind is not None and kind not in _DRAW:
        raise MennyError(f"kind must be None or one of {', '.join(NEGATIVE_KINDS)}, got {kind!r}")
    size = whole(size, "size", 32)
    rng = seeded(rng_or_seed)
    if kind is None:
        kind = NEGATIVE_KINDS[rng.integers(len(NEGATIVE_KINDS))]
    canvas = _DRAW[kind](rng, 2 * size)
    return finish(canvas, rng, size)
