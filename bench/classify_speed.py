"""How long does one Classify request take on the server? Today's path against explain_photo.

Two pictures: a bundled portrait (portraits/RJ/front_007.png, 512x512 PNG) and a seeded
1024x768 photo-like JPEG (bench/playground_speed.synthetic_image, cropped). For each, the
median of N interleaved runs after warm-up of:

- the old path, piece by piece, as demo.py's `_classify` did it: load (load_rgb +
  fit_within 512), Predictor, insight.saliency, insight.overlay (512 px), insight.feature_maps,
  render_feature_map of 4 channels of every conv layer (20 pictures), and encoding as Gradio
  does for its cache (processing_utils.save_img_array_to_cache, PNG: the overlay and the
  20 gallery pictures);
- the new path: the same load, explain_photo (one forward and one backward pass, a 256 px
  overlay, one feature sheet), and Gradio's PNG encoding of its two pictures; and the same
  with the overlay encoded as JPEG (a photo: gr.Image(format="jpeg"));
- both paths whole, end to end (plus the verdict and Learn text), and their ratio.

The probabilities of both paths are checked equal before anything is timed. The last line is
one JSON object: per picture old_ms, new_ms, ratio = old_ms / new_ms (> 1: new is faster) and
new_jpeg_overlay_ms; then the OPENBLAS_NUM_THREADS in effect and the 1-minute load average.
MLX's GEMMs run in numpy's OpenBLAS (see fast_blas.py), whose worker threads spin: on a busy
2-core machine compare a run with OPENBLAS_NUM_THREADS=1.

    python bench/classify_speed.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import kernels_playground  # noqa: F401  (first: MLX gets a fast BLAS before mlx.core loads)

# isort: split
import numpy as np
from gradio import processing_utils
from PIL import Image
from playground_speed import median_ms, synthetic_image  # bench/ is the script's folder

from kernels_playground.render import render_feature_map
from menny_base.images import MAX_PIXELS, fit_within, load_rgb
from menny_core.explain_photo import explain_photo
from menny_core.insight import feature_maps, overlay, saliency
from menny_core.lessons import classify_lesson, verdict
from menny_core.predict import Predictor

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "portraits" / "RJ" / "front_007.png"
WEIGHTS = ROOT / "weights" / "menny.safetensors"
DISPLAY_SIDE = (
    512  # menny_app.inputs.PLAYGROUND_SIDE: uploads are shrunk to this before classifying
)


def photo(folder: Path) -> Path:
    """A 1024x768 JPEG (quality 90, as cameras save) of smooth gradients, discs and noise."""
    path = folder / "photo_1024x768.jpg"
    Image.fromarray(synthetic_image(1024)[:768]).save(path, quality=90)
    return path


def load(path: Path) -> np.ndarray:
    return fit_within(load_rgb(path, max_pixels=MAX_PIXELS), DISPLAY_SIDE)


def conv_maps(maps: list[tuple[str, np.ndarray]]) -> list[tuple[np.ndarray, str]]:
    """The old gallery: 4 channels of every conv layer, one rendered picture each."""
    return [
        (render_feature_map(activation[..., c]).image, f"{name}, channel {c + 1}")
        for name, activation in maps
        if name.endswith("conv")
        for c in range(min(4, activation.shape[-1]))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    repeats = parser.parse_args().repeats
    predictor = Predictor(WEIGHTS)
    size = int(predictor.metadata["image_size"])
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        cache = os.path.join(folder, "gradio-cache")

        def encode(pictures: list[np.ndarray], overlay_format: str = "png") -> None:
            """What gr.Image(format=...) and gr.Gallery(format="png") do with each picture:
            the first is the overlay."""
            for index, picture in enumerate(pictures):
                kind = overlay_format if index == 0 else "png"
                processing_utils.save_img_array_to_cache(picture, cache, format=kind)

        def old_path(path: Path):
            image = load(path)
            prediction = predictor(image)
            index = predictor.classes.index(prediction.label)
            heat = overlay(image, saliency(predictor.model, image, index, size))
            maps = conv_maps(feature_maps(predictor.model, image, size))
            verdict(prediction, predictor.unsure_below)
            classify_lesson(prediction.probabilities, size)
            encode([heat, *(picture for picture, _ in maps)])
            return prediction

        def new_path(path: Path, overlay_format: str = "png"):
            seen = explain_photo(predictor, load(path))
            verdict(seen.prediction, predictor.unsure_below)
            classify_lesson(seen.prediction.probabilities, size, seen.layers)
            encode([seen.overlay, seen.feature_sheet], overlay_format)
            return seen.prediction

        for name, path in (("portrait", PORTRAIT), ("photo", photo(Path(folder)))):
            assert old_path(path) == new_path(path), "the two paths disagree"  # same numbers
            image = load(path)
            prediction = predictor(image)
            index = predictor.classes.index(prediction.label)
            heat = saliency(predictor.model, image, index, size)
            maps = feature_maps(predictor.model, image, size)
            pictures = [overlay(image, heat), *(picture for picture, _ in conv_maps(maps))]
            seen = explain_photo(predictor, image)
            rows = median_ms(
                {
                    "old: load (load_rgb + fit_within 512)": lambda path=path: load(path),
                    "old: Predictor": lambda image=image: predictor(image),
                    "old: saliency": lambda image=image, index=index: saliency(
                        predictor.model, image, index, size
                    ),
                    "old: overlay": lambda image=image, heat=heat: overlay(image, heat),
                    "old: feature_maps": lambda image=image: feature_maps(
                        predictor.model, image, size
                    ),
                    "old: render 20 maps": lambda maps=maps: conv_maps(maps),
                    "old: Gradio PNG of 21 pictures": lambda p=pictures: encode(p),
                    "new: explain_photo": lambda image=image: explain_photo(predictor, image),
                    "new: Gradio PNG of 2 pictures": lambda s=seen: encode(
                        [s.overlay, s.feature_sheet]
                    ),
                    "new: the same, overlay as JPEG": lambda s=seen: encode(
                        [s.overlay, s.feature_sheet], "jpeg"
                    ),
                    "OLD PATH, whole": lambda path=path: old_path(path),
                    "NEW PATH, whole": lambda path=path: new_path(path),
                    "NEW PATH, whole, overlay as JPEG": lambda path=path: new_path(path, "jpeg"),
                },
                repeats,
            )
            height, width = image.shape[:2]
            print(f"{name} ({path.name}, classified at {width}x{height}), median of {repeats}:")
            for what, ms in rows.items():
                print(f"  {what:<40} {ms:8.1f} ms")
            old, new = rows["OLD PATH, whole"], rows["NEW PATH, whole"]
            jpeg = rows["NEW PATH, whole, overlay as JPEG"]
            print(f"  ratio old/new {old / new:.2f} (overlay as JPEG: {old / jpeg:.2f})")
            results[name] = {
                "old_ms": round(old, 1),
                "new_ms": round(new, 1),
                "ratio": round(old / new, 2),
                "new_jpeg_overlay_ms": round(jpeg, 1),
            }
    results["openblas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    results["load_average_1min"] = round(os.getloadavg()[0], 2)  # others' work slows all of it
    print(json.dumps(results))


if __name__ == "__main__":
    main()
