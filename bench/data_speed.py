"""How fast does the mlx-data stream feed training, against plain PIL + numpy?

Both do the same work per image, single process, on the same files, in one run:
decode, random flip, random rotation (+-15 degrees), random area crop (60-100 %),
shortest side to 128 + centre crop, stack into batches of 32, normalise.

    python bench/data_speed.py            # portraits/ if present, else 160 synthetic PNGs
    python bench/data_speed.py some/dir   # any ImageFolder

Prints a table and, last, one JSON line: {"mlx_data_img_s", "pil_img_s", "ratio"};
ratio > 1 means mlx-data is faster.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import kernels_playground  # noqa: F401  (first: fast BLAS before mlx.core)
from menny_core.dataset import discover
from menny_core.stream import ASPECT_RATIOS, Augment, normalize, training_stream, working_size

IMAGE_SIZE, BATCH, EPOCHS = 128, 32, 3
AUGMENT = Augment(flip_prob=0.5, rotation_degrees=15.0, crop_area=(0.6, 1.0))


def synthetic_folder(root: Path, count: int = 160, classes: int = 4) -> Path:
    """`count` 512x512 RGB PNGs of blobs on a gradient, like drawn portraits."""
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 120, 512, dtype=np.float32)
    for i in range(count):
        base = gradient[:, None, None] + rng.uniform(0, 120, 3)
        image = Image.fromarray(np.broadcast_to(base, (512, 512, 3)).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.integers(0, 400, 2)
            w, h = rng.integers(40, 200, 2)
            draw.ellipse((x, y, x + w, y + h), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:03d}.png")
    return root


def pil_epoch(samples, rng: np.random.Generator) -> int:
    """The same augmentation chain with PIL and numpy; returns the images delivered."""
    order = rng.permutation(len(samples))
    delivered = 0
    for start in range(0, len(order), BATCH):
        images, labels = [], []
        for index in order[start : start + BATCH]:
            path, label = samples[index]
            with Image.open(path) as opened:
                image = opened.convert("RGB")
            image = shrink(image, working_size(IMAGE_SIZE, AUGMENT))  # as the stream does
            if rng.random() < AUGMENT.flip_prob:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            angle = rng.uniform(-AUGMENT.rotation_degrees, AUGMENT.rotation_degrees)
            image = image.rotate(angle, resample=Image.Resampling.BILINEAR)
            image = image.crop(random_area_box(image.size, rng))
            image = shrink(image, IMAGE_SIZE)
            left, top = (image.width - IMAGE_SIZE) // 2, (image.height - IMAGE_SIZE) // 2
            images.append(np.asarray(image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))))
            labels.append(label)
        batch = normalize(np.stack(images)), np.asarray(labels, np.int32)
        delivered += len(batch[1])
    return delivered


def shrink(image: Image.Image, shortest: int) -> Image.Image:
    """Resize so the shortest side is `shortest` pixels (bilinear), keeping the aspect."""
    scale = shortest / min(image.size)
    size = (max(shortest, round(image.width * scale)), max(shortest, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def random_area_box(size: tuple[int, int], rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A crop of 60-100 % of the area with aspect 3:4..4:3, as mlx-data samples it."""
    width, height = size
    for _ in range(10):
        area = width * height * rng.uniform(*AUGMENT.crop_area)
        aspect = math.exp(rng.uniform(math.log(ASPECT_RATIOS[0]), math.log(ASPECT_RATIOS[1])))
        w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < w <= width and 0 < h <= height:
            x, y = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
            return (int(x), int(y), int(x + w), int(y + h))
    return (0, 0, width, height)


def mlx_epoch(samples, seed: int, threads: int) -> int:
    stream = training_stream(samples, IMAGE_SIZE, AUGMENT, BATCH, seed, threads=threads)
    return sum(len(batch["label"]) for batch in stream)


def best_rate(run) -> float:
    """Images per second of the fastest of EPOCHS full epochs (the first also warms caches)."""
    rates = []
    for epoch in range(EPOCHS):
        start = time.perf_counter()
        count = run(epoch)
        rates.append(count / (time.perf_counter() - start))
    return max(rates)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        if len(sys.argv) > 1:
            root = Path(sys.argv[1])
        elif Path("portraits").is_dir() and any(Path("portraits").iterdir()):
            root = Path("portraits")
        else:
            root = synthetic_folder(Path(scratch) / "synthetic")
        samples = discover(root, cache_dir=Path(scratch) / "cache").samples
        print(f"{len(samples)} images from {root}, batch {BATCH}, {IMAGE_SIZE}x{IMAGE_SIZE}")
        rng = np.random.default_rng(0)
        rows = {
            "mlx-data stream, 2 decode threads": best_rate(lambda e: mlx_epoch(samples, e, 2)),
            "mlx-data stream, 1 decode thread": best_rate(lambda e: mlx_epoch(samples, e, 1)),
            "PIL + numpy, single thread": best_rate(lambda e: pil_epoch(samples, rng)),
        }
    print(f"\n| loader | images/s (best of {EPOCHS} epochs) |\n|---|---|")
    for name, rate in rows.items():
        print(f"| {name} | {rate:.0f} |")
    mlx_rate, pil_rate = (
        rows["mlx-data stream, 2 decode threads"],
        rows["PIL + numpy, single thread"],
    )
    print(
        json.dumps(
            {
                "mlx_data_img_s": round(mlx_rate, 1),
                "pil_img_s": round(pil_rate, 1),
                "ratio": round(mlx_rate / pil_rate, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
