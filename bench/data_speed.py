"""How fast does the scene stream feed training, against building the same scenes in a loop?

Both build the very same scenes (one plan, one seed: `scenes.build_scene` per scene) from
the same decoded pictures, batched by 32 and normalised:

- the stream: `scenes.scene_stream`, mlx-data's `ordered_prefetch` running the builder on
  2 worker threads;
- the peer: a plain Python loop over the plan, one scene after another, then numpy
  stacking and `stream.normalize`.

The pictures are the bundled portraits with their boxes (their faces), 100 generated
pictures without a face and 50 strangers, decoded once, as `detector_data.prepare` does.
Interleaved medians of whole epochs (bench/timing.py). The last line is one JSON object:
{"stream_scenes_s", "loop_scenes_s", "ratio"}; ratio > 1 means the stream is faster. The
training step of a batch of 32 takes about 300 ms (bench/detector_speed.py), so either
keeps a 2-core trainer fed if it builds well over 100 scenes a second.

    python bench/data_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import menny_base  # noqa: F401  (first: fast BLAS before mlx.core)

# isort: split
import numpy as np
from timing import interleaved  # bench/ is the script's folder

from menny_core.dataset import discover
from menny_core.detector_data import draw_generated
from menny_core.scenes import SceneAugment, build_scene, picture, plan_scenes, scene_stream
from menny_core.stream import normalize
from menny_core.train import DEFAULT_AUGMENT

ROOT = Path(__file__).resolve().parents[1]
SIZE, BATCH = 64, 32


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

    assert stream_epoch() == loop_epoch() == len(pictures)
    seconds = interleaved({"stream": stream_epoch, "loop": loop_epoch}, args.repeats, 1)
    result = {
        "scenes": len(pictures),
        "stream_scenes_s": round(len(pictures) / seconds["stream"]),
        "loop_scenes_s": round(len(pictures) / seconds["loop"]),
        "ratio": round(seconds["loop"] / seconds["stream"], 2),
        "load_1min": round(os.getloadavg()[0], 2),
    }
    for key, value in result.items():
        print(f"{key:>16}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
