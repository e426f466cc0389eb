"""The face-box sidecar: `boxes.json` next to a dataset's class folders says where the face
is in each picture, for training a detector.

    {"format": "menny-boxes/1", "units": "pixels",
     "boxes": {"RJ/front_000.png": [x, y, w, h], "_someone_else/stranger_000.png": [...]}}

Keys are paths relative to the folder holding boxes.json, with forward slashes; a box is
(x, y, w, h) in that image's pixels, (x, y) its top-left corner. A picture without an entry
has no known box (pictures without a face have none). The file comes from users too, so
`read_boxes` checks everything, and reads at most MAX_BOXES_BYTES.
"""

from __future__ import annotations

import json
import math
from numbers import Real
from pathlib import Path, PurePosixPath, PureWindowsPath

from menny_base.errors import MennyError

BOXES_FILE = "boxes.json"
BOXES_FORMAT = "menny-boxes/1"
MAX_BOXES_BYTES = 20 * 2**20  # "20 MB": some 200,000 boxes, far more than a dataset holds
Box = tuple[float, float, float, float]  # x, y, w, h in the image's pixels


def write_boxes(folder: str | Path, boxes: dict[str, Box]) -> Path:
    """Write folder/boxes.json: `boxes` maps relative paths (forward slashes) to (x, y, w, h),
    each number rounded to 0.1 px; keys are sorted, so the same boxes give the same bytes."""
    path = Path(folder) / BOXES_FILE
    rows = [
        f"  {json.dumps(key)}: {json.dumps([round(float(n), 1) for n in box])}"
        for key, box in sorted(boxes.items())
    ]
    head = f'{{"format": "{BOXES_FORMAT}", "units": "pixels", "boxes": {{'
    # One box a line: readable, and a diff shows which pictures' boxes changed.
    text = head + ("\n" + ",\n".join(rows) + "\n" if rows else "") + "}}\n"
    path.write_text(text, encoding="utf-8")
    return path


def read_boxes(folder: str | Path) -> dict[str, Box]:
    """folder/boxes.json as {relative path: (x, y, w, h)}; {} when there is no such file.

    Anything else than a well-formed sidecar (larger than 20 MB, not JSON, another format,
    an absolute path or "..", a box that is not 4 finite numbers with x, y >= 0 and w, h > 0)
    raises a MennyError: one sentence naming the file.
    """
    path = Path(folder) / BOXES_FILE
    if not path.is_file():
        return {}
    size = path.stat().st_size  # checked before reading: the file may come from anybody
    if size > MAX_BOXES_BYTES:
        raise MennyError(
            f"{path} is {size / 2**20:.1f} MB; a face-box sidecar may be at most 20 MB"
        )
    try:
        with path.open("rb") as file:
            document = json.loads(file.read(MAX_BOXES_BYTES + 1).decode("utf-8"))
    # json raises ValueError for bad JSON and huge integers, RecursionError for deep nesting.
    except (ValueError, RecursionError):
        raise MennyError(f"{path} is not a JSON file in UTF-8") from None
    if not isinstance(document, dict) or document.get("format") != BOXES_FORMAT:
        raise MennyError(f'{path} is not a face-box sidecar: it needs "format": "{BOXES_FORMAT}"')
    if document.get("units", "pixels") != "pixels":
        raise MennyError(f'{path} gives its boxes in {document["units"]!r}; only "pixels" is known')
    boxes = document.get("boxes")
    if not isinstance(boxes, dict):
        raise MennyError(f'{path} needs "boxes": an object of relative path -> [x, y, w, h]')
    checked = {}
    for key, box in boxes.items():
        if not _relative(key):
            raise MennyError(
                f"{path} names {_shown(key)}, which is not a relative path inside its folder"
            )
        checked[key] = _box(box, key, path)
    return checked


def _relative(key: str) -> bool:
    """A path below the sidecar's folder: not empty, not absolute anywhere, no '..'."""
    if not key or "\\" in key or "\x00" in key:
        return False
    posix, windows = PurePosixPath(key), PureWindowsPath(key)
    return not (posix.is_absolute() or windows.drive or windows.root or ".." in posix.parts)


def _box(box: object, key: str, path: Path) -> Box:
    numbers = box if isinstance(box, list) and len(box) == 4 else []
    fine = len(numbers) == 4 and all(
        isinstance(n, Real) and not isinstance(n, bool) and math.isfinite(n) and n >= 0
        for n in numbers
    )
    if not fine or numbers[2] <= 0 or numbers[3] <= 0:
        raise MennyError(
            f"{path} gives {_shown(key)} the box {_shown(box)}; a box is [x, y, w, h]: four "
            "finite numbers, x and y at least 0, w and h above 0"
        )
    return (float(numbers[0]), float(numbers[1]), float(numbers[2]), float(numbers[3]))


def _shown(value: object, limit: int = 60) -> str:
    """`value` quoted for a message, cut after `limit` characters."""
    text = repr(value) if not isinstance(value, (list, dict)) else json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."
