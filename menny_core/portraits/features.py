"""Drawing one portrait's face with Pillow's ImageDraw: head, eyes, nose, mouth (hair:
`portrait_hair`, clothes: `portraits`).

The head is treated as a sphere seen by a distant camera. A point of the face is given in
face coordinates (u, v): u from -1 (the character's right edge, image left in a front view)
to +1, v from -1 (top of the head) to +1 (chin), both as fractions of the head's half-width
`a` and half-height `b` in pixels. Turning the head (yaw) moves a point along its circle of
longitude, x = cx + a*sin(asin(u) + yaw), and shrinks its width by cos(asin(u) + yaw); a
point with that cosine below ~0 is behind the head and not drawn. Raising the chin (pitch)
slides every feature up and squeezes them together; lowering it does the opposite. That is
all the 3-D there is: enough for a three-quarter view and a profile to look like one.

Colours are (R, G, B) in 0..255; coordinates are pixels on the working canvas (drawn at
twice the output size and shrunk afterwards, for anti-aliasing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import ImageDraw

from menny_core.portraits.character import RGB, Character

Point = tuple[float, float]


def shade(colour: RGB, factor: float) -> RGB:
    """`colour` times `factor` (< 1 darker, > 1 lighter), clipped to 0..255."""
    return tuple(max(0, min(255, round(c * factor))) for c in colour)  # type: ignore[return-value]


@dataclass(frozen=True)
class Pose:
    """Where the head is and which way it looks.

    cx, cy: head centre in px; a, b: head half-width and half-height in px;
    yaw: radians, positive turns the nose toward the image's right (pi/2 is a profile);
    pitch: -1 (chin down) .. +1 (chin up).
    """

    cx: float
    cy: float
    a: float
    b: float
    yaw: float
    pitch: float

    def at(self, u: float, v: float) -> tuple[float, float, float]:
        """(x, y, facing) of face point (u, v); facing = cos of its angle to the camera."""
        phi = math.asin(max(-1.0, min(1.0, u))) + self.yaw
        # Chin up: features rise toward the top of the head and crowd together.
        v_seen = v * (1 - 0.15 * abs(self.pitch)) - 0.28 * self.pitch
        return self.cx + self.a * math.sin(phi), self.cy + self.b * v_seen, math.cos(phi)

    def xy(self, u: float, v: float) -> Point:
        x, y, _ = self.at(u, v)
        return (x, y)

    @property
    def turn(self) -> float:
        """sin(yaw): 0 front, +-0.6 three-quarter, +-1 profile."""
        return math.sin(self.yaw)


def superellipse(
    cx: float, cy: float, a: float, b: float, top: float, bottom: float, n: int = 72
) -> list[Point]:
    """Outline of a head: exponent `top` for the upper half, `bottom` for the lower one.

    2 is an ellipse; larger exponents square it off (a square jaw is ~3.5).
    """
    points = []
    for i in range(n):
        t = 2 * math.pi * i / n
        c, s = math.cos(t), math.sin(t)
        e = bottom if s > 0 else top
        x = a * math.copysign(abs(c) ** (2 / e), c)
        y = b * math.copysign(abs(s) ** (2 / e), s)
        points.append((cx + x, cy + y))
    return points


# -- head ------------------------------------------------------------------------------


def face_outline(pose: Pose, jaw: float) -> list[Point]:
    """The skin-coloured head oval, before the picture's tilt: the face box is its extent.

    The silhouette is fixed; turning only pushes the jaw a little toward the nose.
    """
    return superellipse(pose.cx + 0.08 * pose.a * pose.turn, pose.cy, pose.a, pose.b, 2.0, jaw)


def draw_face(draw: ImageDraw.ImageDraw, pose: Pose, who: Character, skin: RGB, lw: int) -> None:
    """Ears, the face outline and, in a turned view, the nose and chin that stick out."""
    for side in (-1, 1):
        x, y, facing = pose.at(side * 0.999, 0.08)
        if facing > -0.35:
            rx, ry = pose.a * (0.16 + 0.12 * max(0.0, facing)), pose.b * 0.17
            box = (x - rx, y - ry, x + rx, y + ry)
            draw.ellipse(box, fill=shade(skin, 0.92), outline=shade(skin, 0.62), width=lw)
    draw.polygon(face_outline(pose, who.jaw), fill=skin, outline=shade(skin, 0.62), width=lw)
    for side in (-1, 1):  # ears seen from the side sit on the head, in front of it
        x, y, facing = pose.at(side * 0.999, 0.08)
        if facing > 0.3:
            rx, ry = pose.a * 0.13 * facing + 2, pose.b * 0.15
            box = (x - rx, y - ry, x + rx, y + ry)
            draw.ellipse(box, fill=shade(skin, 0.9), outline=shade(skin, 0.62), width=lw)
            draw.arc(box, 200, 340, fill=shade(skin, 0.6), width=lw)
    if pose.pitch > 0.5:  # the underside of the jaw shows when the chin is up
        x, y = pose.cx, pose.cy + pose.b * 0.95
        draw.chord(
            (x - pose.a * 0.6, y - pose.b * 0.12, x + pose.a * 0.6, y + pose.b * 0.12),
            0,
            180,
            fill=shade(skin, 0.78),
        )


NOSE_SIDEWAYS = 0.3  # from this |sin(yaw)| on, the nose is drawn sticking out of the face


def nose_tip(pose: Pose, length: float) -> Point:
    """Where a turned head's nose ends: in front of the face, by more the more it turns."""
    tip_v = 0.2 + 0.14 * length
    sign = 1 if pose.turn > 0 else -1
    stick_out = 0.22 * length * abs(pose.turn) * pose.a
    return (pose.xy(0.0, tip_v)[0] + sign * stick_out, pose.xy(0.0, tip_v)[1])


def draw_nose(draw: ImageDraw.ImageDraw, pose: Pose, skin: RGB, length: float, lw: int) -> None:
    """A front nose is two nostrils and a shadow; a turned one sticks out of the face."""
    edge = shade(skin, 0.6)
    tip_v = 0.2 + 0.14 * length
    if abs(pose.turn) < NOSE_SIDEWAYS:
        for side in (-1, 1):
            x, y = pose.xy(side * 0.08, tip_v + 0.04)
            draw.ellipse((x - lw * 2, y - lw, x + lw * 2, y + lw), fill=shade(skin, 0.55))
        x0, y0 = pose.xy(0.06, 0.0)
        x1, y1 = pose.xy(0.1, tip_v)
        draw.line([(x0, y0), (x1, y1)], fill=shade(skin, 0.75), width=lw)
        return
    sign = 1 if pose.turn > 0 else -1
    stick_out = 0.22 * length * abs(pose.turn) * pose.a
    top = pose.xy(0.0, -0.02)
    base = pose.xy(0.0, tip_v + 0.08)
    draw.polygon([top, nose_tip(pose, length), base], fill=skin, outline=edge, width=lw)
    x, y = base[0] + sign * stick_out * 0.35, base[1] - lw * 2
    draw.ellipse((x - lw * 2, y - lw, x + lw * 2, y + lw), fill=shade(skin, 0.5))


# Eye style -> (half-width, half-height) in head half-widths; unlisted styles: almond's.
EYE_SHAPES = {
    "narrow": (0.17, 0.06), "round": (0.18, 0.15), "medium": (0.16, 0.1),
    "small": (0.12, 0.07), "wide": (0.22, 0.11), "hooded": (0.18, 0.09),
}  # fmt: skip


def draw_eyes(
    draw: ImageDraw.ImageDraw,
    pose: Pose,
    who: Character,
    eyes: RGB,
    lw: int,
    skin: RGB | None = None,
) -> None:
    """Whites, iris, pupil, glint and brows; the style says width/height, lashes, glasses.
    `skin` (default: the character's) colours a hooded eye's lid."""
    style = who.eye_style
    width, height = EYE_SHAPES.get(style, (0.2, 0.08))
    brow = shade(who.brow, 1.0)
    for side in (-1, 1):
        x, y, facing = pose.at(side * 0.38, 0.02)
        if facing < 0.2:
            continue
        rx, ry = pose.a * width * facing, pose.a * height
        if style == "almond":  # pointed corners: a lens shape, with a flicked eyeliner
            lens = [(x - rx, y)]
            lens += [(x + rx * math.cos(t), y - ry * math.sin(t)) for t in _steps(0.15, 3.0, 8)]
            lens += [(x + rx, y)]
            lens += [
                (x - rx * math.cos(t), y + ry * 0.8 * math.sin(t)) for t in _steps(0.15, 3.0, 8)
            ]
            draw.polygon(lens, fill=(245, 242, 235))
        else:
            draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=(245, 242, 235))
        ir = min(ry * 0.95, pose.a * 0.075) if style != "round" else ry * 0.72
        ix = x + pose.turn * rx * 0.25
        draw.ellipse((ix - ir * facing, y - ir, ix + ir * facing, y + ir), fill=eyes)
        pr = ir * 0.45
        draw.ellipse((ix - pr * facing, y - pr, ix + pr * facing, y + pr), fill=(15, 12, 10))
        g = max(2.0, ir * 0.25)
        draw.ellipse(
            (ix - ir * 0.35 - g, y - ir * 0.4 - g, ix - ir * 0.35 + g, y - ir * 0.4 + g),
            fill=(255, 255, 255),
        )
        top_lid = (x - rx, y - ry, x + rx, y + ry)
        if style == "almond":
            draw.line(
                [
                    (x - rx, y),
                    *[(x + rx * math.cos(t), y - ry * math.sin(t)) for t in _steps(3.0, 0.0, 8)],
                    (x + rx * 1.3, y - ry * 1.2),
                ],
                fill=(25, 18, 15),
                width=lw * 2,
            )
            for t in _steps(0.5, 2.6, 5):  # lashes
                px, py = x + rx * math.cos(t), y - ry * math.sin(t)
                draw.line(
                    [(px, py), (px + rx * 0.15 * math.cos(t), py - ry * 0.7)],
                    fill=(25, 18, 15),
                    width=lw,
                )
        else:
            draw.arc(top_lid, 190, 350, fill=shade(who.brow, 0.6), width=lw)
        if style == "hooded":  # a heavy upper lid over the top of the eye
            draw.chord(top_lid, 180, 360, fill=shade(skin or who.skin, 0.85))
            draw.arc(top_lid, 185, 355, fill=shade(who.brow, 0.6), width=lw * 2)
        if style == "narrow":  # age: bags under the eyes and crow's feet
            draw.arc(
                (x - rx, y - ry * 1.6, x + rx, y + ry * 2.6),
                30,
                150,
                fill=(120, 80, 60),
                width=max(1, lw // 2 + 1),
            )
        # Brows: thick and straight for the old man, arched and thin for the women.
        arch = {"narrow": 0.02, "round": 0.06, "medium": 0.08, "almond": 0.12}.get(style, 0.06)
        thick = {"narrow": 0.07, "round": 0.04, "medium": 0.035, "almond": 0.03}.get(style, 0.04)
        by = y - pose.b * (0.16 if style != "round" else 0.2)
        pts = [(x + rx * 1.1 * s, by - pose.b * arch * (1 - s * s)) for s in (-1, -0.5, 0, 0.5, 1)]
        draw.line(pts, fill=brow, width=max(lw, round(pose.b * thick)), joint="curve")
    if "glasses" in who.accessories:
        _glasses(draw, pose, lw)


def _steps(start: float, stop: float, n: int) -> list[float]:
    return [start + (stop - start) * i / (n - 1) for i in range(n)]


def _glasses(draw: ImageDraw.ImageDraw, pose: Pose, lw: int) -> None:
    frame = (40, 35, 30)
    centres = []
    for side in (-1, 1):
        x, y, facing = pose.at(side * 0.38, 0.03)
        if facing < 0.2:
            continue
        rx, ry = pose.a * 0.25 * facing, pose.a * 0.15
        lens = (x - rx, y - ry, x + rx, y + ry)
        try:
            draw.rounded_rectangle(lens, radius=ry * 0.4, outline=frame, width=lw * 2)
        except ValueError:  # Pillow refuses a lens seen edge-on, narrower than its frame
            draw.line([(x, y - ry), (x, y + ry)], fill=frame, width=lw * 2)
        centres.append((x, y, rx, side))
    if len(centres) == 2:
        (x0, y0, r0, _), (x1, y1, r1, _) = centres
        draw.line([(x0 + r0, y0), (x1 - r1, y1)], fill=frame, width=lw * 2)
    for x, y, rx, side in centres:  # the arm goes back to the ear on a turned head
        if side * pose.turn < -0.3:
            ex, ey = pose.xy(side * 0.999, 0.05)
            draw.line([(x - side * rx, y), (ex, ey)], fill=frame, width=lw * 2)


# Mouth style -> how far the middle of the mouth sits below its corners, in head half-
# heights (negative: a frown).
MOUTH_CURVES = {
    "thin": 0.02, "grin": 0.1, "smile": 0.07, "lips": 0.05,
    "neutral": 0.0, "frown": -0.05, "open": 0.03,
}  # fmt: skip


def draw_mouth(draw: ImageDraw.ImageDraw, pose: Pose, who: Character, skin: RGB, lw: int) -> None:
    """thin (a straight, kind line), grin (open, with teeth), smile (an arc), lips (coloured);
    strangers also: neutral (a flat line), frown (corners down), open (an O)."""
    style, v = who.mouth, 0.58
    us = [-0.3 + 0.6 * i / 8 for i in range(9)]
    curve = MOUTH_CURVES[style]
    top = []
    for u in us:
        x, y, facing = pose.at(u, v)
        if facing > 0.1:
            top.append((x, y + pose.b * curve * (1 - (u / 0.3) ** 2 - 0.5)))  # corners up
    if len(top) < 2:
        return
    if style == "grin":
        low = [(x, y + pose.b * 0.12 * (1 - ((i - 4) / 4) ** 2)) for i, (x, y) in enumerate(top)]
        draw.polygon(top + low[::-1], fill=(110, 30, 35), outline=(80, 25, 25))
        teeth = [(x, y + pose.b * 0.035) for x, y in top]
        draw.polygon(top + teeth[::-1], fill=(250, 250, 245))
    elif style == "open":  # an O of surprise or a laugh: dark inside, a lip round it
        (x0, _), (x1, _) = top[0], top[-1]
        xm, ym = (x0 + x1) / 2, top[len(top) // 2][1]
        rx, ry = abs(x1 - x0) * 0.3, pose.b * 0.08
        draw.ellipse(
            (xm - rx, ym - ry, xm + rx, ym + ry),
            fill=(95, 30, 35),
            outline=shade(skin, 0.5),
            width=lw,
        )
    elif style == "lips":
        upper = [(x, y - pose.b * 0.05 * (1 - ((i - 4) / 4) ** 2)) for i, (x, y) in enumerate(top)]
        lower = [(x, y + pose.b * 0.07 * (1 - ((i - 4) / 4) ** 2)) for i, (x, y) in enumerate(top)]
        draw.polygon(upper + lower[::-1], fill=who.lip_colour)
        draw.line(top, fill=shade(who.lip_colour, 0.6), width=lw)
    else:
        draw.line(top, fill=shade(skin, 0.5), width=lw * 2, joint="curve")
    if style == "thin":  # smile lines of an older face
        for side in (-1, 1):
            pts = [pose.xy(side * 0.35, 0.3), pose.xy(side * 0.42, 0.5), pose.xy(side * 0.4, 0.62)]
            if pose.at(side * 0.4, 0.5)[2] > 0.2:
                draw.line(pts, fill=shade(skin, 0.72), width=lw, joint="curve")
