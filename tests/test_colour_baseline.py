"""The colour-histogram baseline: hand-worked histograms and distances, a task it must solve,
and the bundled portraits, on which colour alone must not be enough."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from menny_core.colour_baseline import (
    BINS,
    chi_square,
    colour_histogram,
    evaluate_colour_baseline,
    fit_colour_baseline,
)
from menny_core.dataset import stratified_split
from menny_core.portraits import CLASSES

PORTRAITS = Path(__file__).resolve().parents[1] / "portraits"


def solid(colour, size=(20, 10)) -> Image.Image:
    return Image.new("RGB", size, colour)


def test_a_solid_colour_fills_one_bin():
    # (200, 10, 100) with 32 levels per bin: bins (6, 0, 3), flat index 6*64 + 0*8 + 3 = 387.
    histogram = colour_histogram(solid((200, 10, 100)))
    assert histogram.shape == (BINS**3,)
    assert histogram[387] == 1.0 and histogram.sum() == 1.0


def test_histogram_counts_proportions_whatever_the_size():
    image = np.zeros((40, 300, 3), dtype=np.uint8)
    image[:, :75] = (255, 255, 255)  # a quarter white, the rest black
    histogram = colour_histogram(Image.fromarray(image))
    assert histogram[0] == pytest.approx(0.75, abs=0.01)
    assert histogram[BINS**3 - 1] == pytest.approx(0.25, abs=0.01)


def test_chi_square_hand_worked():
    # (1 - 0.5)^2 / 1.5 + (0 - 0.5)^2 / 0.5 = 1/6 + 1/2
    p, q = np.array([[1.0, 0.0, 0.0]]), np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert chi_square(p, q) == pytest.approx(np.array([[2 / 3, 0.0]]))


def test_separates_two_colours_and_scores_a_test_set(tmp_path):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(12):
        label = i % 2
        base = np.array([(200, 40, 40), (40, 40, 200)][label])
        noise = rng.integers(-30, 30, (16, 16, 3))
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path)
        samples.append((path, label))
    model = fit_colour_baseline(samples[:8], num_classes=2)
    assert model.centroids.shape == (2, BINS**3)
    assert evaluate_colour_baseline(model, samples[8:]) == 1.0
    flipped = [(path, 1 - label) for path, label in samples[8:]]
    assert evaluate_colour_baseline(model, flipped) == 0.0


def test_every_class_needs_a_training_image(tmp_path):
    solid((10, 20, 30)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"none for label\(s\) \[1, 2\]"):
        fit_colour_baseline([(tmp_path / "a.png", 0)], num_classes=3)
    with pytest.raises(ValueError, match="bins must divide 256"):
        colour_histogram(solid((0, 0, 0)), bins=7)


def test_colour_alone_is_unreliable_on_the_bundled_portraits():
    samples = [
        (str(path), label)
        for label, name in enumerate(CLASSES)
        for path in sorted((PORTRAITS / name).glob("*.png"))
    ]
    split = stratified_split(samples, val_fraction=0.15, test_fraction=0.15, seed=0)
    model = fit_colour_baseline(split.train, num_classes=len(CLASSES))
    accuracy = evaluate_colour_baseline(model, split.test)
    # Better than guessing one of four, far from what a CNN reaches on the same split.
    assert 0.25 < accuracy < 0.95
