"""A baseline that sees only colour: nearest centroid of RGB histograms.

Each image becomes a normalised 3-D colour histogram: every pixel falls into one of
BINS x BINS x BINS cubes of the RGB cube (8 x 8 x 8 = 512 cubes of 32 levels each), and
the counts are divided by the number of pixels, so a histogram sums to 1 whatever the
image size. A class is the mean histogram (centroid) of its training images; an image is
predicted as the class whose centroid is nearest in chi-square distance,

    chi2(p, q) = sum over bins of (p - q)^2 / (p + q)     (bins empty in both are skipped),

which weighs a difference in a rare colour more than the same difference in a common one.

What it is for: a yardstick. If hair colour alone told the portraits apart, this would
score ~100% and a CNN's accuracy would prove nothing about shapes. The bundled portraits
are lit and tinted so that it does not (see `menny_core.portraits` and portraits/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.dataset import Sample

BINS = 8  # per channel: 8**3 = 512 colour cubes
# Histograms are taken of a shrunken copy: colour proportions barely change, time drops ~16x.
THUMBNAIL = 128


@dataclass(frozen=True)
class ColourBaseline:
    """centroids: (num_classes, BINS**3) float64, each row a mean histogram summing to 1."""

    centroids: np.ndarray
    bins: int = BINS

    def predict(self, histograms: np.ndarray) -> np.ndarray:
        """Class index (int64) of each row of `histograms` (N, BINS**3): nearest centroid."""
        return np.argmin(chi_square(histograms, self.centroids), axis=1)


def colour_histogram(image: Image.Image | str | Path, bins: int = BINS) -> np.ndarray:
    """Normalised RGB histogram of an image, flattened: shape (bins**3,), sums to 1.

    Bin of a pixel = (r // w) * bins**2 + (g // w) * bins + b // w with w = 256 / bins.
    """
    bins = whole(bins, "bins", 1)
    if bins > 256 or 256 % bins:
        raise MennyError(f"bins must divide 256 (1, 2, 4, ..., 256), got {bins}")
    if not isinstance(image, Image.Image):
        with Image.open(image) as opened:
            image = opened.convert("RGB")
    image = image.convert("RGB")
    image.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.int64).reshape(-1, 3) // (256 // bins)
    index = (pixels[:, 0] * bins + pixels[:, 1]) * bins + pixels[:, 2]
    counts = np.bincount(index, minlength=bins**3).astype(np.float64)
    return counts / counts.sum()


def chi_square(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(N, M) chi-square distances between the rows of p (N, K) and of q (M, K)."""
    p, q = np.asarray(p, dtype=np.float64)[:, None, :], np.asarray(q, dtype=np.float64)[None]
    total = p + q
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(total > 0, (p - q) ** 2 / total, 0.0)
    return terms.sum(axis=-1)


def _histograms(samples: Sequence[Sample], bins: int) -> tuple[np.ndarray, np.ndarray]:
    if not samples:
        raise MennyError("the colour baseline needs at least one (path, label) sample, got none")
    histograms = np.stack([colour_histogram(path, bins) for path, _ in samples])
    labels = np.array([whole(label, "label", 0) for _, label in samples], dtype=np.int64)
    return histograms, labels


def fit_colour_baseline(
    train: Sequence[Sample], num_classes: int, bins: int = BINS
) -> ColourBaseline:
    """The mean colour histogram of each class's training images.

    `train` holds (image path, label) pairs with labels 0..num_classes-1, as the samples of
    `menny_core.dataset.discover` or a split of them. Every class needs an image.
    """
    num_classes = whole(num_classes, "num_classes", 1)
    histograms, labels = _histograms(train, bins)
    missing = sorted(set(range(num_classes)) - set(labels.tolist()))
    if missing:
        raise MennyError(f"every class needs a training image; none for label(s) {missing}")
    if labels.max() >= num_classes:
        raise MennyError(f"labels must be < num_classes ({num_classes}), got {labels.max()}")
    centroids = np.stack([histograms[labels == c].mean(axis=0) for c in range(num_classes)])
    return ColourBaseline(centroids, bins)


def evaluate_colour_baseline(model: ColourBaseline, test: Sequence[Sample]) -> float:
    """Fraction (0..1) of `test` (image path, label) pairs the baseline gets right."""
    histograms, labels = _histograms(test, model.bins)
    return float(np.mean(model.predict(histograms) == labels))
