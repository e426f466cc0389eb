"""The chapter's training bugs, replayable: `TrainConfig(replay_bug=NAME)` trains with one
of them switched on, really (not a simulated curve), so a learner sees its symptom.

Each bug is the chapter's own code path, put back where it was:

    softmax-before-loss       train.detector_loss: softmax(logits) is fed to a cross-entropy
                              that applies log-softmax itself
    unsorted-labels           train.train: labels follow an unsorted directory listing
                              (`listing_order`) while training; the saved weights name
                              classes in sorted order, as prediction reads them
    fixed-rotation            scenes.SceneAugment: every training scene turns by exactly
                              FIXED_ROTATION degrees instead of a random angle
    early-stop-in-batch-loop  train_step.train_epoch: the early-stopping check runs after every
                              batch, on that batch's loss, with patience counted in batches
    dropout-at-inference      `keep_dropout_on`: dropout stays on when validating, testing
                              and predicting (also in the saved weights: weights.load)
    exhausted-stream          train.train: one scene stream for all epochs; mlx-data streams
                              are one pass, so epochs after the first get no batches
    tiny-lr                   train.train: the learning rate is TINY_LR, whatever was asked

Where a bug lives elsewhere, it is found there by its name; this module holds the names,
their one-line descriptions (`menny train --help` lists them) and the small pieces of the
bugs that need code of their own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from PIL import Image

from menny_base.errors import MennyError
from menny_core.dataset import ImageFolder, Sample, Split, is_hidden
from menny_core.stream import normalize

BUGS = {
    "softmax-before-loss": "softmax before a cross-entropy that applies log-softmax itself: "
    "the loss sees probabilities and cannot fall below log(1 + (K-1)/e)",
    "unsorted-labels": "labels from an unsorted directory listing while training, sorted "
    "names when predicting: the names come out permuted",
    "fixed-rotation": "every training picture turned by one fixed 15 degrees instead of a "
    "random angle: all training faces lean, test faces do not",
    "early-stop-in-batch-loop": "the early-stopping check inside the batch loop, on each "
    "batch's loss: patience runs out in batches, not epochs",
    "dropout-at-inference": "dropout left on when validating, testing and predicting: the "
    "same photo gets different answers",
    "exhausted-stream": "one mlx-data stream for every epoch: it is used up after epoch 1, "
    "so later epochs train on nothing",
    "tiny-lr": "a learning rate of 1e-5: each step moves a weight by about 1e-5, so learning "
    "crawls",
}
TINY_LR = 1e-5
FIXED_ROTATION = 15.0  # degrees: the chapter's rotate(15)


def check(name: str | None) -> str | None:
    """`name` if it is a known bug (or None: no bug), else a MennyError listing them."""
    if name is None or name in BUGS:
        return name
    raise MennyError(f"replay bug must be one of {', '.join(BUGS)}, got {name!r}")


def label(name: str | None) -> str:
    """How a run with this bug is marked everywhere: 'bug: tiny-lr' ('' without one)."""
    return f"bug: {name}" if name else ""


# -- unsorted-labels -------------------------------------------------------------------


def listing_order(folder: ImageFolder) -> tuple[list[str], str]:
    """The class names as the chapter's training code found them, and how:
    (names, "os.listdir") in the file system's own listing order, or, when the file
    system happens to list them sorted (many do: ext4 with few entries, APFS),
    (names reversed, "reversed: os.listdir was sorted"), so the bug still shows.
    """
    listed = [n for n in os.listdir(folder.root) if n in folder.classes and not is_hidden(n)]
    if listed != sorted(listed):
        return listed, "os.listdir"
    return listed[::-1], "reversed: os.listdir was sorted"


def relabel(folder: ImageFolder, split: Split, order: list[str]) -> tuple[ImageFolder, Split]:
    """The same files labelled by their class's index in `order` instead of in the sorted
    `folder.classes`: what training sees under unsorted-labels. The split keeps the same
    files in each part (the clean run's split), only their labels change."""
    new_label = [order.index(name) for name in folder.classes]

    def moved(samples):
        return [(path, new_label[old]) for path, old in samples]

    relabelled = replace(folder, classes=list(order), samples=moved(folder.samples))
    return relabelled, replace(
        split, train=moved(split.train), val=moved(split.val), test=moved(split.test)
    )


# -- fixed-rotation ----------------------------------------------------------------------


def tilted_accuracy(
    model: nn.Module, samples: Sequence[Sample], image_size: int, degrees: float
) -> float:
    """Class accuracy (0..1) on `samples` turned by `degrees` (counter-clockwise, as
    PIL and the training scenes turn), then shortest side to `image_size` and the centre
    square, as evaluation shows a photo. The fixed-rotation bug's symptom: a model that
    only saw faces leaning one way, shown faces leaning the other way."""
    pictures = []
    for path, _label in samples:
        with Image.open(path) as image:
            turned = image.convert("RGB").rotate(degrees, Image.Resampling.BILINEAR)
        scale = image_size / min(turned.size)
        width, height = (max(image_size, round(side * scale)) for side in turned.size)
        turned = turned.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - image_size) // 2, (height - image_size) // 2
        pictures.append(np.asarray(turned.crop((left, top, left + image_size, top + image_size))))
    model.eval()
    logits = model(mx.array(normalize(np.stack(pictures))))
    labels = np.array([label for _path, label in samples])
    return float((np.array(logits.argmax(axis=1)) == labels).mean())


# -- dropout-at-inference ----------------------------------------------------------------


class AlwaysOnDropout(nn.Dropout):
    """nn.Dropout that ignores eval(): what a forgotten `model.eval()` leaves behind.

    nn.Dropout zeroes features only when `self.training` is true; here it always is."""

    @property
    def training(self) -> bool:
        return True


def keep_dropout_on(model: nn.Module) -> None:
    """Swap Menny's dropout for one that stays on in eval mode (BatchNorm is untouched:
    this bug is about dropout only)."""
    model.dropout = AlwaysOnDropout(model.dropout_rate)
