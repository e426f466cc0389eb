"""The detector judged: thresholds picked on validation, then every goal measured on test.

`choose_thresholds` runs the trained model over the validation scenes, fits the softmax
temperature and picks the face and "not sure" thresholds (verdicts.py says how).
`detection_report` runs it over the test split and says, in numbers a person can check:

    named_right_photos   the classes' test photos, whole: the verdict is the right name
    named_right_scenes   the same people at 35-100% of the frame, anywhere, on backgrounds
    box_iou              mean intersection over union of the box on those scenes
    no_face_rate         pictures without a face answered "no face"
    stranger_rate        strangers answered "someone else" or "not sure"
    ece, ece_before      expected calibration error of the class probabilities on the test
                         faces, with and without the fitted temperature; `reliability`:
                         the diagram's rows (low, high, count, mean confidence, accuracy)
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from menny_core.detector_data import DetectorData, Part
from menny_core.model import MennyCNN
from menny_core.scenes import SceneAugment, scene_arrays
from menny_core.stream import eval_batches, normalize
from menny_core.verdicts import (
    NO_FACE,
    NOT_SURE,
    SOMEONE_ELSE,
    Thresholds,
    box_iou,
    calibration,
    choose_face_threshold,
    choose_sure_threshold,
    fit_temperature,
    sigmoid,
    softmax,
    verdict,
)

SCENES_PER_PICTURE = 2  # validation and test scenes per picture (more: steadier numbers)
# The thresholds are chosen once, after training, so they can afford more scenes of each
# validation picture: with 2, one scene moved a threshold by 2% of a kind, and the "not
# sure" cut swung between 0.67 and 0.90 from run to run.
THRESHOLD_SCENES_PER_PICTURE = 8
_FIXED = SceneAugment(flip_prob=0.5, grey_prob=0.0, rotation_degrees=0.0)


def heads(model: MennyCNN, images: np.ndarray, batch_size: int = 128):
    """The model's (class logits, face logits, boxes) as numpy for uint8 images (N, S, S, 3)
    or already normalised float32 ones, in eval mode."""
    model.eval()
    outs = [[], [], []]
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        x = normalize(chunk) if chunk.dtype == np.uint8 else chunk
        result = model.detect(mx.array(x))
        mx.eval(*result)
        for out, value in zip(outs, result, strict=True):
            out.append(np.array(value, np.float32))
    return tuple(np.concatenate(o) if o else np.zeros((0,)) for o in outs)


def scenes_of(
    part: Part, size: int, seed: int, which: str = "pictures", repeat: int = SCENES_PER_PICTURE
) -> dict:
    """`repeat` fixed scenes of each of the part's `which` pictures (scenes.scene_arrays)."""
    pictures = getattr(part, which)
    if not pictures:
        return {}
    return scene_arrays(pictures, part.no_faces, size, seed, _FIXED, repeat)


def choose_thresholds(model: MennyCNN, val: dict, classes: list[str]) -> Thresholds:
    """Thresholds from the validation scenes `val` (scenes_of the validation part, with
    THRESHOLD_SCENES_PER_PICTURE; see verdicts.py for the rules); the defaults when there
    are none."""
    if not val:
        return Thresholds()
    logits, face_logits, _ = heads(model, val["image"])
    faces = val["face"] == 1
    temperature = fit_temperature(logits[faces], val["label"][faces]) if faces.any() else 1.0
    probabilities = softmax(logits, temperature)
    stranger = stranger_index(classes)
    strangers = faces & (val["label"] == stranger) if stranger is not None else None
    face_cut = choose_face_threshold(sigmoid(face_logits), faces, strangers)
    top = probabilities.argmax(axis=1)
    # "not sure" is about naming: among faces Menny would name, was the name right?
    named = faces & (top != stranger)
    sure_cut = choose_sure_threshold(
        probabilities[named].max(axis=1), top[named] == val["label"][named]
    )
    return Thresholds(face_cut, sure_cut, temperature)


def detection_report(
    model: MennyCNN, data: DetectorData, size: int, seed: int, thresholds: Thresholds
) -> dict:
    """The test figures listed in the module docstring (None where there is nothing to
    measure), and how many pictures each rests on."""
    test = data.parts["test"]
    report: dict = {"thresholds": thresholds.to_dict(), "counts": {}}
    stranger = stranger_index(data.classes)

    def verdicts_for(images) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        logits, face_logits, boxes = heads(model, images)
        probabilities = softmax(logits, thresholds.temperature)
        said = [
            verdict(f, p, data.classes, thresholds)
            for f, p in zip(sigmoid(face_logits), probabilities, strict=True)
        ]
        return said, probabilities, logits, boxes

    if test.plain:
        images, labels = _plain(test.plain, size)
        said, *_ = verdicts_for(images)
        report["named_right_photos"] = _rate(
            s == data.classes[label] for s, label in zip(said, labels, strict=True)
        )
        report["counts"]["photos"] = len(labels)
    faces = scenes_of(test, size, seed + 2, "faces")
    if faces:
        said, probabilities, logits, boxes = verdicts_for(faces["image"])
        labels = faces["label"]
        report["named_right_scenes"] = _rate(
            s == data.classes[label] for s, label in zip(said, labels, strict=True)
        )
        known = faces["has_box"] == 1
        report["box_iou"] = (
            float(box_iou(boxes[known], faces["box"][known]).mean()) if known.any() else None
        )
        report["counts"]["face_scenes"] = len(labels)
        right = probabilities.argmax(axis=1) == labels
        report["ece_before"] = calibration(softmax(logits).max(axis=1), right).ece
        reliability = calibration(probabilities.max(axis=1), right)
        report["ece"], report["reliability"] = reliability.ece, reliability.to_dict()["rows"]
    no_faces = scenes_of(test, size, seed + 3, "no_faces")
    if no_faces:
        said, *_ = verdicts_for(no_faces["image"])
        report["no_face_rate"] = _rate(s == NO_FACE for s in said)
        report["counts"]["no_face_scenes"] = len(said)
    strangers = scenes_of(test, size, seed + 4, "strangers") if stranger is not None else {}
    if strangers:
        said, *_ = verdicts_for(strangers["image"])
        report["stranger_rate"] = _rate(s in (SOMEONE_ELSE, NOT_SURE) for s in said)
        report["counts"]["stranger_scenes"] = len(said)
    return report


def _plain(samples, size: int) -> tuple[np.ndarray, list[int]]:
    """The samples as the eval stream reads them (resize + centre crop), normalised."""
    images, labels = [], []
    for batch in eval_batches(samples, size, 64):
        images.append(np.asarray(batch["image"], np.float32))
        labels += np.asarray(batch["label"]).reshape(-1).tolist()
    return np.concatenate(images), labels


def _rate(hits) -> float | None:
    hits = list(hits)
    return float(np.mean(hits)) if hits else None


def stranger_index(classes) -> int | None:
    """The "someone else" class's label, None when strangers are not a class."""
    return classes.index(SOMEONE_ELSE) if SOMEONE_ELSE in classes else None
