"""Where the face is in a portrait: its box, computed from the drawing's geometry.

The face is the skin-coloured head oval (`features.face_outline`) from the top of the head
to the chin, as far round as the camera sees it: the whole oval in a front view, and in a
turned view the part in front of the far ear's longitude (u = -1 or +1 on the sphere
model), plus the nose where it sticks out. So a profile's box runs from the ear to the tip
of the nose, not over the back of the head. Ears, hair and body are never part of it.
Hair may cover the top of the box (a fringe, a side-part): the box is where the face IS,
seen or not, which does not change with the hair style.

The canvas is drawn at 2x and then tilted about the head centre, so a box is the extent of
the region's corners after `tilted`, in output pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from menny_core.portraits.character import Character
from menny_core.portraits.features import NOSE_SIDEWAYS, Point, Pose, face_outline, nose_tip

Box = tuple[float, float, float, float]  # x, y, w, h in the output picture's pixels


def tilted(points: list[Point], pose: Pose, tilt: float, shrink: float = 2.0) -> list[Point]:
    """Canvas points where they land in the output picture: turned by `tilt` degrees about
    the head centre as Image.rotate turns them (counter-clockwise on screen), then divided
    by `shrink` (the canvas is drawn at 2x)."""
    c, s = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
    return [
        (
            (pose.cx + c * (x - pose.cx) + s * (y - pose.cy)) / shrink,
            (pose.cy - s * (x - pose.cx) + c * (y - pose.cy)) / shrink,
        )
        for x, y in points
    ]


def face_region(pose: Pose, who: Character) -> list[Point]:
    """The visible face's outline on the canvas, before the tilt (see the module docstring)."""
    outline = face_outline(pose, who.jaw)
    # The far ear's longitude: x = cx - a*cos(yaw) seen from the right, + from the left.
    ear = pose.a * math.cos(pose.yaw)
    if pose.turn >= 0:
        region = _clipped(outline, lambda x, y: x - (pose.cx - ear))
    else:
        region = _clipped(outline, lambda x, y: (pose.cx + ear) - x)
    # A bowed head shows the top of the head above the forehead: the face starts lower,
    # where the sphere's top (v = -1) lands after the pitch shift (`Pose.at`).
    forehead = pose.at(0.0, -1.0)[1]
    region = _clipped(region, lambda x, y: y - forehead)
    if abs(pose.turn) >= NOSE_SIDEWAYS:
        region.append(nose_tip(pose, who.nose_length))
    return region


def _clipped(polygon: list[Point], inside: Callable[[float, float], float]) -> list[Point]:
    """The polygon's part where inside(x, y) >= 0, for a linear `inside` (a half-plane):
    one step of Sutherland-Hodgman clipping."""
    kept = []
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        d0, d1 = inside(x0, y0), inside(x1, y1)
        if d0 >= 0:
            kept.append((x0, y0))
        if (d0 >= 0) != (d1 >= 0):  # the edge crosses the line: keep the crossing
            t = d0 / (d0 - d1)
            kept.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    return kept


def face_box(pose: Pose, who: Character, tilt: float, size: int) -> Box:
    """(x, y, w, h) in output pixels: the extent of the tilted face region, clipped to the
    size x size picture."""
    # ImageDraw's coordinate x is the centre of pixel x, which spans x..x+1 of the picture.
    corners = tilted([(x + 0.5, y + 0.5) for x, y in face_region(pose, who)], pose, tilt)
    x0 = max(0.0, min(x for x, _ in corners))
    y0 = max(0.0, min(y for _, y in corners))
    x1 = min(float(size), max(x for x, _ in corners))
    y1 = min(float(size), max(y for _, y in corners))
    return (x0, y0, x1 - x0, y1 - y0)
