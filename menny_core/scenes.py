"""Scenes for the face detector: a face at a random size and place, a stranger, or no face.

A detector that only ever saw its four people filling the frame learns two wrong lessons:
"there is always a face" (its face score collapses to 1, the seed article's point) and
"the face is always there" (a box regression with nothing to regress). So every training
example is a scene built here, anew each epoch:

    a known person   the photo scaled so its face box is 35-100% of the frame's side, put
                     at a random place (the face stays whole) on a background picture;
                     label = the class, face = 1, box = where the face landed
    someone else     the same, from a stranger's photo: label = the "someone else" class
    no face          a picture without a face, rescaled and cropped, sometimes with a
                     second picture pasted in: label unused, face = 0, no box

A photo whose face box is unknown (a user's zip without a sidecar) is shown whole, as the
classifier always did, and its box is not trained (has_box = 0). Boxes are normalised
(centre x, centre y, width, height) in 0..1 of the square frame. The rectangle a pasted
photo makes is no face cue: no-face scenes paste rectangles too.

Pictures are decoded once per run and kept small (`SOURCE_SIDE`); each scene costs one
resize and one paste in Pillow. `scene_stream` runs the builder in mlx-data's prefetch
threads, batched, like the classifier's stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import mlx.data as dx
import numpy as np
from PIL import Image, ImageDraw, ImageOps

from menny_base.images import LUMA_BT601, load_rgb
from menny_base.numbers import real, whole
from menny_core.stream import Augment, normalize

SOURCE_SIDE = 192  # decoded pictures are kept at most this big: 36k pixels, ~110 KB each
NO_FACE = -1  # the label of a picture without a face
# The face box's longer side as a share of the frame's side: the goal's range (a face
# filling the frame, or a third of it in a corner) ...
FACE_SHARE = (0.35, 1.0)
# ... and what training draws from: a little smaller too, as in a whole portrait (the
# whole-photo scenes below show those as taken). Not from 15%: a face that small is a
# dozen pixels at 64, and training on it cost box IoU (0.66 against 0.71) and strangers.
TRAIN_FACE_SHARE = (0.3, 1.0)
WHOLE_PHOTO_SHARE = 0.25  # training scenes that show a photo whole, as the user took it

Box = tuple[float, float, float, float]  # x, y, w, h in the picture's pixels


@dataclass(frozen=True)
class Picture:
    """A decoded source of scenes: pixels (H, W, 3) uint8, its label, and its face box in
    these pixels (None: no face, or the face's place is unknown)."""

    pixels: np.ndarray
    label: int
    box: Box | None = None

    @cached_property
    def image(self) -> Image.Image:
        """The pixels as a Pillow image, made once: every scene resizes some picture."""
        return Image.fromarray(self.pixels)


@dataclass(frozen=True)
class SceneAugment:
    """What varies from scene to scene besides size and place (see the module docstring).

    flip_prob: mirror left-right; grey_prob: grey copy; rotation_degrees: tilt about the
    face's centre (its box is kept: a small tilt moves the face's corners, not the face).
    No brightness or contrast change: the model standardises every image on its own
    (model.standardize), which removes exactly those.
    fixed_rotation: the fixed-rotation bug (bugs.py): every scene turns by exactly this
    many degrees; None (no bug): a random angle in [-rotation_degrees, rotation_degrees].
    """

    flip_prob: float = 0.5
    grey_prob: float = 0.3
    rotation_degrees: float = 10.0
    zoom: tuple[float, float] = (1.0, 1.0)  # photos without a box: zoomed in this much
    face_share: tuple[float, float] = FACE_SHARE  # see FACE_SHARE
    whole_photo: float = 0.0  # the share of face scenes showing the photo whole
    fixed_rotation: float | None = None

    @classmethod
    def of(cls, augment: Augment) -> SceneAugment:
        """The stream's Augment for scenes: its area crop becomes a zoom (keeping a share
        a of the area is a zoom of 1 / sqrt(a))."""
        return cls(
            augment.flip_prob,
            augment.grey_prob,
            augment.rotation_degrees,
            (1.0, 1.0 / math.sqrt(augment.crop_area[0])),
            TRAIN_FACE_SHARE,
            WHOLE_PHOTO_SHARE,
        )

    def __post_init__(self) -> None:
        real(self.flip_prob, "flip probability", 0, 1)
        real(self.grey_prob, "grey probability", 0, 1)
        real(self.rotation_degrees, "rotation (degrees)", 0, 180)
        low, high = self.zoom
        real(high, "zoom", real(low, "zoom", 1, 4), 4)
        low, high = self.face_share
        real(high, "face share", real(low, "face share", 0.05, 1), 1)
        real(self.whole_photo, "whole-photo share", 0, 1)
        if self.fixed_rotation is not None:
            real(self.fixed_rotation, "fixed rotation (degrees)", -180, 180)


def picture(path: str, label: int, box: Box | None = None) -> Picture:
    """The image at `path` as a Picture, shrunk to at most SOURCE_SIDE per side (its box
    scaled with it)."""
    pixels = load_rgb(path, max_side=max(SOURCE_SIDE * 2, 512))
    height, width = pixels.shape[:2]
    scale = min(1.0, SOURCE_SIDE / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))
        scale_x, scale_y = size[0] / width, size[1] / height
        if box is not None:
            x, y, w, h = box
            box = (x * scale_x, y * scale_y, w * scale_x, h * scale_y)
    return Picture(pixels, label, box)


def compose(
    face: Picture,
    background: Picture,
    size: int,
    rng: np.random.Generator,
    augment: SceneAugment | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """One scene of `face` (any Picture; a NO_FACE one makes a no-face scene) over
    `background`: (pixels (size, size, 3) uint8, box (4,) float32 normalised cx, cy, w, h,
    whether the box is known). The box is zeros when there is none."""
    augment = augment or SceneAugment()
    canvas = _cover(background.image, size, rng)
    box = np.zeros(4, np.float32)
    has_box = False
    if face.label == NO_FACE:
        if rng.random() < 0.5:  # a picture in the picture: a rectangle is not a face
            inset = _cover(face.image, max(8, int(size * rng.uniform(0.35, 0.9))), rng)
            x, y = (int(rng.integers(0, size - inset.shape[0] + 1)) for _ in range(2))
            canvas[y : y + inset.shape[0], x : x + inset.shape[1]] = inset
        else:
            canvas = _cover(face.image, size, rng)
    elif face.box is None:  # the face's place is unknown: the whole photo, as it is
        canvas = _cover(face.image, size, rng, zoom=rng.uniform(*augment.zoom))
    elif rng.random() < augment.whole_photo:  # the photo as taken, its box carried along
        canvas, box = _whole(face, size, rng, rng.uniform(*augment.zoom))
        has_box = bool(box[2] > 0 and box[3] > 0)
    else:
        canvas, box = _place(face, canvas, size, rng, augment.face_share)
        has_box = True
    return _vary(canvas, box, has_box, rng, augment)


def _cover(image: Image.Image, size: int, rng, zoom: float | None = None) -> np.ndarray:
    """A random size x size view of `image`: scaled so the shorter side covers the
    frame times `zoom` (random 1..2 by default), then a random crop."""
    return _view(image, size, rng, zoom)[0]


def _view(image: Image.Image, size: int, rng, zoom: float | None = None):
    """`_cover`, and how it mapped the picture: (view, scale x, scale y, left, top)."""
    width, height = image.size
    zoom = rng.uniform(1.0, 2.0) if zoom is None else zoom
    scale = size * zoom / min(height, width)
    new = (max(size, math.ceil(width * scale)), max(size, math.ceil(height * scale)))
    x, y = int(rng.integers(0, new[0] - size + 1)), int(rng.integers(0, new[1] - size + 1))
    # Only the crop is resampled (the box is its place in the source): the same view as
    # scaling the whole picture and then cropping (to rounding), for a fraction of the work.
    scale_x, scale_y = new[0] / width, new[1] / height
    region = (x / scale_x, y / scale_y, (x + size) / scale_x, (y + size) / scale_y)
    view = np.array(image.resize((size, size), Image.Resampling.BILINEAR, box=region))
    return view, scale_x, scale_y, x, y


def _whole(face: Picture, size: int, rng, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo itself, covering the frame (zoomed in by `zoom`), and its face box in the
    view, clipped to the frame (a zoom may cut part of the face off; all of it gone:
    an empty box, which is not trained)."""
    view, scale_x, scale_y, left, top = _view(face.image, size, rng, zoom)
    bx, by, bw, bh = face.box
    x0, y0 = max(0.0, bx * scale_x - left), max(0.0, by * scale_y - top)
    x1 = min(float(size), (bx + bw) * scale_x - left)
    y1 = min(float(size), (by + bh) * scale_y - top)
    if x1 <= x0 or y1 <= y0:
        return view, np.zeros(4, np.float32)
    box = [(x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size]
    return view, np.array(box, np.float32)


def _place(
    face: Picture, canvas: np.ndarray, size: int, rng, share: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Paste `face` scaled so its face box's longer side is `share` of the frame, with
    the face box whole inside the frame; returns the canvas and the normalised box."""
    new, corner = placement(face, size, rng, share)
    width, height = face.image.size
    scene = Image.fromarray(canvas)
    # Only the part of the scaled photo that lands in the frame is resampled.
    x0, y0 = max(0, -corner[0]), max(0, -corner[1])
    x1, y1 = min(new[0], size - corner[0]), min(new[1], size - corner[1])
    if x1 > x0 and y1 > y0:
        to_x, to_y = width / new[0], height / new[1]
        region = (x0 * to_x, y0 * to_y, x1 * to_x, y1 * to_y)
        part = face.image.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=region)
        scene.paste(part, (corner[0] + x0, corner[1] + y0))
    return np.asarray(scene).copy(), landed_box(face, new, corner, size)


def placement(face: Picture, size: int, rng, share: tuple[float, float]):
    """Where `_place` puts `face`: (the photo's new size, where its top-left corner lands),
    drawn so that the face box's longer side is `share` of the frame, whole inside it."""
    bx, by, bw, bh = face.box
    scale = rng.uniform(*share) * size / max(bw, bh)
    fw, fh = bw * scale, bh * scale
    left, top = rng.uniform(0, max(0.0, size - fw)), rng.uniform(0, max(0.0, size - fh))
    width, height = face.image.size
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    return new, (round(left - bx * scale), round(top - by * scale))


def landed_box(face: Picture, new: tuple[int, int], corner: tuple[int, int], size: int):
    """The normalised face box of `face` scaled to `new` and pasted at `corner`: from where
    the photo really went (the corner was rounded)."""
    bx, by, bw, bh = face.box
    width, height = face.image.size
    x0, y0 = corner[0] + bx * new[0] / width, corner[1] + by * new[1] / height
    w, h = bw * new[0] / width, bh * new[1] / height
    box = np.array([(x0 + w / 2) / size, (y0 + h / 2) / size, w / size, h / size], np.float32)
    return np.clip(box, 0.0, 1.0)


def _vary(canvas, box, has_box, rng, augment: SceneAugment):
    """Flip, tilt about the face and grey, the box following the flip."""
    image = Image.fromarray(canvas)
    if rng.random() < augment.flip_prob:
        image = ImageOps.mirror(image)
        box = box.copy()
        if has_box:
            box[0] = 1.0 - box[0]
    angle = rng.uniform(-augment.rotation_degrees, augment.rotation_degrees)
    if augment.fixed_rotation is not None:  # drawn all the same: the other draws stay put
        angle = augment.fixed_rotation
    if angle:
        centre = (box[0] * image.width, box[1] * image.height) if has_box else None
        image = image.rotate(angle, Image.Resampling.BILINEAR, center=centre)
    pixels = np.asarray(image, dtype=np.float32)
    if rng.random() < augment.grey_prob:
        pixels = np.repeat((pixels @ np.asarray(LUMA_BT601, np.float32))[..., None], 3, axis=2)
    return np.clip(pixels, 0, 255).round().astype(np.uint8), box, has_box


@dataclass
class ScenePlan:
    """Which scenes one epoch (or one evaluation) builds: for scene i, the picture
    `faces[i]` over the background `backgrounds[i]`, drawn with seed `seeds[i]`."""

    faces: list[int]
    backgrounds: list[int]
    seeds: list[int]


def plan_scenes(pictures: Sequence[Picture], backgrounds: int, repeat: int, seed: int) -> ScenePlan:
    """Every picture `repeat` times, shuffled, each over a random one of the first
    `backgrounds` no-face pictures (a no-face picture over another one)."""
    rng = np.random.default_rng(seed)
    faces = rng.permutation(np.repeat(np.arange(len(pictures)), repeat)).tolist()
    chosen = rng.integers(0, max(1, backgrounds), len(faces)).tolist()
    seeds = rng.integers(0, 2**31 - 1, len(faces)).tolist()
    return ScenePlan(faces, chosen, seeds)


def build_scene(
    pictures: Sequence[Picture],
    no_faces: Sequence[Picture],
    plan: ScenePlan,
    index: int,
    size: int,
    augment: SceneAugment,
) -> dict[str, np.ndarray]:
    """Scene `index` of `plan` as one sample dict: "image" (S, S, 3) uint8, "label"
    int32, "face" float32 (1 or 0), "box" (4,) float32, "has_box" float32."""
    face = pictures[plan.faces[index]]
    background = no_faces[plan.backgrounds[index] % len(no_faces)] if no_faces else face
    rng = np.random.default_rng(plan.seeds[index])
    pixels, box, has_box = compose(face, background, size, rng, augment)
    return {
        "image": pixels,
        "label": np.array(max(face.label, 0), np.int32),
        "face": np.array(float(face.label != NO_FACE), np.float32),
        "box": box,
        "has_box": np.array(float(has_box), np.float32),
    }


def scene_stream(
    pictures: Sequence[Picture],
    no_faces: Sequence[Picture],
    size: int,
    batch_size: int,
    seed: int,
    augment: SceneAugment | None = None,
    repeat: int = 1,
    threads: int = 2,
) -> dx.Stream:
    """One epoch of scenes of `pictures` (faces, strangers and no-face pictures alike)
    over backgrounds drawn from `no_faces`, as batches: "image" float32 (B, S, S, 3)
    normalised, "label", "face", "box", "has_box". Same arguments -> the same batches,
    whatever `threads`."""
    size, batch_size = whole(size, "image size", 8), whole(batch_size, "batch size", 1)
    augment = augment or SceneAugment()
    plan = plan_scenes(pictures, len(no_faces), whole(repeat, "repeat", 1), seed)
    records = [{"index": np.array(i, np.int64)} for i in range(len(plan.faces))]

    def make(sample: dict) -> dict:
        return build_scene(pictures, no_faces, plan, int(sample["index"]), size, augment)

    return (
        dx.buffer_from_vector(records)
        .sample_transform(make)  # lazy on a buffer: run by the prefetch workers
        .ordered_prefetch(4 * threads, threads)  # parallel, in plan order: reproducible
        .batch(batch_size)
        .key_transform("image", normalize)
    )


def scene_arrays(
    pictures: Sequence[Picture],
    no_faces: Sequence[Picture],
    size: int,
    seed: int,
    augment: SceneAugment | None = None,
    repeat: int = 1,
) -> dict[str, np.ndarray]:
    """Fixed scenes for validation and tests (no threads): the same dict as one big
    batch, "image" still uint8 (normalise before the model)."""
    augment = augment or SceneAugment(flip_prob=0.5, grey_prob=0.0, rotation_degrees=0.0)
    plan = plan_scenes(pictures, len(no_faces), repeat, seed)
    scenes = [
        build_scene(pictures, no_faces, plan, i, size, augment) for i in range(len(plan.faces))
    ]
    return {key: np.stack([s[key] for s in scenes]) for key in scenes[0]} if scenes else {}


BOX_COLOUR = (40, 230, 90)  # green: apart from the saliency's red-yellow heat


def draw_box(picture: np.ndarray, box: Sequence[float], scale: float) -> np.ndarray:
    """A copy of `picture` with the face box [x, y, w, h] (in the photo's pixels, times
    `scale` to the picture's) outlined, 2 pixels wide (a dark edge inside: visible on
    light and dark photos alike)."""
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    x, y, w, h = (v * scale for v in box)
    x1, y1 = min(x + w, image.width - 1), min(y + h, image.height - 1)
    draw.rectangle([x, y, x1, y1], outline=BOX_COLOUR, width=2)
    if x1 - x > 6 and y1 - y > 6:
        draw.rectangle([x + 2, y + 2, x1 - 2, y1 - 2], outline=(0, 0, 0), width=1)
    return np.asarray(image)
