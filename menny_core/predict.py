"""Ask Menny what is in a picture: any upload in, class probabilities out.

The picture goes through exactly what evaluation images go through, so Menny sees an
upload as it saw its validation images:

    load_rgb (any format, mode, EXIF rotation, alpha on black) -> uint8 (H, W, 3)
    -> shortest side resized to image_size, centre square cropped   (mlx-data, the same
       two operations as stream.eval_batches; tiny images are scaled up)
    -> stream.normalize -> model -> logits -> softmax -> probabilities
    (a face detector's weights: also the face probability, the box, and the verdict)

Weights are checked twice before they answer anyone: `weights.load` refuses a damaged file,
and `Predictor` (so `check_weights`, for an app's start-up) runs a blank and a patterned
picture through the model and refuses outputs that are not numbers. `probabilities` checks
every answer too, so weights that overflow on one odd picture give a sentence, not "nan%".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import mlx.data as dx
import numpy as np

from menny_base.errors import MennyError
from menny_base.images import load_rgb
from menny_core.model import MennyCNN
from menny_core.stream import normalize, resize_and_center_crop
from menny_core.verdicts import NO_FACE, NOT_SURE, Thresholds, sigmoid, softmax, verdict
from menny_core.weights import WeightsError, load

UNSURE_BELOW = 0.6  # a top probability under this is shown as "not sure"


@dataclass
class Prediction:
    """label: the most probable class. probabilities: {class: p}, sorted high to low,
    summing to 1. unsure: the top probability is below the threshold asked for.

    A face detector's weights (trained since the detector heads) also give
    verdict: a class name, "someone else", "no face" or "not sure" (verdicts.py);
    face: the probability that there is a face; box: [x, y, w, h] of the face in the
    input image's pixels, None when there is no face or the model learnt no boxes.
    A classifier's weights leave the three None.
    """

    label: str
    probabilities: dict[str, float]
    unsure: bool
    verdict: str | None = None
    face: float | None = None
    box: list[float] | None = None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "probabilities": self.probabilities,
            "unsure": self.unsure,
            "verdict": self.verdict,
            "face": self.face,
            "box": self.box,
        }


def model_input(image: np.ndarray, image_size: int) -> np.ndarray:
    """A uint8 (H, W, 3) image as Menny's eval path shapes it: uint8 (S, S, 3), S = image_size
    (shortest side resized to S with mlx-data, then the centre S x S square)."""
    # mlx-data only takes writeable, contiguous arrays (load_rgb may return a read-only view).
    pixels = np.require(image, dtype=np.uint8, requirements=["C", "W"])
    buffer = dx.buffer_from_vector([{"image": pixels}])
    return np.asarray(resize_and_center_crop(buffer, image_size)[0]["image"])


def probabilities(
    model: MennyCNN, image: np.ndarray, image_size: int, temperature: float = 1.0
) -> np.ndarray:
    """Softmax of Menny's logits / temperature for one uint8 (H, W, 3) image: float64
    (num_classes,).

    A WeightsError if they are not numbers (NaN/inf): damaged weights, not a bad picture.
    """
    return _answer(model, image, image_size, temperature)[0]


def _answer(model: MennyCNN, image: np.ndarray, image_size: int, temperature: float = 1.0):
    """(class probabilities, face probability or None, box (4,) normalised or None)."""
    model.eval()
    batch = mx.array(normalize(model_input(image, image_size))[None])
    face = box = None
    if model.detector:
        logits, face_logit, box_out = model.detect(batch)
        face, box = float(sigmoid(np.array(face_logit)[0])), np.array(box_out[0], np.float64)
    else:
        logits = model(batch)  # the model returns logits: see model.py
    raw = np.array(logits[0], dtype=np.float64)
    # Checked before the softmax too: NaN logits would only raise numpy warnings there.
    values = softmax(raw, temperature) if np.isfinite(raw).all() else raw
    if not (np.isfinite(values).all() and values.sum() > 0) or (face is not None and not (
        np.isfinite(face) and np.isfinite(box).all()
    )):  # fmt: skip
        raise WeightsError(
            "Menny's answer is not a number (NaN or infinity), so its weights are damaged; "
            "train Menny again or use the shipped weights"
        )
    return values / values.sum(), face, box


def box_in_image(box: np.ndarray, height: int, width: int, image_size: int) -> list[float]:
    """A box (centre x, centre y, w, h in 0..1 of the model's centre square) as [x, y, w, h]
    in the pixels of the (height, width) image it was cut from: the square is the centre
    min(height, width) square, scaled to image_size (model_input)."""
    side = min(height, width)
    cx, cy, w, h = np.asarray(box, float) * side
    left, top = (width - side) / 2 + cx - w / 2, (height - side) / 2 + cy - h / 2
    x0, y0 = max(0.0, left), max(0.0, top)
    x1, y1 = min(float(width), left + w), min(float(height), top + h)
    return [round(float(v), 1) for v in (x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))]


def predict(
    model: MennyCNN, metadata: dict, image_source: object, unsure_below: float = UNSURE_BELOW
) -> Prediction:
    """Classify one image. image_source: a path, bytes, PIL image or array (see
    images.load_rgb; an unusable one raises images.ImageError). metadata: as stored with
    the weights ("classes", "image_size"). unsure_below: threshold in [0, 1]."""
    if not 0.0 <= unsure_below <= 1.0:
        raise MennyError(f"unsure_below must be from 0 to 1, got {unsure_below}")
    classes = list(metadata["classes"])
    image, size = load_rgb(image_source), int(metadata["image_size"])
    detector = metadata.get("detector")
    thresholds = Thresholds.from_dict(detector.get("thresholds", {})) if detector else None
    temperature = thresholds.temperature if thresholds else 1.0
    probs, face, box = _answer(model, image, size, temperature)
    order = np.argsort(-probs, kind="stable")
    ranked = {classes[i]: float(probs[i]) for i in order}
    top = int(order[0])
    if thresholds is None:
        return Prediction(classes[top], ranked, bool(probs[top] < unsure_below))
    said = verdict(face, probs, classes, thresholds)
    where = None
    if said != NO_FACE and detector.get("boxes"):
        where = box_in_image(box, *image.shape[:2], size)
    return Prediction(classes[top], ranked, said == NOT_SURE, said, round(face, 4), where)


def _probe_pictures(size: int) -> list[np.ndarray]:
    """Two uint8 (size, size, 3) pictures for a trial run: all black, and a colour ramp.

    Black is what was asked for (a blank upload); it becomes all zeros after
    standardisation, so it only exercises the biases. The ramp makes every weight count.
    """
    ramp = np.linspace(0, 255, size * size * 3).reshape(size, size, 3).astype(np.uint8)
    return [np.zeros((size, size, 3), np.uint8), ramp]


class Predictor:
    """Weights loaded once and checked completely, then `predictor(image)` as often as needed.

    Construction raises a WeightsError (one sentence naming the file, not its folder) for
    any file `weights.load` refuses and for weights whose answers to a trial picture are
    not numbers; so an app that builds its Predictor at start-up fails there, not on the
    first visitor's upload.
    """

    def __init__(self, weights_path: str | os.PathLike, unsure_below: float = UNSURE_BELOW):
        self.model, self.metadata = load(weights_path)
        self.unsure_below = unsure_below
        if "detector" in self.metadata:  # its own threshold, chosen on validation
            thresholds = self.metadata["detector"].get("thresholds", {})
            self.unsure_below = Thresholds.from_dict(thresholds).sure
        size = int(self.metadata["image_size"])
        try:
            for picture in _probe_pictures(size):
                probabilities(self.model, picture, size)
        except WeightsError:
            raise WeightsError(
                f"{Path(weights_path).name} gives answers that are not numbers (NaN or "
                f"infinity) for a trial picture; train Menny again or use the shipped weights"
            ) from None

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])

    def __call__(self, image_source: object) -> Prediction:
        return predict(self.model, self.metadata, image_source, self.unsure_below)


def check_weights(weights_path: str | os.PathLike) -> dict:
    """Validate a weights file completely and return its metadata, or raise a WeightsError.

    For an app's start-up: loads the file (format, metadata ranges, tensor names, shapes,
    dtypes, finite values: weights.load) and runs trial pictures through the model
    (Predictor). Build a Predictor instead to keep the loaded model.
    """
    return Predictor(weights_path).metadata
