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
from collections.abc import Callable

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np

from menny_base.errors import MennyError
from menny_core import bugs, distributed, finetune
from menny_core.dataset import ImageFolder, discover, fingerprint, stratified_split
from menny_core.detector_data import prepare
from menny_core.detector_eval import (
    THRESHOLD_SCENES_PER_PICTURE,
    choose_thresholds,
    detection_report,
    scenes_of,
    stranger_index,
)
from menny_core.distributed import World
from menny_core.evaluate import evaluate
from menny_core.limits import MAX_IMAGE_SIZE, MAX_SEED
from menny_core.model import MennyCNN
from menny_core.run_config import DEFAULT_AUGMENT, EpochStats, TrainConfig, TrainResult
from menny_core.stream import normalize
from menny_core.train_step import (
    SOLO,
    EarlyStopping,
    detector_loss,
    epoch_pictures,
    epoch_stream,
    make_step,
    train_epoch,
)
from menny_core.verdicts import Thresholds

__all__ = [  # what callers import from here (the config and results live in run_config)
    "DEFAULT_AUGMENT", "MAX_IMAGE_SIZE", "MAX_SEED", "SOLO", "EarlyStopping", "EpochStats",
    "TrainConfig", "TrainResult", "detector_loss", "epoch_stream", "make_step", "train",
]  # fmt: skip


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
    stranger = stranger_index(scenes.classes)  # the "someone else" label, if it is a class
    step = make_step(model, optimizer, softmax_first, world, stranger)
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
        val_loss, val_acc = _validate(model, val_scenes, softmax_first, stranger)
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
        size, repeat = config.image_size, THRESHOLD_SCENES_PER_PICTURE
        many = scenes_of(val_part, size, config.seed + 5, repeat=repeat)
        thresholds = choose_thresholds(model, many, scenes.classes)
        detection = detection_report(model, scenes, size, config.seed, thresholds)
        if split.test:
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


def _validate(
    model: MennyCNN, scenes: dict, softmax_first: bool = False, stranger: int | None = None
) -> tuple[float, float]:
    """(loss, class accuracy on faces) over fixed validation scenes; NaN without any.
    softmax_first: the softmax-before-loss bug; stranger: the "someone else" label
    (detector_loss, as in training)."""
    if not scenes:
        return math.nan, math.nan
    model.eval()
    arrays = [scenes[k] for k in ("image", "label", "face", "box", "has_box")]
    total, right, faces = 0.0, 0.0, 0.0
    for start in range(0, len(arrays[0]), 128):
        labels, face, box, has_box = (mx.array(a[start : start + 128]) for a in arrays[1:])
        images = mx.array(normalize(arrays[0][start : start + 128]))
        loss, logits = detector_loss(
            model, images, labels, face, box, has_box, softmax_first, stranger
        )
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
