"""Error analysis: which test images Menny gets wrong, how sure it was, and which right
answers were close calls.

Accuracy and the confusion matrix count; this module names the images behind the counts.
Every test image gets one row: its file, its true and predicted class, and the model's
probability for every class. From those rows:

    a confusion cell (true i, predicted j)  the images counted there, the most telling first
    misclassified                           every mistake, the most confident first (a sure
                                            mistake is a bigger problem than a coin toss)
    least confident correct                 per class, the right answers with the lowest
                                            probability for the true class: the next
                                            mistakes, if anything drifts
    by class                                one class's images, mistakes first

The probabilities are those Classify shows: softmax(logits / temperature) with the
temperature recorded in the weights (1 for a plain classifier).

`menny evaluate --errors DIR` writes the same rows to DIR/errors.json, and the Train tab
draws them (menny_core.error_gallery).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mlx.nn as nn
import numpy as np

from menny_base.errors import MennyError
from menny_core.dataset import ImageFolder, Sample, Split, stratified_split
from menny_core.evaluate import logits_for
from menny_core.verdicts import Thresholds, softmax

ERRORS_FILE = "errors.json"
FORMAT = "menny-errors-1"


@dataclass(frozen=True)
class ImageResult:
    """One test image. file: its name for people (relative to the dataset); path: the
    file to read; probabilities: one per class, in the report's class order, summing to 1."""

    file: str
    path: str
    true: int
    predicted: int
    probabilities: tuple[float, ...]

    @property
    def correct(self) -> bool:
        return self.true == self.predicted

    @property
    def confidence(self) -> float:
        """The probability of the predicted class."""
        return self.probabilities[self.predicted]

    @property
    def p_true(self) -> float:
        """The probability of the true class."""
        return self.probabilities[self.true]


@dataclass
class ErrorReport:
    """Every test image's result (see the module docstring); classes name the labels."""

    classes: list[str]
    images: list[ImageResult]

    def index(self, name: str | int, what: str = "class") -> int:
        """A class's index from its name (or index), or one sentence naming the choices."""
        if isinstance(name, (int, np.integer)) and 0 <= name < len(self.classes):
            return int(name)
        if name in self.classes:
            return self.classes.index(name)
        raise MennyError(f"the {what} must be one of {', '.join(self.classes)}, got {name!r}")

    def misclassified(self) -> list[ImageResult]:
        """Every mistake, the most confident first."""
        wrong = [r for r in self.images if not r.correct]
        return sorted(wrong, key=lambda r: -r.confidence)

    def cell(self, true: str | int, predicted: str | int) -> list[ImageResult]:
        """The images of confusion cell (true, predicted): mistakes the most confident
        first; on the diagonal, the right answers the least confident first."""
        i, j = self.index(true, "true class"), self.index(predicted, "predicted class")
        rows = [r for r in self.images if r.true == i and r.predicted == j]
        return sorted(rows, key=lambda r: r.p_true if i == j else -r.confidence)

    def least_confident_correct(self, per_class: int = 3) -> dict[str, list[ImageResult]]:
        """{class: up to per_class right answers with the lowest probability for it}."""
        return {
            name: self.cell(index, index)[:per_class] for index, name in enumerate(self.classes)
        }

    def by_class(self, true: str | int) -> list[ImageResult]:
        """One true class's images: its mistakes (most confident first), then its right
        answers (least confident first)."""
        i = self.index(true, "class")
        rows = [r for r in self.images if r.true == i]
        return sorted(rows, key=lambda r: (r.correct, -r.confidence if not r.correct else r.p_true))

    def to_dict(self) -> dict:
        """JSON-ready: every image with its probabilities by class name, mistakes first."""

        def row(r: ImageResult) -> dict:
            named = dict(zip(self.classes, (round(p, 6) for p in r.probabilities), strict=True))
            return {
                "file": r.file,
                "path": r.path,
                "true": self.classes[r.true],
                "predicted": self.classes[r.predicted],
                "correct": r.correct,
                "confidence": round(r.confidence, 6),
                "probabilities": named,
            }

        right = sorted((r for r in self.images if r.correct), key=lambda r: r.p_true)
        return {
            "format": FORMAT,
            "classes": self.classes,
            "misclassified": [row(r) for r in self.misclassified()],
            "correct": [row(r) for r in right],
        }

    @classmethod
    def from_dict(cls, values: dict) -> ErrorReport:
        """The report `to_dict` wrote (errors.json), or a MennyError if it is not one."""
        if not isinstance(values, dict) or values.get("format") != FORMAT:
            raise MennyError(f"this is not a Menny errors file (format {FORMAT})")
        classes = list(values["classes"])
        images = [
            ImageResult(
                row["file"],
                row["path"],
                classes.index(row["true"]),
                classes.index(row["predicted"]),
                tuple(float(row["probabilities"][c]) for c in classes),
            )
            for row in values["misclassified"] + values["correct"]
        ]
        return cls(classes, images)


def error_report(
    model: nn.Module,
    samples: Sequence[Sample],
    classes: Sequence[str],
    image_size: int,
    name: Callable[[str], str] = str,
    temperature: float = 1.0,
) -> ErrorReport:
    """Run `model` over `samples` ((path, label) pairs, read as evaluation reads them)
    and keep every image's probabilities. name(path): the file's name for people
    (e.g. ImageFolder.relative)."""
    if len(samples) == 0:
        raise MennyError("there are no test images to analyse")
    logits, labels = logits_for(model, samples, image_size)
    rows = []
    for (path, _), label, scores in zip(samples, labels, logits, strict=True):
        probabilities = softmax(scores.astype(np.float64), temperature)
        rows.append(
            ImageResult(
                name(path),
                str(path),
                int(label),
                int(np.argmax(scores)),
                tuple(float(p) for p in probabilities),
            )
        )
    return ErrorReport(list(classes), rows)


def temperature_of(metadata: dict) -> float:
    """The softmax temperature the weights record (a detector's), else 1."""
    detector = metadata.get("detector") or {}
    return Thresholds.from_dict(detector.get("thresholds", {})).temperature if detector else 1.0


def recorded_split(folder: ImageFolder, metadata: dict) -> Split:
    """The train/validation/test split the weights were trained with, drawn again from
    `folder` with the recorded seed and fractions (the same files give the same split)."""
    recorded = metadata.get("split") or {}
    if "seed" not in recorded:
        raise MennyError("the weights do not record their split; use --split all")
    return stratified_split(
        folder.samples, recorded["val_fraction"], recorded["test_fraction"], recorded["seed"]
    )


def report_for(model: nn.Module, metadata: dict, folder: ImageFolder) -> ErrorReport:
    """The error report of weights (model, metadata) on their own test split of `folder`."""
    test = recorded_split(folder, metadata).test
    if not test:
        raise MennyError("the recorded split has no test images")
    return error_report(
        model,
        test,
        metadata["classes"],
        metadata["image_size"],
        folder.relative,
        temperature_of(metadata),
    )


def write_errors(report: ErrorReport, folder: str | os.PathLike) -> Path:
    """Write `report` as folder/errors.json (the folder is made if needed); return its path."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    path = target / ERRORS_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report.to_dict(), indent=1))
    os.replace(temporary, path)  # atomic: a reader never sees half a file
    return path


def read_errors(path: str | os.PathLike) -> ErrorReport:
    """An errors.json written by `write_errors`."""
    try:
        return ErrorReport.from_dict(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        if isinstance(error, MennyError):
            raise
        raise MennyError(f"{Path(path).name} cannot be read as a Menny errors file") from None


def report_of_run(result, folder: ImageFolder) -> ErrorReport | None:
    """The error report of a finished `train.TrainResult` on its own test split of
    `folder` (None when the split kept no test images or the run was cancelled)."""
    if not result.split.test or result.test_metrics is None:
        return None
    return error_report(
        result.model,
        result.split.test,
        result.classes,
        result.config.image_size,
        folder.relative,
        result.thresholds.temperature,
    )
