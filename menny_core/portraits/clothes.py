"""Drawing one portrait's clothes with Pillow's ImageDraw: neck, shoulders, garment, jewellery.

Each character wears one kind of garment (cardigan over a shirt, hoodie, striped tee,
blouse with a necklace): a shape cue the network can use when colours are unreliable.
Strangers may also wear a t-shirt, a turtleneck, a shirt and tie, or an open jacket.
The body turns about 40% as much as the head, as people's shoulders do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from menny_core.portraits.character import RGB, Character
from menny_core.portraits.features import Pose, shade


@dataclass(frozen=True)
class Outfit:
    """Colours of one picture's clothes: the garment and a second (shirt, stripes, collar)."""

    main: RGB
    second: RGB


def draw_body(
    draw: ImageDraw.ImageDraw, pose: Pose, who: Character, skin: RGB, outfit: Outfit, lw: int
) -> None:
    """Neck, shoulders and the garment, turned about 40% as much as the head."""
    a, b, bottom = pose.a, pose.b, draw.im.size[1] + 10
    cx = pose.cx + 0.3 * a * pose.turn
    sw, nw = who.shoulders * a * (1 - 0.25 * abs(pose.turn)), 0.42 * a
    ys = pose.cy + b * 1.05 + a * 0.55  # shoulder line: a neck's length below the chin
    main, second, edge = outfit.main, outfit.second, shade(outfit.main, 0.6)
    neck_l, neck_r = (cx - nw * 1.3, ys - a * 0.05), (cx + nw * 1.3, ys - a * 0.05)
    if who.clothing == "hoodie":  # the hood lies behind the neck on the shoulders
        hood = (cx - a * 1.1, ys - a * 0.55, cx + a * 1.1, ys + a * 0.55)
        draw.ellipse(hood, fill=shade(main, 0.72), outline=edge, width=lw)
    neck = (pose.cx - nw, pose.cy + b * 0.5, pose.cx + nw, ys + a * 0.2)
    draw.rectangle(neck, fill=shade(skin, 0.85))
    quarter = np.linspace(0, math.pi / 2, 8)
    left = [
        (cx - sw * (0.65 + 0.35 * math.sin(t)), ys + a * 0.6 * (1 - math.cos(t))) for t in quarter
    ]
    right = [(2 * cx - x, y) for x, y in left]
    torso = [
        neck_l,
        *left,
        (cx - sw * 1.04, bottom),
        (cx + sw * 1.04, bottom),
        *right[::-1],
        neck_r,
    ]
    draw.polygon(torso, fill=main, outline=edge, width=lw)
    if who.clothing == "cardigan":  # a V showing a collared shirt, buttons down the front
        v_tip = (cx, ys + a * 1.7)
        draw.polygon([neck_l, v_tip, neck_r], fill=second)
        for s in (-1, 1):
            collar = [
                (cx + s * nw * x, ys + a * y) for x, y in ((1.1, -0.15), (0.2, 0.35), (1.45, 0.25))
            ]
            draw.polygon(collar, fill=second, outline=edge, width=lw)
            draw.line(
                [(cx + s * nw * 1.3, neck_l[1]), (cx + s * a * 0.1, v_tip[1])],
                fill=edge,
                width=lw * 3,
            )
        draw.line([v_tip, (cx, bottom)], fill=edge, width=lw * 2)
        for k in range(4):
            x, y, r = cx + a * 0.12, v_tip[1] + a * (0.15 + 0.4 * k), a * 0.07
            draw.ellipse((x - r, y - r, x + r, y + r), fill=shade(main, 0.4))
    elif who.clothing == "hoodie":  # a round neckline, two drawstrings, the pocket's top
        collar = (cx - nw * 1.35, ys - a * 0.4, cx + nw * 1.35, ys + a * 0.35)
        draw.chord(collar, 0, 180, fill=shade(main, 0.8), outline=edge, width=lw)
        for s in (-1, 1):
            x, end = cx + s * a * 0.3, cx + s * a * 0.35
            draw.line([(x, ys + a * 0.2), (end, ys + a * 1.5)], fill=second, width=lw * 3)
            draw.rectangle(
                (end - lw * 3, ys + a * 1.5, end + lw * 3, ys + a * 1.7), fill=(225, 225, 225)
            )
        draw.line(
            [(cx - sw * 0.6, ys + a * 2.6), (cx + sw * 0.6, ys + a * 2.6)], fill=edge, width=lw * 2
        )
    elif who.clothing == "striped-tee":  # horizontal stripes under a crew neck
        for k in range(8):
            y = ys + a * (0.7 + 0.42 * k)
            draw.rectangle((cx - sw * 1.03 + lw, y, cx + sw * 1.03 - lw, y + a * 0.2), fill=second)
        band = (cx - nw * 1.3, ys - a * 0.3, cx + nw * 1.3, ys + a * 0.25)
        draw.chord(band, 0, 180, fill=second, outline=edge, width=lw)
        draw.chord((cx - nw, ys - a * 0.3, cx + nw, ys + a * 0.12), 0, 180, fill=shade(skin, 0.85))
    elif who.clothing in STRANGERS_CLOTHES:
        _plainer_clothes(draw, who.clothing, (cx, ys, a, nw, bottom), skin, outfit, lw)
        if "necklace" in who.accessories:
            _necklace(draw, cx, ys, a, nw, lw)
    else:  # blouse: a small V of skin, a wide pointed collar, a necklace with a pendant
        v_tip = (cx, ys + a * 0.9)
        draw.polygon([neck_l, v_tip, neck_r], fill=shade(skin, 0.92))
        for s in (-1, 1):
            collar = [
                (cx + s * nw * 1.25, ys - a * 0.12),
                (cx + s * a * 0.05, v_tip[1]),
                (cx + s * a * 1.3, ys + a * 0.55),
            ]
            draw.polygon(collar, fill=second, outline=edge, width=lw)
        _necklace(draw, cx, ys, a, nw, lw)


def _necklace(draw: ImageDraw.ImageDraw, cx: float, ys: float, a: float, nw: float, lw: int):
    gold, r = (215, 175, 60), a * 0.08
    draw.arc((cx - nw, ys - a * 0.6, cx + nw, ys + a * 0.55), 20, 160, fill=gold, width=lw * 2)
    draw.ellipse((cx - r, ys + a * 0.5, cx + r, ys + a * 0.5 + 2 * r), fill=gold)


# Garments only strangers wear (the four's are drawn in draw_body itself).
STRANGERS_CLOTHES = ("t-shirt", "turtleneck", "shirt-tie", "jacket")
# A tie's outline, in head half-widths from the neck's foot: knot, widening blade, tip.
TIE = ((-0.1, 0.15), (0.1, 0.15), (0.2, 2.2), (0.0, 2.45), (-0.2, 2.2))


def _plainer_clothes(
    draw: ImageDraw.ImageDraw,
    clothing: str,
    frame: tuple[float, float, float, float, float],
    skin: RGB,
    outfit: Outfit,
    lw: int,
) -> None:
    """A t-shirt's crew neck, a turtleneck's roll collar, a shirt collar with a tie, or an open
    jacket over a shirt. frame: (body centre x, shoulder line y, head half-width, neck half-
    width, bottom y) in px."""
    cx, ys, a, nw, bottom = frame
    main, second, edge = outfit.main, outfit.second, shade(outfit.main, 0.6)
    if clothing == "t-shirt":
        band = (cx - nw * 1.3, ys - a * 0.3, cx + nw * 1.3, ys + a * 0.3)
        draw.chord(band, 0, 180, fill=shade(main, 0.8), outline=edge, width=lw)
        draw.chord((cx - nw, ys - a * 0.3, cx + nw, ys + a * 0.16), 0, 180, fill=shade(skin, 0.85))
    elif clothing == "turtleneck":  # a rolled collar up the neck, with its folds
        roll = (cx - nw * 1.25, ys - a * 0.75, cx + nw * 1.25, ys + a * 0.3)
        draw.rounded_rectangle(roll, radius=a * 0.2, fill=shade(main, 0.9), outline=edge, width=lw)
        for k in range(1, 4):
            y = ys - a * 0.75 + a * 1.05 * k / 4
            draw.line([(cx - nw * 1.1, y), (cx + nw * 1.1, y)], fill=edge, width=lw)
    elif clothing == "shirt-tie":  # a pale collar, a knotted tie in the second colour
        shirt = (225, 228, 232)
        opening = [(cx - nw * 1.3, ys - a * 0.1), (cx, ys + a * 0.7), (cx + nw * 1.3, ys - a * 0.1)]
        draw.polygon(opening, fill=shirt)
        tie = [(cx + a * x, ys + a * y) for x, y in TIE]
        draw.polygon(tie, fill=second, outline=shade(second, 0.6), width=lw)
        knot = (cx - a * 0.14, ys - a * 0.05, cx + a * 0.14, ys + a * 0.22)
        draw.rectangle(knot, fill=shade(second, 0.8))
        for s in (-1, 1):
            collar = [
                (cx + s * nw * 1.3, ys - a * 0.2),
                (cx + s * a * 0.12, ys + a * 0.3),
                (cx + s * nw * 1.5, ys + a * 0.35),
            ]
            draw.polygon(collar, fill=shirt, outline=(150, 150, 155), width=lw)
    else:  # jacket: lapels open in a deep V over a shirt in the second colour
        v_tip = (cx, ys + a * 2.2)
        neck_l, neck_r = (cx - nw * 1.3, ys - a * 0.05), (cx + nw * 1.3, ys - a * 0.05)
        draw.polygon([neck_l, v_tip, neck_r], fill=second)
        for s in (-1, 1):
            lapel = [
                (cx + s * nw * 1.3, ys - a * 0.05),
                (cx + s * a * 0.05, v_tip[1]),
                (cx + s * a * 0.9, ys + a * 0.9),
                (cx + s * nw * 1.8, ys + a * 0.3),
            ]
            draw.polygon(lapel, fill=shade(main, 0.85), outline=edge, width=lw)
        draw.line([v_tip, (cx, bottom)], fill=edge, width=lw * 2)


def draw_earrings(draw: ImageDraw.ImageDraw, pose: Pose) -> None:
    """Two small gold earrings, on the ears the camera can see."""
    for side in (-1, 1):
        x, y, facing = pose.at(side * 0.999, 0.28)
        if facing > -0.3:
            r = pose.a * 0.06
            draw.ellipse((x - r, y, x + r, y + 2 * r), fill=(220, 180, 60))
