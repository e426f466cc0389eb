"""Train Menny, the face detector, on an ImageFolder: AdamW, a compiled step, early
stopping, best weights kept, thresholds chosen on validation.

The loop, as in mlx-examples/cifar/main.py:

    prepare: split the folder, decode its pictures once, draw the generated strangers
        and pictures without a face (detector_data.prepare)
    for each epoch:
        a NEW shuffled stream of scenes (scenes.scene_stream: each face twice, anywhere,
        at any size, plus a fresh sample of strangers and no-face pictures; a stream is
        one pass: reusing it would give an empty second epoch)
        for each batch: one compiled step = forward, `detector_loss`, gradients, AdamW
        validation loss and accuracy on fixed validation scenes (dropout off)
        a better validation loss -> remember these weights; `patience` epochs without
        one -> stop, and put the remembered (best) weights back
    then: temperature and thresholds from the validation scenes, the test report
        (detector_eval), and the classes' test metrics on whole photos

Reproducibility: `seed` seeds MLX (weight init, dropout), numpy, the split, the generated
pictures and every scene. On one machine the same config and files give the same run;
across machines and MLX versions, floating-point sums may differ in the last bits and
grow over epochs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from menny_base.errors import MennyError
from menny_base.numbers import real, whole
from menny_core import bugs, distributed, finetune
from menny_core.dataset import ImageFolder, Split, discover, fingerprint, stratified_split
from menny_core.detector_data import Part, prepare
from menny_core.detector_eval import choose_thresholds, detection_report, scenes_of
from menny_core.distributed import World
from menny_core.evaluate import Metrics, evaluate
from menny_core.limits import MAX_IMAGE_SIZE, MAX_SEED
from menny_core.model import IMAGE_SIZE, VARIANTS, MennyCNN, min_input_size
from menny_core.scenes import SceneAugment, scene_stream
from menny_core.stream import Augment, normalize
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
    epochs: int = 70  # on 2 cores: the shipped run in under 5 minutes (README)
    batch_size: int = 16
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


# The box term's weight: a box off by 10% of the frame costs about as much as a class
# probability of 0.9 for the right person (-log 0.9 = 0.1 nats vs 0.1 box error).
BOX_WEIGHT = 1.0
SOLO = World()  # one process: what every run is unless `mlx.launch` started several
RANK_SEED_STEP = 1_000_003  # the scene seeds of process r are offset by r * this
FACE_SCENES_PER_EPOCH = 2
OTHERS_PER_FACE = 1  # strangers and no-face pictures per face, in each epoch
SMOOTH_L1_BETA = 0.02  # box errors below 2% of the frame are squared (gentle), above linear


def detector_loss(
    model: MennyCNN, images: mx.array, labels: mx.array, face: mx.array, box: mx.array,
    has_box: mx.array, softmax_first: bool = False,
) -> tuple[mx.array, mx.array]:  # fmt: skip
    """(loss, class logits) of a batch of scenes, three terms added:

    class   cross-entropy of the class logits, on faces only: a picture without a face
            has no right name, and training one would teach the class head to guess;
    face    binary cross-entropy of the face logit, on every picture: without pictures
            whose answer is 0, this term is minimised by always saying 1;
    box     smooth L1 of the box (centre, size in 0..1), on faces whose box is known.
    Each term is a mean over the pictures it applies to (0 if none in the batch).

    softmax_first: the softmax-before-loss bug: the class term is the cross-entropy of
    softmax(logits), so log-softmax squashes probabilities in 0..1 a second time; with K
    classes it can never fall below log(1 + (K-1)/e) nats (a sure, right answer's 1 vs 0).
    """
    logits, face_logit, box_out = model.detect(images)
    scores = mx.softmax(logits, axis=1) if softmax_first else logits
    per_class = nn.losses.cross_entropy(scores, labels, reduction="none")
    class_term = (per_class * face).sum() / mx.maximum(face.sum(), 1.0)
    face_term = nn.losses.binary_cross_entropy(face_logit, face, with_logits=True)
    per_box = nn.losses.smooth_l1_loss(box_out, box, beta=SMOOTH_L1_BETA, reduction="none")
    box_term = (per_box.sum(axis=1) * has_box).sum() / mx.maximum(has_box.sum(), 1.0)
    return class_term + face_term + BOX_WEIGHT * box_term, logits


def make_step(
    model: nn.Module,
    optimizer: optim.Optimizer,
    softmax_first: bool = False,
    world: World = SOLO,
) -> Callable:
    """One training step, compiled: a batch of scenes (images (B,S,S,3), labels, face,
    box, has_box: see scenes.py) -> (mean loss, #faces named right, #faces).

    mx.compile traces the step once per batch shape and fuses its element-wise work; the
    model's and optimizer's state (and the random state dropout draws from) are declared
    as inputs and outputs so the compiled function may read and replace them.
    softmax_first: the softmax-before-loss bug (detector_loss). world: with several
    processes (distributed.py), the gradients are averaged over them before the update.
    """
    state = [model.state, optimizer.state, mx.random.state]
    loss = partial(detector_loss, model, softmax_first=softmax_first)
    grad_fn = nn.value_and_grad(model, loss)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(images, labels, face, box, has_box):
        (loss, logits), grads = grad_fn(images, labels, face, box, has_box)
        optimizer.update(model, distributed.average_gradients(grads, world))
        return loss, ((logits.argmax(axis=1) == labels) * face).sum(), face.sum()

    return step


def epoch_pictures(part: Part, seed: int, epoch: int) -> list:
    """What epoch `epoch` shows: each face FACE_SCENES_PER_EPOCH times, each time in another
    scene (faces are what the class and box heads learn from, and a scene costs one paste,
    far less than a step), and a fresh sample of the strangers and pictures without a face,
    OTHERS_PER_FACE per face. The count is the same every epoch."""
    rng = np.random.default_rng([seed, epoch])
    others = part.pictures[len(part.faces) :]
    wanted = OTHERS_PER_FACE * len(part.faces)
    if len(others) > wanted:
        others = [others[i] for i in sorted(rng.choice(len(others), wanted, False))]
    return part.faces * FACE_SCENES_PER_EPOCH + others


def train_epoch(
    model: MennyCNN,
    optimizer: optim.Optimizer,
    step: Callable,
    part: Part,
    config: TrainConfig,
    epoch: int,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    stream: Iterable | None = None,
    after_step: Callable[[float], bool] | None = None,
    world: World = SOLO,
) -> tuple[float, float, int, float] | None:
    """One pass over the training pictures as fresh scenes (`epoch_stream`), one compiled
    `step` (make_step(model, optimizer)) per batch.

    Returns (mean loss, class accuracy on faces 0..1, pictures seen, seconds), or None if
    should_stop() said stop before a step; a pass without any batch gives NaN loss and
    accuracy and 0 pictures. on_batch(done, total) follows every step.
    Two bugs come in here: `stream` (exhausted-stream: the batches to iterate instead of
    a new stream) and `after_step(batch loss)` (early-stop-in-batch-loop: True ends the
    pass at once). world: this process's share of the pass (distributed.py); the figures
    returned are the whole world's, and BatchNorm's running statistics are averaged.
    """
    model.train()
    finetune.hold_frozen(model, config.freeze)
    start = time.perf_counter()
    pictures = distributed.shard(epoch_pictures(part, config.seed, epoch), world)
    steps = math.ceil(len(pictures) / distributed.local_batch(config.batch_size, world))
    loss_sum, right, faces, seen = 0.0, 0, 0, 0
    stream = epoch_stream(part, config, epoch, world) if stream is None else stream
    for done, batch in enumerate(stream, start=1):
        if should_stop is not None and should_stop():
            return None
        arrays = [mx.array(batch[k]) for k in ("image", "label", "face", "box", "has_box")]
        loss, correct, count = step(*arrays)
        mx.eval(loss, correct, count, model.state, optimizer.state)
        size = arrays[1].size
        loss_sum += loss.item() * size
        right, faces, seen = right + int(correct.item()), faces + int(count.item()), seen + size
        if on_batch is not None:
            on_batch(done, steps)
        if after_step is not None and after_step(loss.item()):
            break
    loss_sum, right, faces, seen = distributed.sum_over_ranks([loss_sum, right, faces, seen], world)
    distributed.average_running_stats(model, world)
    if not seen:  # an exhausted stream: nothing was trained, nothing can be averaged
        return math.nan, math.nan, 0, time.perf_counter() - start
    return loss_sum / seen, right / max(faces, 1), seen, time.perf_counter() - start


def epoch_stream(part: Part, config: TrainConfig, epoch: int, world: World = SOLO) -> Iterable:
    """Epoch `epoch`'s batches of scenes (scenes.scene_stream, seeded with config.seed +
    epoch): one pass, build a new one for the next epoch. The fixed-rotation bug turns
    every scene by bugs.FIXED_ROTATION degrees instead of a random angle. With several
    processes, this one's share of the pictures, in batches of its share of the batch."""
    augment = SceneAugment.of(config.augment)
    if config.replay_bug == "fixed-rotation":
        augment = replace(augment, fixed_rotation=bugs.FIXED_ROTATION)
    return scene_stream(
        distributed.shard(epoch_pictures(part, config.seed, epoch), world), part.no_faces,
        config.image_size, distributed.local_batch(config.batch_size, world),
        config.seed + epoch + RANK_SEED_STEP * world.rank, augment,
    )  # fmt: skip


@dataclass
class EarlyStopping:
    """Keep the best epoch's weights, and say when to stop: after `patience` epochs
    without a lower loss (0: never stop early)."""

    patience: int
    best_loss: float = math.inf
    best_epoch: int = 0  # 1-based; 0 before the first epoch
    best_state: list | None = None

    def update(self, epoch: int, loss: float, model: nn.Module) -> bool:
        """Judge `epoch` by `loss`; True when training should stop now."""
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            # MLX arrays are immutable and each update makes new ones: keeping references
            # keeps this epoch's weights (parameters() includes BatchNorm's running
            # statistics, which are frozen parameters), no copy needed.
            self.best_state = tree_flatten(model.parameters())
            return False
        return bool(self.patience) and epoch - self.best_epoch >= self.patience


def train(
    data: str | os.PathLike | ImageFolder,
    config: TrainConfig | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = print,
    world: World = SOLO,
) -> TrainResult:
    """Train a new Menny on `data` (a folder of class sub-folders, or `dataset.discover`'s
    ImageFolder).

    on_epoch(stats): after every epoch (live curves).  on_batch(done, total): after
    every step of an epoch (a progress bar).  should_stop(): polled before every step;
    True ends training there, returning the best weights so far (cancelled=True).
    log(line): one line per epoch; None for silence.
    world: the processes training together under `mlx.launch` (distributed.py); each
    trains on its share of every epoch, and they end with the same weights.
    """
    config = config if config is not None else TrainConfig()
    started = time.perf_counter()
    folder = data if isinstance(data, ImageFolder) else discover(data)
    split = stratified_split(folder.samples, config.val_fraction, config.test_fraction, config.seed)
    if not split.train:
        raise MennyError(
            "no images are left for training: lower the validation share (val_fraction) "
            "or the test share (test_fraction)"
        )
    bug, replay, trained_on, trained_split = config.replay_bug, {}, folder, split
    if bug == "early-stop-in-batch-loop" and world.size > 1:
        raise MennyError(
            "the early-stop-in-batch-loop bug judges each process's own batches, so the "
            "processes would stop at different batches: replay it in one process"
        )
    if bug == "unsorted-labels":  # the same split, labelled in the listing's order
        order, how = bugs.listing_order(folder)
        trained_on, trained_split = bugs.relabel(folder, split, order)
        replay = {"training_order": order, "order_from": how, "prediction_order": folder.classes}
    scenes = prepare(trained_on, trained_split, config.strangers, config.negatives)
    # What prediction calls the outputs: the sorted classes (the extras stay last).
    classes = list(folder.classes) + scenes.classes[len(folder.classes) :]
    train_part, val_part = scenes.parts["train"], scenes.parts["val"]
    mx.random.seed(config.seed)
    np.random.seed(config.seed)
    model = MennyCNN(len(scenes.classes), config.variant, config.dropout, detector=True)
    init = None
    if config.init_from is not None:
        init = finetune.start_from(model, config.init_from, scenes.classes)
        if log is not None and world.leader:
            log(finetune.start_line(init, config.freeze))
    if bug is not None and log is not None and world.leader:
        log(f"replaying the bug {bug}: {bugs.BUGS[bug]}")
    finetune.freeze_blocks(model, config.freeze)
    if bug == "dropout-at-inference":
        bugs.keep_dropout_on(model)
    # The learning rate falls from lr to 0 along a half cosine over all planned steps:
    # big steps early, small ones at the end, where they settle into a minimum instead
    # of bouncing around it (validation accuracy then stops jumping between epochs).
    per_epoch = len(distributed.shard(epoch_pictures(train_part, config.seed, 1), world))
    total_steps = config.epochs * math.ceil(
        per_epoch / distributed.local_batch(config.batch_size, world)
    )
    lr = bugs.TINY_LR if bug == "tiny-lr" else config.lr
    schedule = optim.cosine_decay(lr, total_steps)
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    softmax_first = bug == "softmax-before-loss"
    step = make_step(model, optimizer, softmax_first, world)
    say = log if log is not None and world.leader else (lambda _line: None)

    val_scenes = scenes_of(val_part, config.image_size, config.seed + 1)
    history: list[EpochStats] = []
    stopper = EarlyStopping(config.patience)
    cancelled = stopped_early = False
    # exhausted-stream: epoch 1's stream, iterated again by every epoch.
    shared = epoch_stream(train_part, config, 1, world) if bug == "exhausted-stream" else None
    # early-stop-in-batch-loop: the stopper judges every batch by its own loss.
    in_batches, step_epochs = bug == "early-stop-in-batch-loop", []
    if in_batches:

        def after_step(loss: float) -> bool:
            step_epochs.append(epoch)  # the epoch each step belongs to
            return stopper.update(len(step_epochs), loss, model)

    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        trained = train_epoch(
            model, optimizer, step, train_part, config, epoch, should_stop, on_batch,
            shared, after_step if in_batches else None, world,
        )  # fmt: skip
        if trained is None:
            cancelled = True
            break
        train_loss, train_acc, seen, train_seconds = trained
        val_loss, val_acc = _validate(model, val_scenes, softmax_first)
        if world.size > 1:  # one number for every process, so they stop at the same epoch
            val_loss = distributed.sum_over_ranks([val_loss], world)[0] / world.size
        stats = EpochStats(
            epoch, train_loss, train_acc, val_loss, val_acc,
            time.perf_counter() - epoch_start, seen / max(train_seconds, 1e-9),
        )  # fmt: skip
        history.append(stats)
        if shared is not None:
            replay.setdefault("images_per_epoch", []).append(seen)
        say(_epoch_line(stats, config.epochs))
        if on_epoch is not None:
            on_epoch(stats)
        if in_batches:  # the check already ran, after every batch
            if len(step_epochs) - stopper.best_epoch >= config.patience > 0:
                stopped_early = True
                replay.update(stopped_at_batch=len(step_epochs), best_batch=stopper.best_epoch)
                say(f"no lower batch loss for {config.patience} batches: stopping ({bug})")
                break
            continue
        # Without validation images, judge epochs by their training loss.
        validated = not math.isnan(stats.val_loss)
        if stopper.update(epoch, stats.val_loss if validated else stats.train_loss, model):
            stopped_early = True
            which = "validation" if validated else "training"
            say(f"no better {which} loss for {config.patience} epochs: stopping")
            break

    best_epoch = stopper.best_epoch
    if in_batches:  # the stopper counted batches: the epoch of the best one
        best_epoch = step_epochs[best_epoch - 1] if best_epoch else 0
        replay.update(steps_per_epoch=math.ceil(per_epoch / config.batch_size))
    if stopper.best_state is not None:
        model.load_weights(stopper.best_state)
        say(f"best epoch: {best_epoch} (its weights are kept)")
    model.eval()
    test_metrics, detection, thresholds = None, None, Thresholds()
    if not cancelled:
        thresholds = choose_thresholds(model, val_scenes, scenes.classes)
        detection = detection_report(model, scenes, config.image_size, config.seed, thresholds)
        if split.test:
            size = config.image_size
            test_metrics = evaluate(model, split.test, classes, size, config.batch_size)
            if bug == "fixed-rotation":  # its symptom: faces leaning the other way
                turn = bugs.FIXED_ROTATION
                replay["tilted_test"] = {
                    "same": bugs.tilted_accuracy(model, split.test, size, turn),
                    "other": bugs.tilted_accuracy(model, split.test, size, -turn),
                }
    return TrainResult(
        model=model,
        classes=classes,
        history=history,
        best_epoch=best_epoch,
        test_metrics=test_metrics,
        split=split,
        stopped_early=stopped_early,
        cancelled=cancelled,
        seconds=time.perf_counter() - started,
        config=config,
        fingerprint=fingerprint(folder),
        thresholds=thresholds,
        detection=detection,
        boxes=scenes.boxes,
        generated=scenes.generated,
        replay=replay,
        init=init,
    )


def _validate(model: MennyCNN, scenes: dict, softmax_first: bool = False) -> tuple[float, float]:
    """(loss, class accuracy on faces) over fixed validation scenes; NaN without any.
    softmax_first: the softmax-before-loss bug (detector_loss), as in training."""
    if not scenes:
        return math.nan, math.nan
    model.eval()
    arrays = [scenes[k] for k in ("image", "label", "face", "box", "has_box")]
    total, right, faces = 0.0, 0.0, 0.0
    for start in range(0, len(arrays[0]), 128):
        labels, face, box, has_box = (mx.array(a[start : start + 128]) for a in arrays[1:])
        images = mx.array(normalize(arrays[0][start : start + 128]))
        loss, logits = detector_loss(model, images, labels, face, box, has_box, softmax_first)
        total += loss.item() * labels.size
        right += (((logits.argmax(axis=1) == labels) * face).sum()).item()
        faces += face.sum().item()
    accuracy = right / faces if faces else math.nan
    return total / len(arrays[0]), accuracy


def _epoch_line(s: EpochStats, epochs: int) -> str:
    if not s.images_per_s:  # the exhausted-stream bug: no batch came
        return f"epoch {s.epoch}/{epochs}  no training batches: the stream is exhausted"
    if math.isnan(s.val_loss):  # val_fraction 0: nothing to validate on, not a NaN loss
        val = "no validation images"
    else:
        val = f"val loss {s.val_loss:.3f} acc {s.val_acc:.1%}"
    return (
        f"epoch {s.epoch}/{epochs}  train loss {s.train_loss:.3f} acc {s.train_acc:.1%}  "
        f"{val}  {s.seconds:.1f} s  {s.images_per_s:.0f} img/s"
    )
