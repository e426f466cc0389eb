"""Menny's evaluation stream and pixel scaling, with mlx-data; the augmentation settings.

Read top to bottom, as in mlx-examples/cifar/dataset.py:

    files --load_image--> uint8 (H, W, 3) --resize (shortest side), centre crop--> (S, S, 3)
          --batch--> (B, S, S, 3) uint8 --normalize--> float32, and int32 labels (B,)

`eval_batches` is that chain: how validation, test and `predict` see a photo. Training
builds scenes instead (`menny_core.scenes.scene_stream`, also on mlx-data), with the
`Augment` settings defined here. Either stream is ONE epoch: when it runs out, build a new
one (with the next epoch's seed) rather than reusing it; the chapter's loop stopped after
the first epoch because an exhausted stream yields nothing.

Decoding runs on parallel workers in a fixed order (`Buffer.ordered_prefetch`), so batches
keep the samples' order whatever the thread count. Inputs must be files mlx-data decodes
correctly: the samples of `dataset.discover`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import mlx.data as dx
import numpy as np

from menny_base.errors import MennyError
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
