"""Drawing one portrait's hair with Pillow's ImageDraw: behind the head, in front of it, and locks.

Hair is what tells the characters apart at a glance (a side-part, spikes, a bob with a
fringe, long waves), so its outline follows the same sphere model as the face
(`features`): points at face longitude theta move and narrow as the head turns. Strangers
also wear a short crop, a ponytail, a bun, curls, or no hair on top (bald).
"""

from __future__ import annotations

import itertools
import math

from PIL import ImageDraw

from menny_core.portraits.character import RGB, Character
from menny_core.portraits.features import Pose, shade, superellipse

# Hairlines: (face longitude in degrees, lowest v the hair reaches there) knots, from the
# forehead round to the nape; and each style's volume, the hair's outline in head radii.
# fmt: off
_SHORT_BACK = ((88, -0.12), (110, -0.12), (135, 0.42), (180, 0.45))
HAIRLINES = {
    "side-part": ((0, -0.55), (62, -0.48), (74, 0.12), (84, 0.12), *_SHORT_BACK),
    "spiky": ((0, -0.5), (62, -0.44), (74, 0.05), (84, 0.05), *_SHORT_BACK),
    "bob": ((0, -0.3), (58, -0.32), (68, 0.66), (180, 0.66)),
    "long-wavy": ((0, -0.62), (35, -0.45), (66, 0.3), (74, 0.7), (180, 0.7)),
    "crop": ((0, -0.6), (62, -0.52), (74, 0.0), (84, 0.0), *_SHORT_BACK),
    "ponytail": ((0, -0.66), (50, -0.55), (74, -0.05), (88, -0.1), (110, -0.1), (180, 0.3)),
    "bun": ((0, -0.62), (50, -0.55), (74, -0.05), (88, -0.1), (110, -0.1), (180, 0.3)),
    "curly": ((0, -0.48), (55, -0.42), (70, 0.15), (180, 0.5)),
}
VOLUME = {
    "side-part": 1.07, "spiky": 1.06, "bob": 1.13, "long-wavy": 1.1,
    "crop": 1.04, "ponytail": 1.04, "bun": 1.04, "curly": 1.2,
}
# fmt: on


def _hairline(knots: tuple[tuple[float, float], ...], theta: float) -> float:
    """Lowest v the hair reaches at face longitude `theta` (degrees), linear between knots."""
    t = abs(theta)
    for (t0, v0), (t1, v1) in itertools.pairwise(knots):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return knots[-1][1]


def draw_hair_back(draw: ImageDraw.ImageDraw, pose: Pose, who: Character, hair: RGB) -> None:
    """The hair behind the head: a thin crescent for short hair, a curtain for long hair."""
    back = -0.18 * pose.a * pose.turn  # the back of the head shows on the far side
    cx, cy, a, b = pose.cx + back, pose.cy, pose.a, pose.b
    style = who.hair_style
    if style == "bald":
        return
    if style == "curly":  # a halo of curls round the head
        _curls(draw, cx, cy - b * 0.12, a * 1.32, b * 1.18, hair, pose.a * 0.3)
        return
    if style in ("side-part", "spiky", "crop", "ponytail", "bun"):
        draw.ellipse((cx - a * 1.04, cy - b * 1.04, cx + a * 1.04, cy + b * 0.55), fill=hair)
        if style == "ponytail":  # tied at the back of the crown, falling to one side
            side = -1 if pose.turn > 0.1 else 1
            x0, y0 = pose.cx - 0.9 * a * pose.turn, cy - b * 0.75
            steps = [i / 5 for i in range(6)]
            middle = [(x0 + side * a * 0.9 * t**0.7, y0 + b * 1.6 * t) for t in steps]
            half = [a * 0.3 * (1 - 0.6 * t) for t in steps]
            tail = [(x - w, y) for (x, y), w in zip(middle, half, strict=True)]
            tail += [(x + w, y) for (x, y), w in zip(middle[::-1], half[::-1], strict=True)]
            draw.polygon(tail, fill=hair, outline=shade(hair, 0.7))
        elif style == "bun":  # a round knot on top, a little toward the back
            x, y, r = pose.cx - 0.35 * a * pose.turn, cy - b * 1.02, a * 0.42
            draw.ellipse((x - r, y - r, x + r, y + r), fill=hair, outline=shade(hair, 0.7))
        return
    if who.hair_style == "bob":  # a helmet to the chin, cut straight
        width, bottom = 1.22, 0.72
        shape = superellipse(cx, cy - b * 0.1, a * width, b * 1.02, 2.0, 5.0)
        shape = [(x, min(y, cy + b * bottom)) for x, y in shape]
        draw.polygon(shape, fill=hair)
        return
    # long and wavy: from above the head down past the shoulders, with rippled sides
    left, right, bottom = [], [], cy + b * 2.5
    for i in range(25):
        y = cy - b * 0.6 + (bottom - cy + b * 0.6) * i / 24
        spread = a * (1.12 + 0.45 * i / 24) + a * 0.07 * math.sin(i * 1.3)
        left.append((cx - spread, y))
        right.append((cx + spread, y))
    top = superellipse(cx, cy - b * 0.05, a * 1.14, b * 1.1, 2.0, 2.0)
    draw.polygon([p for p in top if p[1] < cy - b * 0.5], fill=hair)
    draw.polygon(left + right[::-1], fill=hair)


def draw_hair_front(
    draw: ImageDraw.ImageDraw, pose: Pose, who: Character, hair: RGB, lw: int
) -> None:
    """The hair over the head: from the silhouette's top down to the hairline."""
    if who.hair_style == "bald":
        _side_tufts(draw, pose, hair)
        return
    knots = HAIRLINES[who.hair_style]
    volume = VOLUME[who.hair_style]
    lift = -0.28 * pose.pitch  # the same shift the features get
    line = []
    for i in range(37):
        phi = -math.pi / 2 + math.pi * i / 36
        v = min(_hairline(knots, math.degrees(phi - pose.yaw)), 0.9)
        v_seen = v * (1 - 0.15 * abs(pose.pitch)) + lift
        width = math.sqrt(max(0.0, 1 - min(1.0, v_seen) ** 2))
        line.append((pose.cx + pose.a * math.sin(phi) * width, pose.cy + pose.b * v_seen))
    start = math.pi - math.asin(max(-1.0, min(1.0, (line[0][1] - pose.cy) / pose.b)))
    stop = 2 * math.pi + math.asin(max(-1.0, min(1.0, (line[-1][1] - pose.cy) / pose.b)))
    back = -0.06 * pose.a * pose.turn
    arc = []
    for i in range(25):
        t = start + (stop - start) * i / 24
        arc.append(
            (
                pose.cx + back + volume * pose.a * math.cos(t),
                pose.cy + volume * pose.b * math.sin(t),
            )
        )
    draw.polygon(line[::-1] + arc, fill=hair)
    dark = shade(hair, 0.6)
    if who.hair_style == "spiky":  # triangles standing up all round the crown
        for i in range(9):
            t = start + 0.25 + (stop - start - 0.5) * i / 8
            half = 0.17
            p0 = (
                pose.cx + back + volume * pose.a * math.cos(t - half),
                pose.cy + volume * pose.b * math.sin(t - half),
            )
            p1 = (
                pose.cx + back + volume * pose.a * math.cos(t + half),
                pose.cy + volume * pose.b * math.sin(t + half),
            )
            tip = (
                pose.cx + back + 1.38 * pose.a * math.cos(t),
                pose.cy + 1.3 * pose.b * math.sin(t),
            )
            draw.polygon([p0, tip, p1], fill=hair, outline=dark, width=lw)
    elif who.hair_style == "side-part":  # the parting, and combed strands away from it
        x, y, facing = pose.at(-0.45, -0.58)
        if facing > 0.1:
            draw.line(
                [(x, y), (x - pose.a * 0.1, pose.cy - pose.b * 1.02)], fill=dark, width=lw * 2
            )
            for k in range(1, 4):
                sweep = [
                    pose.xy(-0.4 + 0.3 * k * t, -0.62 - 0.25 * (k / 3) * (1 - t) * t * 4)
                    for t in (0.0, 0.5, 1.0)
                ]
                draw.line(sweep, fill=dark, width=lw, joint="curve")
    elif who.hair_style == "long-wavy":  # a centre parting and waves drawn on the locks
        x, y, facing = pose.at(0.0, -0.62)
        if facing > 0.1:
            draw.line(
                [(x, y), (x + pose.a * 0.02, pose.cy - pose.b * 1.08)], fill=dark, width=lw * 2
            )
    elif who.hair_style == "bob":  # the fringe's cut line, straight across
        pts = [(x, y) for x, y in line if pose.cy - pose.b * 0.4 < y < pose.cy - pose.b * 0.2]
        if len(pts) > 1:
            draw.line(pts, fill=dark, width=lw)
    elif who.hair_style == "curly":  # curls along the hair's outline
        for x, y in arc[::3]:
            r = pose.a * 0.16
            draw.ellipse((x - r, y - r, x + r, y + r), fill=hair, outline=dark, width=lw)


def _curls(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, rx: float, ry: float, hair: RGB, r: float
) -> None:
    """An oval of hair with round curls on its rim."""
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=hair)
    for i in range(16):
        t = 2 * math.pi * i / 16
        x, y = cx + rx * math.cos(t), cy + ry * math.sin(t)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=hair, outline=shade(hair, 0.7))


def _side_tufts(draw: ImageDraw.ImageDraw, pose: Pose, hair: RGB) -> None:
    """Bald on top: what hair is left grows above and behind the ears."""
    for side in (-1, 1):
        x, y, facing = pose.at(side * 0.97, -0.12)
        if facing > -0.4:
            rx, ry = pose.a * (0.1 + 0.25 * (1 - max(0.0, facing))), pose.b * 0.22
            draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=hair)


def draw_locks(draw: ImageDraw.ImageDraw, pose: Pose, hair: RGB, lw: int) -> None:
    """Long hair falling over the shoulders on both sides; drawn before the face, so the
    face hides the part of each lock behind it."""
    for side in (-1, 1):
        x, y, facing = pose.at(side * 0.999, -0.2)
        if facing < -0.5:
            continue
        inner, outer = [], []
        for i in range(16):
            t = i / 15
            yy = y + pose.b * 2.2 * t
            wave = pose.a * 0.08 * math.sin(t * 10)
            xx = x + side * pose.a * 0.25 * t + wave
            inner.append((xx - side * pose.a * 0.35, yy))
            outer.append((xx + side * pose.a * (0.25 + 0.1 * t), yy))
        draw.polygon(inner + outer[::-1], fill=hair, outline=shade(hair, 0.7), width=lw)
        for f in (0.35, 0.7):  # strands
            strand = [(p[0] + (q[0] - p[0]) * f, p[1]) for p, q in zip(inner, outer, strict=True)]
            draw.line(strand[3:], fill=shade(hair, 0.75), width=lw, joint="curve")
