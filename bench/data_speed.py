"""How fast does the scene stream feed training, against building the same scenes in a loop?

Both build the very same scenes (one plan, one seed: `scenes.build_scene` per scene) from
the same decoded pictures, batched by 32 and normalised:

- the stream: `scenes.scene_stream`, mlx-data's `ordered_prefetch` running the builder on
  2 worker threads;
- the peer: a plain Python loop over the plan, one scene after another, then numpy
  stacking and `stream.normalize`;
- the textbook loop: the same loop with the textbook resampling, which scales a whole
  picture and then crops or pastes it, where `scenes` resamples only the part that lands
  in the frame (Pillow's `resize(box=...)`; tests/test_scenes.py checks they agree to
  rounding).

The pictures are the bundled portraits with their boxes (their faces), 100 generated
pictures without a face and 50 strangers, decoded once, as `detector_data.prepare` does.
Interleaved medians of whole epochs (bench/timing.py). The last line is one JSON object:
{"stream_scenes_s", "loop_scenes_s", "textbook_scenes_s", "ratio", "crop_ratio"}; ratio > 1
means the stream is faster than the loop, crop_ratio > 1 that the loop is faster than the
textbook loop. The training step of a batch of 32 takes about 100 ms
(bench/detector_speed.py), so a loader keeps a 2-core trainer fed if it builds well over
320 scenes a second; scenes are built on the same two cores, which is why their cost still
shows in an epoch's time.

    python bench/data_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from contextlib import contextmanager
from pathlib import Path

import menny_base  # noqa: F401  (first: fast BLAS before mlx.core)

# isort: split
import numpy as np
from PIL import Image
from timing import interleaved  # bench/ is the script's folder

from menny_core import scenes
from menny_core.dataset import discover
from menny_core.detector_data import draw_generated
from menny_core.scenes import SceneAugment, build_scene, picture, plan_scenes, scene_stream
from menny_core.stream import normalize
from menny_core.train import DEFAULT_AUGMENT

ROOT = Path(__file__).resolve().parents[1]
SIZE, BATCH = 64, 32
BILINEAR = Image.Resampling.BILINEAR


def textbook_view(image: Image.Image, size: int, rng, zoom: float | None = None):
    """scenes._view as first written: scale the whole picture, then crop."""
    width, height = image.size
    zoom = rng.uniform(1.0, 2.0) if zoom is None else zoom
    scale = size * zoom / min(height, width)
    new = (max(size, math.ceil(width * scale)), max(size, math.ceil(height * scale)))
    x, y = int(rng.integers(0, new[0] - size + 1)), int(rng.integers(0, new[1] - size + 1))
    view = np.array(image.resize(new, BILINEAR).crop((x, y, x + size, y + size)))
    return view, new[0] / width, new[1] / height, x, y


def textbook_place(face, canvas, size: int, rng, share):
    """scenes._place as first written: scale the whole photo, then paste it."""
    new, corner = scenes.placement(face, size, rng, share)
    scene = Image.fromarray(canvas)
    scene.paste(face.image.resize(new, BILINEAR), corner)
    return np.asarray(scene).copy(), scenes.landed_box(face, new, corner, size)


@contextmanager
def textbook_resampling():
    kept = scenes._view, scenes._place
    scenes._view, scenes._place = textbook_view, textbook_place
    try:
        yield
    finally:
        scenes._view, scenes._place = kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = discover(ROOT / "portraits")
    rng = np.random.default_rng(0)
    faces = [picture(p, label, folder.boxes.get(p)) for p, label in folder.samples]
    no_faces = [draw_generated("no_faces", rng, 4) for _ in range(100)]
    strangers = [draw_generated("strangers", rng, 4) for _ in range(50)]
    pictures = faces + strangers + no_faces
    augment = SceneAugment.of(DEFAULT_AUGMENT)

    def stream_epoch() -> int:
        stream = scene_stream(pictures, no_faces, SIZE, BATCH, seed=1, augment=augment)
        return sum(len(batch["label"]) for batch in stream)

    def loop_epoch() -> int:
        plan = plan_scenes(pictures, len(no_faces), 1, seed=1)
        delivered = 0
        for start in range(0, len(plan.faces), BATCH):
            scenes = [
                build_scene(pictures, no_faces, plan, i, SIZE, augment)
                for i in range(start, min(start + BATCH, len(plan.faces)))
            ]
            images = normalize(np.stack([s["image"] for s in scenes]))
            delivered += len(images)
        return delivered

    def textbook_epoch() -> int:
        with textbook_resampling():
            return loop_epoch()

    assert stream_epoch() == loop_epoch() == textbook_epoch() == len(pictures)
    works = {"stream": stream_epoch, "loop": loop_epoch, "textbook": textbook_epoch}
    seconds = interleaved(works, args.repeats, 1)
    result = {
        "scenes": len(pictures),
        "stream_scenes_s": round(len(pictures) / seconds["stream"]),
        "loop_scenes_s": round(len(pictures) / seconds["loop"]),
        "textbook_scenes_s": round(len(pictures) / seconds["textbook"]),
        "ratio": round(seconds["loop"] / seconds["stream"], 2),
        "crop_ratio": round(seconds["textbook"] / seconds["loop"], 2),
        "load_1min": round(os.getloadavg()[0], 2),
    }
    for key, value in result.items():
        print(f"{key:>16}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
