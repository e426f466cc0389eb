"""From the detector's three heads to one answer a person can trust, and how far to trust it.

Menny's heads give a face probability, class probabilities (the people it knows, and
"someone else" when it was trained on strangers) and a box. The answer is:

    face probability < thresholds.face          -> "no face"
    top class is "someone else"                 -> "someone else"
    top probability < thresholds.sure           -> "not sure"
    otherwise                                   -> the top class's name

The thresholds are not hand-picked: `choose_face_threshold` and `choose_sure_threshold`
pick them on the validation scenes, and they are stored with the weights. Before that,
`fit_temperature` rescales the logits (temperature scaling, Guo et al. 2017) so that a
probability of 0.8 is right about 80% of the time on validation; `calibration` measures
how true that stays on the test scenes (the expected calibration error, ECE, and the
rows of a reliability diagram).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np

from menny_base.errors import MennyError
from menny_base.numbers import real

NO_FACE = "no face"
SOMEONE_ELSE = "someone else"
NOT_SURE = "not sure"
VERDICTS = (NO_FACE, SOMEONE_ELSE, NOT_SURE)


@dataclass(frozen=True)
class Thresholds:
    """face: below it, "no face"; sure: a top class probability below it is "not sure";
    temperature: the logits are divided by it before the softmax (1: unchanged)."""

    face: float = 0.5
    sure: float = 0.6
    temperature: float = 1.0

    def __post_init__(self) -> None:
        real(self.face, "face threshold", 0, 1)
        real(self.sure, "sure threshold", 0, 1)
        real(self.temperature, "temperature", 0.05, 100)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Thresholds:
        if not isinstance(values, dict):
            raise MennyError(f"thresholds must be a JSON object, got {type(values).__name__}")
        return cls(**{k: values[k] for k in ("face", "sure", "temperature") if k in values})


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, stable for large logits."""
    scaled = np.asarray(logits, np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|


def verdict(
    face_probability: float,
    probabilities: Sequence[float],
    classes: Sequence[str],
    thresholds: Thresholds,
) -> str:
    """One answer: "no face", "someone else", "not sure", or a class name (see above)."""
    if face_probability < thresholds.face:
        return NO_FACE
    top = int(np.argmax(probabilities))
    if classes[top] == SOMEONE_ELSE:
        return SOMEONE_ELSE
    if probabilities[top] < thresholds.sure:
        return NOT_SURE
    return classes[top]


def choose_face_threshold(
    face_probabilities: np.ndarray, is_face: np.ndarray, stranger: np.ndarray | None = None
) -> float:
    """The threshold with the best balanced accuracy, placed halfway between two
    neighbouring scores: the mean of the hit rates of each kind of picture, the known
    faces and the strangers (`stranger`: which pictures are; None: none) said to be a
    face, the pictures without one said not to be, so no kind wins by being more
    numerous. (With the strangers counted in with the known faces, the cut rose to keep
    out the few no-face pictures that score high and let out the small strangers that
    score low: on 300 freshly drawn strangers and 300 pictures without a face, in no
    split, one model's validation cuts 0.82 and 0.51 caught 89% and 93% of the
    strangers, and 99% and 96% of the others.) 0.5 when there are no faces or no
    pictures without one."""
    scores, truth = np.asarray(face_probabilities, float), np.asarray(is_face, bool)
    if truth.all() or not truth.any():
        return 0.5
    stranger = np.zeros_like(truth) if stranger is None else np.asarray(stranger, bool) & truth
    kinds = [(truth & ~stranger, True), (stranger, True), (~truth, False)]  # (who, said face?)
    kinds = [(kind, want) for kind, want in kinds if kind.any()]
    candidates = np.unique(scores)
    cuts = np.concatenate([[0.0], (candidates[:-1] + candidates[1:]) / 2, [1.0]])
    best, best_score = 0.5, -1.0
    for cut in cuts:
        said_face = scores >= cut
        balanced = np.mean([(said_face[kind] == want).mean() for kind, want in kinds])
        # Ties go to the cut nearest 0.5: the least surprising one.
        if balanced > best_score + 1e-12 or (
            abs(balanced - best_score) <= 1e-12 and abs(cut - 0.5) < abs(best - 0.5)
        ):
            best, best_score = float(cut), balanced
    return best


# A wrong name costs this many "not sure" answers: naming the wrong person is worse than
# admitting doubt, but a detector that doubts everything is useless.
WRONG_NAME_COST = 2.0


def choose_sure_threshold(top_probabilities: np.ndarray, right: np.ndarray) -> float:
    """The lowest threshold that maximises (names right) - WRONG_NAME_COST x (names wrong)
    over the validation faces; answers below it become "not sure". Like the face
    threshold, it lies halfway between two neighbouring scores: a cut just above a wrong
    answer's score would make every test answer between the two "not sure"."""
    top, right = np.asarray(top_probabilities, float), np.asarray(right, bool)
    if top.size == 0:
        return 0.5
    scores = np.unique(top)
    best, best_gain = 0.0, -np.inf
    for cut in np.concatenate([[0.0], (scores[:-1] + scores[1:]) / 2, scores[-1:]]):
        named = top >= cut
        gain = (named & right).sum() - WRONG_NAME_COST * (named & ~right).sum()
        if gain > best_gain:
            best, best_gain = float(cut), gain
    return min(best, 0.99)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T in 0.5..10 with the lowest negative log-likelihood of `labels`
    under softmax(logits / T): a one-parameter fit, searched on a log grid then refined."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, int)
    if labels.size == 0:
        return 1.0

    def nll(t: float) -> float:
        p = softmax(logits, t)[np.arange(labels.size), labels]
        return float(-np.log(np.maximum(p, 1e-12)).mean())

    grid = np.exp(np.linspace(np.log(0.5), np.log(10.0), 50))
    best = min(grid, key=nll)
    fine = np.clip(best * np.exp(np.linspace(-0.06, 0.06, 25)), 0.5, 10.0)
    return round(float(min(fine, key=nll)), 4)


@dataclass(frozen=True)
class Calibration:
    """ece: the expected calibration error (0 = perfectly calibrated); rows: one per
    non-empty bin of confidence, (low, high, count, mean confidence, accuracy)."""

    ece: float
    rows: list[tuple[float, float, int, float, float]]

    def to_dict(self) -> dict:
        return {"ece": self.ece, "rows": [list(r) for r in self.rows]}


def calibration(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> Calibration:
    """ECE over `bins` equal-width bins of confidence: sum of (bin share) x |accuracy -
    mean confidence|."""
    confidence, right = np.asarray(confidence, float), np.asarray(right, bool)
    rows, ece = [], 0.0
    edges = np.linspace(0, 1, bins + 1)
    for low, high in pairwise(edges):
        inside = (confidence >= low) & ((confidence < high) if high < 1 else True)
        count = int(inside.sum())
        if count:
            mean_conf, accuracy = float(confidence[inside].mean()), float(right[inside].mean())
            ece += count / confidence.size * abs(accuracy - mean_conf)
            rows.append((round(float(low), 2), round(float(high), 2), count, mean_conf, accuracy))
    return Calibration(round(ece, 4), rows)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes given as (centre x, centre y, width, height), row
    by row: (N, 4), (N, 4) -> (N,)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    a0, a1 = a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2
    b0, b1 = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    overlap = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod(axis=1)
    union = a[:, 2:].prod(axis=1) + b[:, 2:].prod(axis=1) - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1e-12), 0.0)


def reliability_picture(rows, size: int = 240) -> np.ndarray:
    """A reliability diagram of `Calibration.rows` as a uint8 (size, size, 3) picture: for
    each bin of confidence (x, 0..1) a bar as high as the accuracy in it (y, 0..1), the
    diagonal a perfectly calibrated model would follow in grey, and a red tick at each
    bin's mean confidence: bars below the diagonal are over-confident, above it under."""
    from PIL import Image, ImageDraw  # only this picture needs Pillow here

    margin = size // 12
    plot = size - 2 * margin
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)

    def at(x: float, y: float) -> tuple[float, float]:
        return margin + x * plot, margin + (1 - y) * plot

    draw.rectangle([*at(0, 1), *at(1, 0)], outline=(0, 0, 0))
    for low, high, _count, confidence, accuracy in rows:
        draw.rectangle(
            [*at(low, accuracy), *at(high, 0)], fill=(90, 140, 220), outline=(40, 70, 140)
        )
        x = at(confidence, 0)[0]
        draw.line(
            [x, at(0, accuracy)[1] - 4, x, at(0, accuracy)[1] + 4], fill=(220, 40, 40), width=2
        )
    draw.line([*at(0, 0), *at(1, 1)], fill=(150, 150, 150), width=1)
    grey = (90, 90, 90)
    # Each number at the end of the axis it marks, each axis's name halfway along it.
    below, left = size - margin + 2, margin - 2
    for x, text in ((0.0, "0"), (0.5, "confidence"), (1.0, "1")):
        draw.text((at(x, 0)[0], below), text, fill=grey, anchor="ma")
    for y, text in ((0.0, "0"), (1.0, "1")):
        draw.text((left, at(0, y)[1]), text, fill=grey, anchor="rm")
    draw.text((margin + 4, margin + 2), "accuracy", fill=grey)
    return np.asarray(image)
