"""What the detector's heads cost: one picture through Menny with and without them.

Peers in the same run, interleaved (bench/timing.py), after warm-up:

- forward pass of one 64x64 image: the complex classifier (`model(x)`) against the same
  network with the detector heads (`model.detect(x)`: class logits, face score, box);
- the same for a batch of 32, in eval mode;
- a training step (forward, backward, AdamW) of 32 scenes: the classifier's cross-entropy
  step against the detector's three-term step (`train.make_step`);
- one whole prediction as `menny predict` makes it (load a 512x512 PNG, resize and crop,
  forward, verdict, box), with the shipped weights: its absolute time (the goal: < 20 ms).

The last line is one JSON object with the medians in ms and the ratios detector /
classifier (1.0: the heads cost nothing; the goal is <= 1.2).

    python bench/detector_speed.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
from functools import partial
from pathlib import Path

import menny_base  # noqa: F401  (first: MLX gets a fast BLAS before mlx.core loads)

# isort: split
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from timing import interleaved  # bench/ is the script's folder

from menny_core.model import MennyCNN
from menny_core.predict import Predictor
from menny_core.train import make_step

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights" / "menny.safetensors"
PORTRAIT = ROOT / "portraits" / "RJ" / "front_007.png"


def classifier_step(model: MennyCNN, optimizer: optim.Optimizer):
    """The classifier's compiled step before the detector: cross-entropy only."""
    state = [model.state, optimizer.state, mx.random.state]
    grad_fn = nn.value_and_grad(
        model, lambda x, y: nn.losses.cross_entropy(model(x), y, reduction="mean")
    )

    @partial(mx.compile, inputs=state, outputs=state)
    def step(images, labels):
        loss, grads = grad_fn(images, labels)
        optimizer.update(model, grads)
        return loss

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    one = mx.array(rng.normal(size=(1, 64, 64, 3)).astype(np.float32))
    batch = mx.array(rng.normal(size=(32, 64, 64, 3)).astype(np.float32))
    labels = mx.array(rng.integers(0, 5, 32).astype(np.int32))
    face = mx.array((rng.random(32) < 0.7).astype(np.float32))
    boxes = mx.array(rng.uniform(0.2, 0.8, (32, 4)).astype(np.float32))

    classifier = MennyCNN(5, "complex", 0.25)
    detector = MennyCNN(5, "complex", 0.25, detector=True)
    for model in (classifier, detector):
        model.eval()
        mx.eval(model.parameters())

    def forward(model, x, heads):
        out = model.detect(x) if heads else model(x)
        mx.eval(out)

    inference = interleaved(
        {
            "classifier_1": lambda: forward(classifier, one, False),
            "detector_1": lambda: forward(detector, one, True),
            "classifier_32": lambda: forward(classifier, batch, False),
            "detector_32": lambda: forward(detector, batch, True),
        },
        args.repeats,
    )

    train_classifier, train_detector = MennyCNN(5, "complex"), MennyCNN(5, "complex", detector=True)
    opt_c, opt_d = optim.AdamW(1e-3), optim.AdamW(1e-3)
    step_c = classifier_step(train_classifier, opt_c)
    step_d = make_step(train_detector, opt_d)
    train_classifier.train(), train_detector.train()

    def run_c():
        mx.eval(step_c(batch, labels), train_classifier.state, opt_c.state)

    def run_d():
        mx.eval(step_d(batch, labels, face, boxes, face), train_detector.state, opt_d.state)

    training = interleaved({"classifier_step": run_c, "detector_step": run_d}, args.repeats)

    result = {k: round(v * 1000, 2) for k, v in {**inference, **training}.items()}
    if WEIGHTS.exists() and PORTRAIT.exists():
        predictor = Predictor(WEIGHTS)
        result["predict_ms"] = round(
            interleaved({"p": lambda: predictor(PORTRAIT)}, args.repeats)["p"] * 1000, 2
        )
        result["shipped_is_detector"] = predictor.model.detector
    for what in ("1", "32", "step"):
        result[f"ratio_{what}"] = round(
            result[f"detector_{what}"] / result[f"classifier_{what}"], 3
        )
    result["openblas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    result["load_1min"] = round(os.getloadavg()[0], 2)
    for key, value in result.items():
        print(f"{key:>20}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
