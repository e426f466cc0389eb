"""Marks on the skin of a drawn face: freckles, a beard, a moustache (drawn after the face
outline, before the nose and mouth; coordinates as in `features`)."""

from __future__ import annotations

from PIL import ImageDraw

from menny_core.portraits.character import RGB, Character
from menny_core.portraits.features import Pose, face_outline, shade


def draw_freckles(draw: ImageDraw.ImageDraw, pose: Pose, skin: RGB, lw: int) -> None:
    """A fixed pattern of dots on the cheeks and nose (fixed so it never adds randomness)."""
    spots = [(-0.45, 0.25), (-0.35, 0.32), (-0.25, 0.24), (-0.4, 0.4), (-0.18, 0.3), (0.0, 0.22)]
    for u, v in spots + [(-u, v) for u, v in spots if u]:
        x, y, facing = pose.at(u, v)
        if facing > 0.2:
            r = lw * 1.4
            draw.ellipse((x - r * facing, y - r, x + r * facing, y + r), fill=shade(skin, 0.68))


def draw_facial_hair(
    draw: ImageDraw.ImageDraw, pose: Pose, who: Character, hair: RGB, lw: int
) -> None:
    """A beard (jaw and chin, leaving the mouth free) and/or a moustache, in the hair colour."""
    if "beard" in who.accessories:
        jaw = [p for p in face_outline(pose, who.jaw) if p[1] > pose.cy + pose.b * 0.25]
        jaw.sort(key=lambda p: p[0])  # cheek to cheek along the jaw line
        inner = []
        for i in range(9):
            u = -0.45 + 0.9 * i / 8
            x, y, facing = pose.at(u, 0.5 + 0.12 * (1 - (u / 0.45) ** 2))
            if facing > 0.05:
                inner.append((x, y))
        if len(jaw) > 2 and inner:
            draw.polygon(jaw + inner[::-1], fill=hair, outline=shade(hair, 0.7), width=lw)
    if "moustache" in who.accessories:
        points = []
        for i in range(7):
            u = -0.28 + 0.56 * i / 6
            x, y, facing = pose.at(u, 0.5 + 0.05 * abs(u) / 0.28)
            if facing > 0.1:
                points.append((x, y))
        if len(points) > 1:
            draw.line(points, fill=hair, width=max(lw * 2, round(pose.b * 0.07)), joint="curve")
