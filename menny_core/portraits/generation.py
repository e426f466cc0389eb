"""Writing a generated dataset folder: the four classes, and for a face detector strangers,
pictures without a face, and where every face is (boxes.json).

    out/<Name>/<view>_<k>.png              the four, k = 000..per_class-1
    out/_someone_else/stranger_<k>.png     people who are none of the four
    out/_no_face/<kind>_<k>.png            pictures without a face
    out/boxes.json                         the face box of every picture that has a face

Image k of class c is drawn from the seed sequence (seed, c, k), stranger k from
(seed, 100, k) and picture k without a face from (seed, 101, k): no picture depends on
how many others are asked for, and the same seed rewrites identical bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.portraits.boxes import Box, write_boxes
from menny_core.portraits.character import CHARACTERS
from menny_core.portraits.draw import CLASSES, VIEW_ANGLES, VIEWS, draw_portrait
from menny_core.portraits.negatives import NEGATIVE_KINDS, render_negative
from menny_core.portraits.strangers import random_stranger

# The most portraits generate() draws per class: file names number them with three digits
# (front_000 ... _999), and 1000 per class is already ~25x the bundled dataset. The same
# bound holds for strangers and for pictures without a face.
MAX_PER_CLASS = 1000
MAX_EXTRA = 1000
# The folder names menny_core.dataset reads as "not a class" (a test keeps them equal).
STRANGERS_FOLDER = "_someone_else"
NO_FACE_FOLDER = "_no_face"
STRANGER_SEED = 100  # stranger k: SeedSequence([seed, STRANGER_SEED, k])
NO_FACE_SEED = 101


def generate(
    out_dir: str | Path,
    per_class: int = 40,
    seed: int = 0,
    size: int = 512,
    strangers: int = 0,
    negatives: int = 0,
) -> list[Path]:
    """Write the folder described above; returns the paths of the images written.

    Views go round VIEWS in order (k = 0 front, 1 left three-quarter, ...), for strangers
    too; pictures without a face go round NEGATIVE_KINDS. PNGs of this naming left over
    from a larger earlier run are removed; other files are left alone. boxes.json is always
    rewritten. per_class: 1..MAX_PER_CLASS; strangers, negatives: 0..MAX_EXTRA.
    """
    per_class = _count(per_class, "per_class (portraits per class)", 1, MAX_PER_CLASS)
    strangers = _count(strangers, "strangers", 0, MAX_EXTRA)
    negatives = _count(negatives, "negatives (pictures without a face)", 0, MAX_EXTRA)
    seed = whole(seed, "seed", 0)
    size = whole(size, "size", 32)
    out = Path(out_dir)
    written: list[Path] = []
    boxes: dict[str, Box] = {}
    for c, name in enumerate(CLASSES):
        names = [f"{VIEWS[k % len(VIEWS)]}_{k:03d}.png" for k in range(per_class)]
        for k, file in enumerate(names):
            rng = np.random.default_rng(np.random.SeedSequence([seed, c, k]))
            view = VIEWS[k % len(VIEWS)]
            image, boxes[f"{name}/{file}"] = draw_portrait(CHARACTERS[name], view, rng, size)
            written.append(_save(image, out / name / file))
        _remove_stale(out / name, names, VIEW_ANGLES)
    names = [f"stranger_{k:03d}.png" for k in range(strangers)]
    for k, file in enumerate(names):
        rng = np.random.default_rng(np.random.SeedSequence([seed, STRANGER_SEED, k]))
        who = random_stranger(rng)
        image, boxes[f"{STRANGERS_FOLDER}/{file}"] = draw_portrait(
            who, VIEWS[k % len(VIEWS)], rng, size
        )
        written.append(_save(image, out / STRANGERS_FOLDER / file))
    _remove_stale(out / STRANGERS_FOLDER, names, ("stranger",))
    kinds = [NEGATIVE_KINDS[k % len(NEGATIVE_KINDS)] for k in range(negatives)]
    names = [f"{kind}_{k:03d}.png" for k, kind in enumerate(kinds)]
    for k, (kind, file) in enumerate(zip(kinds, names, strict=True)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, NO_FACE_SEED, k]))
        written.append(_save(render_negative(rng, size, kind), out / NO_FACE_FOLDER / file))
    _remove_stale(out / NO_FACE_FOLDER, names, NEGATIVE_KINDS)
    out.mkdir(parents=True, exist_ok=True)
    write_boxes(out, boxes)
    return written


def _count(value: object, name: str, minimum: int, maximum: int) -> int:
    """A whole number >= minimum; above `maximum` it is refused with the limit alone (the
    usual "between ... and ..." would hide which bound was broken)."""
    number = whole(value, name, minimum)
    if number > maximum:
        raise MennyError(f"{name} must be at most {maximum}, got {number}")
    return number


def _save(image: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    return path


def _remove_stale(folder: Path, keep: list[str], prefixes) -> None:
    """Remove <prefix>_<3 digits>.png files of an earlier, larger run; nothing else."""
    if not folder.is_dir():
        return
    for stale in folder.glob("*_[0-9][0-9][0-9].png"):
        if stale.name not in keep and stale.stem.rsplit("_", 1)[0] in prefixes:
            stale.unlink()
