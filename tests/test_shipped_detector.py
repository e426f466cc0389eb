"""The shipped detector on every bundled portrait, whole, as `menny predict` reads them:
the figures the README gives for the held-out ones must hold for the whole set."""

from pathlib import Path

import numpy as np

from menny_core.dataset import discover
from menny_core.predict import Predictor

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_detector_names_the_bundled_portraits_and_never_the_wrong_person():
    menny = Predictor(ROOT / "weights" / "menny.safetensors")
    folder = discover(ROOT / "portraits")
    said = [(menny(path).verdict, folder.classes[label]) for path, label in folder.samples]
    assert len(said) == 160
    # A doubt ("not sure", "someone else") is allowed now and then; another person's name never.
    assert [
        (verdict, name) for verdict, name in said if verdict in folder.classes and verdict != name
    ] == []
    assert np.mean([verdict == name for verdict, name in said]) >= 0.95
