"""What a detector run trains, validates and tests on: the user's files, split, plus pictures
the project draws itself.

From an ImageFolder (its classes, and optionally `_no_face/`, `_someone_else/` and
boxes.json) this makes, for each of train / validation / test:

    faces       the classes' images (label = class index; box from the sidecar, or None)
    strangers   `_someone_else/` images and, unless switched off, generated strangers
                (people who are none of the classes), labelled "someone else"
    no_faces    `_no_face/` images and, unless switched off, generated pictures without
                a face (textures, clutter, scenes, text, noise ...): label NO_FACE

The three splits never share a file, and generated pictures come from seed sequences of
their own per split, so validation and test pictures are never trained on. The class
list gains "someone else" when there are strangers.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from menny_core.dataset import ImageFolder, Sample, Split, stratified_split
from menny_core.portraits import VIEWS, draw_portrait, random_stranger, render_negative
from menny_core.scenes import (
    NO_FACE,
    SOURCE_SIDE,
    Picture,
    SceneAugment,
    draw_box,
    picture,
    scene_arrays,
)
from menny_core.verdicts import SOMEONE_ELSE

# How many pictures the project draws for a split: a share of the split's faces, at least
# a floor (a tiny user dataset still gets enough negatives to learn "no face" from).
# Training draws a pool three times the faces, and each epoch takes a fresh sample of it
# (train_step.epoch_pictures): "everyone else" is a big set, and a few dozen strangers seen
# every epoch would be learnt by heart.
GENERATED_PER_FACE = {
    "train": {"no_faces": 3.0, "strangers": 3.0},
    "val": {"no_faces": 1.0, "strangers": 0.5},
    "test": {"no_faces": 1.0, "strangers": 0.5},
}
GENERATED_FLOOR = {"train": 24, "val": 24, "test": 48}
# ... and at most this many of a kind per split: the share follows the visitor's data, and
# a 5000-file zip must not make a run draw 15000 pictures (minutes, gigabytes) first.
GENERATED_CAP = 400
SPLITS = ("train", "val", "test")
DRAWING_THREADS = 2  # the machines it was measured on have two cores
_KIND_SEED = {"strangers": 1, "no_faces": 2}  # each kind and split draws from its own sequence


@dataclass
class Part:
    """One split's pictures (see the module docstring). plain: the classes' own files as
    samples, for evaluating on whole photos as the classifier always did."""

    faces: list[Picture] = field(default_factory=list)
    strangers: list[Picture] = field(default_factory=list)
    no_faces: list[Picture] = field(default_factory=list)
    plain: list[Sample] = field(default_factory=list)
    stranger_class: bool = True  # "someone else" is a class; else strangers only test

    @property
    def pictures(self) -> list[Picture]:
        """What trains and validates: strangers only when they have a class to learn."""
        return self.faces + (self.strangers if self.stranger_class else []) + self.no_faces


@dataclass
class DetectorData:
    classes: list[str]
    parts: dict[str, Part]
    split: Split  # the classes' files (stored with the weights)
    boxes: bool  # some face has a known box (boxes.json): the box head can learn
    generated: dict[str, int]  # how many pictures were drawn, by kind


def prepare(
    folder: ImageFolder,
    split: Split,
    strangers: bool = True,
    negatives: bool = True,
    splits: tuple[str, ...] = SPLITS,
) -> DetectorData:
    """Decode the folder's images as `split` (of its samples) divides them, split its
    extra folders the same way, and draw the generated pictures (see above), for the
    `splits` asked for (evaluation needs only "test")."""
    val_fraction, test_fraction, seed = split.val_fraction, split.test_fraction, split.seed
    # "someone else" is a class only when strangers are trained on; otherwise strangers
    # can only be caught as "not sure".
    with_strangers = strangers or bool(folder.strangers)
    classes = list(folder.classes) + ([SOMEONE_ELSE] if with_strangers else [])
    stranger_label = len(folder.classes)
    extra = {
        "strangers": _split_paths(folder.strangers, val_fraction, test_fraction, seed),
        "no_faces": _split_paths(folder.no_faces, val_fraction, test_fraction, seed + 1),
    }
    parts, generated, draws = {}, {"strangers": 0, "no_faces": 0}, []
    for index, name in enumerate(SPLITS):
        if name not in splits:
            continue
        samples = getattr(split, name)
        part = Part(plain=list(samples), stranger_class=with_strangers)
        part.faces = [picture(p, label, folder.boxes.get(p)) for p, label in samples]
        part.strangers = [
            picture(p, stranger_label, folder.boxes.get(p)) for p in extra["strangers"][index]
        ]
        part.no_faces = [picture(p, NO_FACE) for p in extra["no_faces"][index]]
        # Validation mirrors training (it picks the epoch and the thresholds); test pictures
        # are always drawn, so a run trained without them is still measured on them and
        # shows what it lacks. A split without faces (a share of 0) gets none.
        for kind, wanted in (("strangers", strangers), ("no_faces", negatives)):
            if not samples or (name != "test" and not wanted):
                continue
            share = GENERATED_PER_FACE[name][kind]
            count = min(GENERATED_CAP, max(GENERATED_FLOOR[name], round(share * len(samples))))
            sequence = np.random.SeedSequence([seed, 7919, index, _KIND_SEED[kind]])
            draws.append((getattr(part, kind), kind, sequence, count))
            generated[kind] += count
        parts[name] = part
    # Each kind and split draws from its own sequence, so they can be drawn side by side
    # (Pillow lets go of the GIL while it rotates and resizes) with the same pixels.
    with ThreadPoolExecutor(max_workers=DRAWING_THREADS) as pool:
        pictures = [pool.submit(_draw_many, *job[1:], stranger_label) for job in draws]
        for (into, *_), future in zip(draws, pictures, strict=True):
            into.extend(future.result())
    has_boxes = any(p.box is not None for part in parts.values() for p in part.faces)
    return DetectorData(classes, parts, split, has_boxes, generated)


def _split_paths(paths: list[str], val_fraction: float, test_fraction: float, seed: int):
    """(train, val, test) lists of `paths`, by the same rule as the classes' split."""
    split = stratified_split([(p, 0) for p in paths], val_fraction, test_fraction, seed)
    return tuple([p for p, _ in getattr(split, name)] for name in SPLITS)


def _draw_many(kind: str, sequence: np.random.SeedSequence, count: int, label: int) -> list:
    rng = np.random.default_rng(sequence)
    return [draw_generated(kind, rng, label) for _ in range(count)]


def draw_generated(kind: str, rng: np.random.Generator, stranger_label: int) -> Picture:
    """One generated stranger (with its face box) or no-face picture, SOURCE_SIDE big."""
    if kind == "strangers":
        view = VIEWS[int(rng.integers(len(VIEWS)))]
        image, box = draw_portrait(random_stranger(rng), view, rng, SOURCE_SIDE)
        return Picture(np.asarray(image), stranger_label, tuple(box))
    return Picture(np.asarray(render_negative(rng, SOURCE_SIDE)), NO_FACE)


PREVIEW_GENERATED = 2  # of each generated kind in a preview, when switched on


def preview(
    folder: ImageFolder,
    augment: SceneAugment,
    image_size: int,
    seed: int = 0,
    strangers: bool = True,
    negatives: bool = True,
    count: int = 16,
    scale: int = 2,
) -> np.ndarray:
    """`count` training scenes as one picture, with their face boxes drawn: what the
    network is shown, enlarged `scale` times (a box's line is thinner than a 64-pixel
    face otherwise). The faces are spread over the classes; strangers and pictures without
    a face are generated ones when switched on, else the folder's own."""
    rng = np.random.default_rng(seed)
    extra = {
        "strangers": PREVIEW_GENERATED if strangers or folder.strangers else 0,
        "no_faces": PREVIEW_GENERATED if negatives or folder.no_faces else 0,
    }
    faces = list(folder.samples)[:: max(1, len(folder.samples) // count)]
    faces = faces[: count - sum(extra.values())]
    pictures = [picture(p, label, folder.boxes.get(p)) for p, label in faces]
    label = len(folder.classes)
    for kind, own, wanted in (
        ("strangers", folder.strangers, strangers),
        ("no_faces", folder.no_faces, negatives),
    ):
        for k in range(extra[kind]):
            if wanted or not own:
                pictures.append(draw_generated(kind, rng, label))
            else:
                path = own[k % len(own)]
                mark = label if kind == "strangers" else NO_FACE
                pictures.append(picture(path, mark, folder.boxes.get(path)))
    backgrounds = [draw_generated("no_faces", rng, label) for _ in range(3)]
    arrays = scene_arrays(pictures, backgrounds, image_size, seed, augment)
    cols = math.ceil(math.sqrt(len(pictures)))
    rows = math.ceil(len(pictures) / cols)
    side = image_size * scale
    grid = np.full((rows * side, cols * side, 3), 255, np.uint8)
    for index in range(len(pictures)):
        tile = arrays["image"][index].repeat(scale, axis=0).repeat(scale, axis=1)
        if arrays["has_box"][index]:
            cx, cy, w, h = arrays["box"][index] * side
            tile = draw_box(tile, (cx - w / 2, cy - h / 2, w, h), 1.0)
        row, col = divmod(index, cols)
        grid[row * side : (row + 1) * side, col * side : (col + 1) * side] = tile
    return grid
