"""The mlx-data stream: shapes, epochs, the deterministic path against PIL, augmentations,
seeding, and awkward files (normalised by discover) arriving as 3-channel upright images."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from menny_core.dataset import discover
from menny_core.stream import (
    MEAN,
    STD,
    Augment,
    eval_batches,
    normalize,
)

SIZE = 16


def smooth_image(seed: int, height: int = 40, width: int = 56) -> np.ndarray:
    """A gentle gradient plus a coloured offset: resizing it is well defined to +-1 grey level."""
    y, x = np.mgrid[0:height, 0:width]
    offset = np.array([10, 40, 70]) + 5 * seed
    pixels = x[..., None] + 2 * y[..., None] + offset  # at most 55 + 78 + 115 = 248
    return pixels.astype(np.uint8)


@pytest.fixture
def samples(tmp_path) -> list[tuple[str, int]]:
    """Ten distinct images; the label is the image's index, so order can be recovered."""
    paths = []
    for i in range(10):
        path = tmp_path / f"{i}.png"
        Image.fromarray(smooth_image(i)).save(path)
        paths.append((str(path), i))
    return paths


def denormalize(images: np.ndarray) -> np.ndarray:
    """The inverse of `normalize`, rounded and clipped to uint8 0..255."""
    pixels = (np.asarray(images, dtype=np.float32) * STD + MEAN) * 255.0
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def by_label(stream) -> dict[int, np.ndarray]:
    out = {}
    for batch in stream:
        for image, label in zip(batch["image"], batch["label"], strict=True):
            out[int(label)] = image
    return out


def pil_resize_center_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The oracle: shortest side to `size` (bilinear), then the central square."""
    height, width = pixels.shape[:2]
    scale = size / min(height, width)
    new = (round(width * scale), round(height * scale))
    resized = np.asarray(Image.fromarray(pixels).resize(new, Image.Resampling.BILINEAR))
    top, left = (new[1] - size) // 2, (new[0] - size) // 2
    return resized[top : top + size, left : left + size]


def test_normalize_is_the_imagenet_affine_map_and_denormalize_inverts_it():
    pixels = np.array([[[[255, 0, 128]]]], np.uint8)
    expected = (np.array([1.0, 0.0, 128 / 255]) - MEAN) / STD
    np.testing.assert_allclose(normalize(pixels)[0, 0, 0], expected, rtol=1e-6)
    assert normalize(pixels).dtype == np.float32
    every = np.arange(256, dtype=np.uint8).repeat(3).reshape(1, 16, 16, 3)
    np.testing.assert_array_equal(denormalize(normalize(every)), every)
    with pytest.raises(ValueError, match="uint8 RGB"):
        normalize(np.zeros((2, 2, 2, 1), np.uint8))


def test_eval_batches_keep_the_given_order(samples):
    labels = np.concatenate([b["label"] for b in eval_batches(samples[::-1], SIZE, 4)])
    assert labels.tolist() == list(range(9, -1, -1))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"flip_prob": 1.5}, "flip probability (flip_prob) must be in [0, 1], got 1.5"),
        ({"grey_prob": -0.1}, "grey probability (grey_prob) must be in [0, 1], got -0.1"),
        ({"rotation_degrees": -1}, "rotation (degrees) must be in [0, 180], got -1"),
        ({"rotation_degrees": float("nan")}, "rotation (degrees) must be in [0, 180], got nan"),
        ({"crop_area": (0.0, 1.0)}, "crop area's smallest share must be in (0, 1], got 0.0"),
        (
            {"crop_area": (0.8, 0.5)},
            "crop area's largest share must be from the smallest share (0.8) to 1, got 0.5",
        ),
        ({"crop_area": (0.5, 1.5)}, "crop area's largest share must be from the smallest share"),
        ({"crop_area": (0.5,)}, "crop area (crop_area) must be a (smallest, largest) pair"),
    ],
)
def test_augment_arguments_are_checked_in_the_apps_words(changes, message):
    with pytest.raises(ValueError) as caught:
        Augment(**changes)
    assert str(caught.value).startswith(message)


def test_stream_arguments_are_checked():
    with pytest.raises(ValueError, match="image_size must be >= 1"):
        eval_batches([("a.png", 0)], 0, 4)


def test_awkward_files_arrive_with_three_channels_and_the_right_colours(tmp_path):
    from test_dataset import awkward_images, exif_rotated_jpeg  # the same fixtures

    root = tmp_path / "data"
    awkward_images(root / "awkward")
    exif_rotated_jpeg(root / "awkward" / "exif.jpg")
    folder = discover(root, cache_dir=tmp_path / "cache", min_classes=1)
    images = np.concatenate(
        [denormalize(b["image"]) for b in eval_batches(folder.samples, SIZE, 16)]
    )
    names = [Path(folder.original(path)).stem for path, _ in folder.samples]
    seen = {name: image.astype(int) for name, image in zip(names, images, strict=True)}
    expected = {
        "rgba": (128, 0, 0),  # half-transparent red on black
        "la": (200, 200, 200),
        "grey": (90, 90, 90),
        "grey16": (128, 128, 128),
        "palette": (0, 0, 255),
        "webp": (10, 200, 30),
    }
    for name, colour in expected.items():
        assert np.abs(seen[name] - colour).max() <= 1, name
    assert np.abs(seen["cmyk"] - (255, 0, 0)).max() <= 8  # via a JPEG
    exif = seen["exif"]  # shown left-red once the EXIF turn is applied
    assert exif[:, : SIZE // 2 - 2, 0].min() > 200 and exif[:, SIZE // 2 + 2 :, 0].max() < 60
