"""The Classify and Train tabs' texts quote this photo's probabilities and this run's losses."""

import re
from types import SimpleNamespace

import numpy as np
import pytest

from menny_core.lessons import (
    classify_lesson,
    epoch_status,
    run_status,
    training_lesson,
    verdict,
)
from menny_core.predict import Prediction
from menny_core.train import EpochStats


def softmax(logits):
    e = np.exp(np.asarray(logits, np.float64) - max(logits))
    return e / e.sum()


def test_the_softmax_lesson_quotes_probabilities_that_sum_to_1():
    probs = dict(zip(["Pippa", "Cody", "CWK"], softmax([2.0, 0.5, -1.0]).tolist(), strict=True))
    lesson = classify_lesson(probs, 64)
    quoted = dict(re.findall(r"(\w+) (0\.\d{3})", lesson.split("sum to 1: ")[1].split(". ")[0]))
    assert list(quoted) == ["Pippa", "Cody", "CWK"]
    assert {name: float(p) for name, p in quoted.items()} == pytest.approx(probs, abs=5e-4)
    assert sum(float(p) for p in quoted.values()) == pytest.approx(1.0, abs=3 * 5e-4)
    assert "resized to 64x64" in lesson and "the network takes (1, 64, 64, 3), NHWC" in lesson


def test_verdict_is_sure_or_not_at_the_threshold():
    sure = Prediction("Cody", {"Cody": 0.81, "Pippa": 0.19}, unsure=False)
    assert verdict(sure, 0.6) == "Menny says **Cody** (81%)."
    unsure = Prediction("Pippa", {"Pippa": 0.45, "Cody": 0.3, "CWK": 0.25}, unsure=True)
    assert verdict(unsure, 0.6) == (
        "**Not sure** (best guess Pippa): the top probability (45%) is below 60%; "
        "the photo may show none of the classes Menny knows."
    )


HISTORY = [
    EpochStats(1, 0.90, 0.50, 0.80, 0.50, 2.0, 30.4),
    EpochStats(2, 0.50, 0.70, 0.60, 0.75, 2.0, 31.0),
    EpochStats(3, 0.30, 0.90, 0.70, 0.70, 2.0, 29.6),
]


def test_training_lesson_quotes_the_last_epoch_and_the_best():
    lesson = training_lesson(HISTORY, patience=4)
    # Epoch 2 has the lowest validation loss so far, though epoch 3 is the latest.
    assert "Now (epoch 3): training loss 0.300, validation loss 0.700, best epoch so far 2." in (
        lesson
    )
    assert "after 4 epoch(s) without a better validation loss" in lesson
    assert "best epoch so far 3." in training_lesson(HISTORY, 4, best_epoch=3)
    before = training_lesson([], 4)
    assert "Now (epoch" not in before and before.count("\n\n") == lesson.count("\n\n") - 1


def test_epoch_status_and_run_status():
    assert epoch_status(HISTORY[1], 50) == (
        "Epoch 2 of 50: validation accuracy 75.0%, 31 images/s."
    )
    run = dict(history=HISTORY, seconds=12.6, best_epoch=2)
    done = SimpleNamespace(cancelled=False, stopped_early=False, **run)
    assert run_status(done) == "Done in 13 s; best epoch 2."
    early = SimpleNamespace(cancelled=False, stopped_early=True, **run)
    assert run_status(early) == "Done in 13 s (stopped early); best epoch 2."
    cancelled = SimpleNamespace(cancelled=True, stopped_early=False, **run)
    assert run_status(cancelled) == "Cancelled after 3 epoch(s)."
