"""Hard pictures without a face: almost a face, but not one. Skin-coloured ovals without
eyes, nose or mouth; shoulders and clothes with the head out of the picture; a person seen
from behind. A detector that learns "skin blob" or "hair over shoulders" means a face fails
here; one that looks for eyes, nose and mouth does not.

Each function takes a Generator and the canvas side `big` (twice the output side) and
returns a big x big RGB PIL image, as `patterns` and `clutter` do.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from menny_core.portraits import hair as hair_parts
from menny_core.portraits.character import Character
from menny_core.portraits.clothes import Outfit, draw_body
from menny_core.portraits.clutter import ground, portrait_backdrop
from menny_core.portraits.features import Pose, shade, superellipse
from menny_core.portraits.palette import random_colour
from menny_core.portraits.strangers import random_skin, random_stranger


def skin_ovals(rng: np.random.Generator, big: int) -> Image.Image:
    """Face-sized ovals of skin colour with no eyes, nose or mouth: a blob is not a face.
    Some have ears, a hair cap or a neck, and the outline portraits draw."""
    image = ground(rng, big)
    draw = ImageDraw.Draw(image)
    lw = max(1, round(big / 320))
    for _ in range(int(rng.integers(1, 4))):
        a = big * rng.uniform(0.08, 0.22)
        b = a * rng.uniform(0.9, 1.5)
        cx, cy = rng.uniform(0.1, 0.9) * big, rng.uniform(0.1, 0.9) * big
        skin = random_skin(rng)
        if rng.random() < 0.4:  # a neck
            draw.rectangle(
                (cx - 0.42 * a, cy + b * 0.5, cx + 0.42 * a, cy + b * 1.8), fill=shade(skin, 0.85)
            )
        if rng.random() < 0.4:  # ears
            for side in (-1, 1):
                ex, ry = cx + side * a, b * 0.17
                draw.ellipse((ex - a * 0.2, cy - ry, ex + a * 0.2, cy + ry), fill=shade(skin, 0.92))
        outline = superellipse(cx, cy, a, b, 2.0, rng.uniform(1.6, 3.8))
        draw.polygon(outline, fill=skin, outline=shade(skin, 0.62), width=lw)
        if rng.random() < 0.3:  # a hair cap
            hair = random_colour(rng)
            draw.chord(
                (cx - a * 1.05, cy - b * 1.05, cx + a * 1.05, cy + b * 0.4), 180, 360, fill=hair
            )
    return image


def _person(rng: np.random.Generator, big: int, head_y: float) -> tuple[Pose, Character, Outfit]:
    """A stranger's head (front on) at height head_y, and clothes of any colours."""
    who = random_stranger(rng)
    a = big * who.head_width * rng.uniform(0.86, 1.1)
    pose = Pose(
        cx=big * rng.uniform(0.35, 0.65), cy=head_y, a=a, b=a * who.head_ratio, yaw=0.0, pitch=0.0
    )
    outfit = Outfit(random_colour(rng), random_colour(rng))
    return pose, who, outfit


def body(rng: np.random.Generator, big: int) -> Image.Image:
    """Shoulders and clothes with the head above the picture's top edge."""
    image = portrait_backdrop(rng, big) if rng.random() < 0.6 else ground(rng, big)
    pose, who, outfit = _person(rng, big, 0.0)
    pose = Pose(pose.cx, -pose.b * rng.uniform(1.0, 1.6), pose.a, pose.b, 0.0, 0.0)
    draw = ImageDraw.Draw(image)
    draw_body(draw, pose, who, who.skin, outfit, max(1, round(big / 320)))
    return image


def back_of_head(rng: np.random.Generator, big: int) -> Image.Image:
    """A person seen from behind: hair (or a bald scalp) where the face would be."""
    image = portrait_backdrop(rng, big) if rng.random() < 0.6 else ground(rng, big)
    pose, who, outfit = _person(rng, big, big * rng.uniform(0.35, 0.44))
    draw = ImageDraw.Draw(image)
    lw = max(1, round(big / 320))
    hair = who.hair_colour
    hair_parts.draw_hair_back(draw, pose, who, hair)
    draw_body(draw, pose, who, who.skin, Outfit(outfit.main, outfit.main), lw)
    for side in (-1, 1):  # the ears, from behind
        x, y, ry = pose.cx + side * pose.a * 0.98, pose.cy + pose.b * 0.08, pose.b * 0.17
        draw.ellipse(
            (x - pose.a * 0.15, y - ry, x + pose.a * 0.15, y + ry), fill=shade(who.skin, 0.9)
        )
    scalp = who.skin if who.hair_style == "bald" else hair
    head = superellipse(pose.cx, pose.cy, pose.a * 1.03, pose.b * 1.03, 2.0, 2.2)
    draw.polygon(head, fill=scalp, outline=shade(scalp, 0.7), width=lw)
    if who.hair_style == "bald":  # what hair is left: a band low at the back
        draw.chord(
            (pose.cx - pose.a, pose.cy - pose.b * 0.3, pose.cx + pose.a, pose.cy + pose.b * 0.7),
            0,
            180,
            fill=hair,
        )
    return image
