"""Menny's data stream: image files in, NHWC float32 batches out, with mlx-data.

Read top to bottom, as in mlx-examples/cifar/dataset.py:

    files --load_image--> uint8 (H, W, 3) --augment--> --resize, centre crop--> (S, S, 3)
          --batch--> (B, S, S, 3) uint8 --normalize--> float32, and int32 labels (B,)

Contract: a stream is ONE epoch. When it runs out, call `training_stream` again (with
the next epoch's seed, e.g. `seed + epoch`) rather than reusing it; the chapter's loop
stopped after the first epoch because an exhausted stream yields nothing.

Reproducibility, measured on mlx-data 0.1.0:
- mlx-data's random ops (flip, random area crop) draw from a per-THREAD copy of one
  generator. `mlx.data.core.set_state(seed)` reseeds it, but every worker thread then
  starts from the same copy: with `Stream.prefetch(n, 2)` two workers replay the same
  flips on different batches. So here decoding runs on parallel workers in a fixed order
  (`Buffer.ordered_prefetch`) and all random ops run on ONE worker: the same seed gives
  the same batches, bit for bit, and draws never repeat.
- `image_rotate` takes one angle for the whole stream. A per-image angle (and the grey
  decision) is drawn with numpy from `seed` and applied with PIL in a sample transform.
- `set_state` is process-wide: two training streams built at the same time share it.

Inputs must be files mlx-data decodes correctly: the samples of `dataset.discover`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import mlx.data as dx
import numpy as np
from PIL import Image

from menny_base.errors import MennyError
from menny_base.images import LUMA_BT601
from menny_base.numbers import real, whole
from menny_core.dataset import Sample

# Per-channel (R, G, B) mean and standard deviation of pixel values in [0, 1]: ImageNet's,
# the usual choice for photos. The bundled portraits are synthetic and may be generated
# again, so statistics computed on them would not stay true; a net trained from scratch
# only needs inputs of roughly zero mean and unit spread, which these give.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Rec. 601 luma weights: what "grey" means for the grey augmentation.
# Random area crops keep roughly the original shape: width/height between 3:4 and 4:3.
ASPECT_RATIOS = (3 / 4, 4 / 3)


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 images (..., 3), values 0..255, as float32 (x/255 - MEAN) / STD.

    The one place both training and prediction turn pixels into network inputs.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim < 3 or images.shape[-1] != 3:
        raise MennyError(
            f"normalize expects uint8 RGB images shaped (..., H, W, 3), got "
            f"{images.dtype} {images.shape}"
        )
    return (images.astype(np.float32) / 255.0 - MEAN) / STD


def denormalize(images: np.ndarray) -> np.ndarray:
    """The inverse of `normalize`, rounded and clipped to uint8 0..255 for display."""
    pixels = (np.asarray(images, dtype=np.float32) * STD + MEAN) * 255.0
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Augment:
    """Random changes applied to each training image, in this order.

    flip_prob:        probability of a left-right mirror (0..1).
    rotation_degrees: the angle is uniform in [-r, r] degrees (0..180); the image keeps
                      its size and the corners turned in from outside are black.
    crop_area:        (low, high) fractions of the area kept by a random crop with aspect
                      ratio 3:4..4:3, 0 < low <= high <= 1; (1, 1) turns cropping off.
    grey_prob:        probability of turning the image grey (still 3 equal channels).
    """

    flip_prob: float = 0.5
    rotation_degrees: float = 15.0
    crop_area: tuple[float, float] = (0.6, 1.0)
    grey_prob: float = 0.0

    def __post_init__(self) -> None:
        # Messages use the app's words (its slider labels), then the field's name.
        real(self.flip_prob, "flip probability (flip_prob)", 0, 1)
        real(self.grey_prob, "grey probability (grey_prob)", 0, 1)
        real(self.rotation_degrees, "rotation (degrees)", 0, 180)
        area = tuple(self.crop_area)
        if len(area) != 2 or not all(isinstance(a, Real) and not isinstance(a, bool) for a in area):
            raise MennyError(
                f"crop area (crop_area) must be a (smallest, largest) pair of shares of the "
                f"image's area, got {area!r}"
            )
        low = real(float(area[0]), "crop area's smallest share", 0, 1, low_open=True)
        high = float(area[1])
        if not low <= high <= 1:
            raise MennyError(
                f"crop area's largest share must be from the smallest share ({low:g}) to 1, "
                f"got {high}"
            )
        object.__setattr__(self, "crop_area", (low, high))

    @classmethod
    def off(cls) -> Augment:
        """No augmentation: the training stream then shows what evaluation shows."""
        return cls(flip_prob=0.0, rotation_degrees=0.0, crop_area=(1.0, 1.0), grey_prob=0.0)


def _records(samples: Sequence[Sample]) -> list[dict]:
    if len(samples) == 0:
        raise MennyError("samples is empty: give at least one (path, label) pair")
    records = []
    for path, label in samples:
        label = whole(label, "label", 0)
        records.append({"file": os.fsencode(path), "label": np.int32(label)})
    return records


def resize_and_center_crop(chain, size: int):
    """Shortest side to `size`, then the central size x size square, on the "image" key of
    an mlx-data Buffer or Stream: the deterministic end of every path (train, eval, predict)."""
    return chain.image_resize_smallest_side("image", size).image_center_crop("image", size, size)


def working_size(image_size: int, augment: Augment) -> int:
    """The shortest side images are shrunk to before augmenting: just big enough that the
    smallest random crop (side ~ sqrt(low area) of the image) still has `image_size` pixels.

    Rotating and cropping a 512x512 photo to deliver 128x128 wastes most of the work; at
    this size the augmentations cost ~10x less and the output loses no resolution.
    """
    return math.ceil(image_size / math.sqrt(augment.crop_area[0]))


def _rotate_and_grey(sample: dict) -> dict:
    """Apply this sample's pre-drawn angle (degrees, counter-clockwise) and grey flag."""
    image = sample["image"]
    angle = float(sample["angle"])
    if angle != 0.0:
        rotated = Image.fromarray(image).rotate(angle, resample=Image.Resampling.BILINEAR)
        image = np.array(rotated)  # a writeable copy: mlx-data refuses read-only arrays
    if int(sample["grey"]):
        luma = np.rint(image.astype(np.float32) @ LUMA_BT601).astype(np.uint8)
        image = np.repeat(luma[:, :, None], 3, axis=2)
    return {**sample, "image": image}


def training_stream(
    samples: Sequence[Sample],
    image_size: int,
    augment: Augment,
    batch_size: int,
    seed: int,
    threads: int = 2,
) -> dx.Stream:
    """One shuffled, augmented epoch of `samples`, as batches of dicts:
    "image" float32 (B, S, S, 3) NHWC normalised, "label" int32 (B,), S = image_size.

    The last batch holds the remainder (B <= batch_size). `threads` decode in parallel;
    the result does not depend on it. Same arguments -> the same batches.
    """
    size = whole(image_size, "image_size", 1)
    batch_size = whole(batch_size, "batch_size", 1)
    threads = whole(threads, "threads", 1)
    seed = whole(seed, "seed", 0)
    records = _records(samples)
    rng = np.random.default_rng(seed)
    records = [records[i] for i in rng.permutation(len(records))]
    angles = rng.uniform(-augment.rotation_degrees, augment.rotation_degrees, len(records))
    greys = rng.random(len(records)) < augment.grey_prob
    for record, angle, grey in zip(records, angles, greys, strict=True):
        record["angle"], record["grey"] = float(angle), bool(grey)
    per_sample = augment.rotation_degrees > 0 or augment.grey_prob > 0
    crop = augment.crop_area != (1.0, 1.0)

    dx.core.set_state(seed)  # mlx-data's own generator: the flips and crops below
    stream = (
        dx.buffer_from_vector(records)
        .load_image("file", output_key="image")  # lazy: decoded by the workers below
        .image_resize_smallest_side("image", working_size(size, augment))
        .ordered_prefetch(2 * threads, threads)  # parallel decoding and shrinking, order kept
        .image_random_h_flip_if(augment.flip_prob > 0, "image", augment.flip_prob)
        .sample_transform_if(per_sample, _rotate_and_grey)
        .image_random_area_crop_if(crop, "image", augment.crop_area, ASPECT_RATIOS)
    )
    stream = (
        resize_and_center_crop(stream, size)
        .filter_key("file", remove=True)
        .filter_key("angle", remove=True)
        .filter_key("grey", remove=True)
        .batch(batch_size)
        .key_transform("image", normalize)  # after load_image: it needs the file names
        .prefetch(2, 1)  # ONE worker draws every random number: see the module docstring
    )
    return stream


def eval_batches(
    samples: Sequence[Sample], image_size: int, batch_size: int, threads: int = 2
) -> dx.Stream:
    """`samples` in the given order, resized (shortest side) and centre-cropped, no
    randomness: dicts with "image" float32 (B, S, S, 3) NHWC and "label" int32 (B,).
    One pass; call again for another."""
    size = whole(image_size, "image_size", 1)
    batch_size = whole(batch_size, "batch_size", 1)
    threads = whole(threads, "threads", 1)
    buffer = dx.buffer_from_vector(_records(samples)).load_image("file", output_key="image")
    return (
        resize_and_center_crop(buffer, size)
        .ordered_prefetch(2 * threads, threads)
        .filter_key("file", remove=True)
        .batch(batch_size)
        .key_transform("image", normalize)
    )


def preview_grid(
    samples: Sequence[Sample],
    image_size: int,
    augment: Augment,
    count: int = 16,
    seed: int = 0,
) -> np.ndarray:
    """A grid of `count` images as the training stream delivers them, for display:
    uint8 (rows*S, cols*S, 3), cols = ceil(sqrt(count)), rows = ceil(count / cols).

    The images come from `training_stream` with the same `augment` (then denormalised), so
    the preview shows exactly what the network will see. The samples shown are spread evenly
    over `samples` (so a list sorted by class shows every class); fewer samples than `count`
    are repeated, each with its own random draws.
    """
    size = whole(image_size, "image_size", 1)
    count = whole(count, "count", 1)
    if len(samples) == 0:
        raise MennyError("samples is empty: give at least one (path, label) pair")
    spread = list(samples)[:: max(1, len(samples) // count)][:count]
    repeated = spread * math.ceil(count / len(spread))
    batch = next(iter(training_stream(repeated, size, augment, count, seed, threads=1)))
    images = denormalize(batch["image"])
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    grid = np.zeros((rows * size, cols * size, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        row, col = divmod(index, cols)
        grid[row * size : (row + 1) * size, col * size : (col + 1) * size] = image
    return grid
