"""What decides a training run and what it gives back: `TrainConfig` (stored with the
weights), `EpochStats` (one line of the curves) and `TrainResult` (the model, its figures
and the metadata written next to it). `train.train` makes them."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

from menny_base.errors import MennyError
from menny_base.numbers import real, whole
from menny_core import bugs, finetune
from menny_core.dataset import Split
from menny_core.evaluate import Metrics
from menny_core.limits import MAX_IMAGE_SIZE, MAX_SEED
from menny_core.model import IMAGE_SIZE, VARIANTS, MennyCNN, min_input_size
from menny_core.stream import Augment
from menny_core.verdicts import Thresholds

# Mirror, tilt up to 10 degrees, keep 70-100% of the area, and every other image grey:
# the portraits' lighting tints colours, so grey copies teach shapes over colour.
DEFAULT_AUGMENT = Augment(flip_prob=0.5, rotation_degrees=10.0, crop_area=(0.7, 1.0), grey_prob=0.5)


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored with the weights).

    variant: "simple" or "complex" (model.py).   image_size: pixels per side, from the
    variant's minimum (model.min_input_size) to MAX_IMAGE_SIZE (512).
    epochs: at most this many passes over the training images.
    batch_size: images per step.   lr: AdamW's starting learning rate (0 < lr <= 1),
    decayed to 0 along a cosine over the epochs.
    weight_decay: AdamW decoupled weight decay (0..1).   dropout: in [0, 1).
    augment: stream.Augment.   patience: epochs without a better validation loss before
    stopping (0 = never stop early).   seed: for everything random, 0..MAX_SEED (2**32 - 1).
    val_fraction, test_fraction: shares of each class held out (sum < 1).
    strangers, negatives: mix in the project's generated strangers and no-face pictures
    (detector_data.py); a `_someone_else/` or `_no_face/` folder is used either way.
    replay_bug: None, or one of bugs.BUGS: train with that bug of the chapter switched on.
    init_from: None (from scratch), or a Menny weights file to start from (finetune.py).
    freeze: how many of the first conv blocks stay as init_from had them (0..all).

    A bad field is a ValueError in the words the app and `menny train --help` use
    ("batch size must be >= 1, got 0"), with the field's name where it differs
    ("learning rate (lr) ...").
    """

    # Defaults: what trains the shipped weights on the bundled portraits (README).
    variant: str = "complex"
    image_size: int = IMAGE_SIZE
    epochs: int = 120
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.25
    augment: Augment = field(default_factory=lambda: DEFAULT_AUGMENT)
    patience: int = 30
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    strangers: bool = True  # mix in generated strangers ("someone else")
    negatives: bool = True  # mix in generated pictures without a face ("no face")
    replay_bug: str | None = None  # see bugs.py
    init_from: str | None = None  # see finetune.py
    freeze: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise MennyError(
                f"model variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}"
            )
        smallest = min_input_size(self.variant)
        self.image_size = whole(
            self.image_size, "image size", smallest, MAX_IMAGE_SIZE,
            f" pixels per side for the {self.variant} variant",
        )  # fmt: skip
        self.epochs = whole(self.epochs, "epochs", 1)
        self.batch_size = whole(self.batch_size, "batch size", 1)
        self.patience = whole(self.patience, "patience", 0)
        self.seed = whole(self.seed, "seed", 0, MAX_SEED, " (2**32 - 1)")
        self.lr = real(self.lr, "learning rate (lr)", 0.0, 1.0, low_open=True)
        self.weight_decay = real(self.weight_decay, "weight decay", 0.0, 1.0)
        self.dropout = real(self.dropout, "dropout", 0.0, 1.0, high_open=True)
        self.val_fraction = real(
            self.val_fraction, "validation share (val_fraction)", 0.0, 1.0, high_open=True
        )
        self.test_fraction = real(
            self.test_fraction, "test share (test_fraction)", 0.0, 1.0, high_open=True
        )
        if self.val_fraction + self.test_fraction >= 1:
            raise MennyError(
                f"validation share + test share (val_fraction + test_fraction) must be < 1 to "
                f"leave images for training, got {self.val_fraction:g} + {self.test_fraction:g}"
            )
        for name in ("strangers", "negatives"):
            if not isinstance(getattr(self, name), bool):
                raise MennyError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.augment, Augment):
            raise MennyError(f"augment must be a stream.Augment, got {type(self.augment).__name__}")
        self.replay_bug = bugs.check(self.replay_bug)
        if self.init_from is not None:
            self.init_from = finetune.check_init_path(self.init_from)
        blocks = len(VARIANTS[self.variant][0])
        self.freeze = whole(self.freeze, "frozen conv blocks (freeze)", 0, blocks)
        if self.freeze and self.init_from is None:
            raise MennyError(
                f"freezing {self.freeze} conv block(s) needs trained weights to start from "
                "(init_from): frozen random filters would never learn"
            )

    def to_dict(self) -> dict:
        """JSON-ready (the augmentation as a nested dict)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "augment"}
        # The file's name only: a server's folders are nobody's business.
        out["init_from"] = self.init_from and os.path.basename(self.init_from)
        a = self.augment
        out["augment"] = {
            "flip_prob": a.flip_prob,
            "rotation_degrees": a.rotation_degrees,
            "crop_area": list(a.crop_area),
            "grey_prob": a.grey_prob,
        }
        return out


@dataclass
class EpochStats:
    """One epoch. Losses are the detector's (`detector_loss`: the class cross-entropy in
    nats, plus the face and box terms); accuracies are the class head's on faces, 0..1. The training
    numbers are measured on augmented images with dropout on, while the weights change;
    the validation ones (NaN without validation images) on fixed images, dropout off."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    images_per_s: float


@dataclass
class TrainResult:
    """What `train` returns. `model` holds the best epoch's weights (eval mode)."""

    model: MennyCNN
    classes: list[str]
    history: list[EpochStats]
    best_epoch: int  # 1-based; 0 if no epoch finished
    test_metrics: Metrics | None  # None without test images or when cancelled
    split: Split
    stopped_early: bool
    cancelled: bool
    seconds: float
    config: TrainConfig | None = None
    fingerprint: str = ""
    thresholds: Thresholds = field(default_factory=Thresholds)
    detection: dict | None = None  # detector_eval.detection_report; None when cancelled
    boxes: bool = False  # trained with face boxes: the box head means something
    generated: dict = field(default_factory=dict)  # pictures the project drew, by kind
    replay: dict = field(default_factory=dict)  # the replayed bug's own facts (bugs.py)
    init: dict | None = None  # what was loaded from init_from (finetune.start_from)

    def metadata(self) -> dict:
        """What to store with the weights (weights.save): JSON-ready, NaN as None."""
        config = self.config or TrainConfig()
        split = self.split
        return {
            "classes": self.classes,
            "replay_bug": config.replay_bug,
            "replay": self.replay or None,
            "init": self.init,
            "detector": {
                "thresholds": self.thresholds.to_dict(),
                "boxes": self.boxes,
                "generated": self.generated,
                "report": self.detection,
            },
            "variant": config.variant,
            "image_size": config.image_size,
            "dropout": config.dropout,
            "metrics": self.test_metrics.to_dict() if self.test_metrics else None,
            "split": {
                "seed": split.seed,
                "val_fraction": split.val_fraction,
                "test_fraction": split.test_fraction,
                "sizes": {
                    "train": len(split.train),
                    "val": len(split.val),
                    "test": len(split.test),
                },
            },
            "dataset_fingerprint": self.fingerprint,
            "config": config.to_dict(),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "cancelled": self.cancelled,
            "train_seconds": round(self.seconds, 2),
            "history": [
                {
                    k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in asdict(e).items()
                }
                for e in self.history
            ],
        }
