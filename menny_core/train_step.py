"""One epoch of training: the detector's loss, the compiled step, the epoch's pictures and
its stream of scenes, and early stopping. `train.train` runs them epoch after epoch."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from menny_core import bugs, distributed, finetune
from menny_core.detector_data import Part
from menny_core.distributed import World
from menny_core.model import MennyCNN
from menny_core.run_config import TrainConfig
from menny_core.scenes import SceneAugment, scene_stream

# The box term's weight: a box off by 10% of the frame costs about as much as a class
# probability of 0.9 for the right person (-log 0.9 = 0.1 nats vs 0.1 box error).
BOX_WEIGHT = 1.0
SOLO = World()  # one process: what every run is unless `mlx.launch` started several
RANK_SEED_STEP = 1_000_003  # the scene seeds of process r are offset by r * this
FACE_SCENES_PER_EPOCH = 2
OTHERS_PER_FACE = 2  # strangers and no-face pictures per face, in each epoch
SMOOTH_L1_BETA = 0.02  # box errors below 2% of the frame are squared (gentle), above linear
GIOU_WEIGHT = 1.0  # of the box term's 1 - GIoU, next to its smooth L1


def detector_loss(
    model: MennyCNN, images: mx.array, labels: mx.array, face: mx.array, box: mx.array,
    has_box: mx.array, softmax_first: bool = False, stranger_label: int | None = None,
) -> tuple[mx.array, mx.array]:  # fmt: skip
    """(loss, class logits) of a batch of scenes, three terms added:

    class   cross-entropy of the class logits, on faces only: a picture without a face
            has no right name, and training one would teach the class head to guess;
    face    binary cross-entropy of the face logit, on every picture: without pictures
            whose answer is 0, this term is minimised by always saying 1; its means over
            the three kinds of picture, the known faces, the strangers (label
            `stranger_label`; None: no strangers) and the pictures without a face, count
            the same, so the face score leans towards none of them, whatever the batch
            holds more of (strangers are a third of the faces: weighing the faces
            together against the no-face pictures, it missed more small strangers,
            validation strangers 83% against 92% with the three kinds weighed);
    box     smooth L1 of the box (centre, size in 0..1) plus 1 - GIoU, on faces whose
            box is known: smooth L1 pulls each number towards its target, GIoU scores
            the overlap that the IoU goal measures, and, unlike the IoU, it still has a
            gradient when the boxes do not overlap (DETR uses the same pair).
    Each term is a mean over the pictures it applies to (0 if none in the batch).

    softmax_first: the softmax-before-loss bug: the class term is the cross-entropy of
    softmax(logits), so log-softmax squashes probabilities in 0..1 a second time; with K
    classes it can never fall below log(1 + (K-1)/e) nats (a sure, right answer's 1 vs 0).
    """
    logits, face_logit, box_out = model.detect(images)
    scores = mx.softmax(logits, axis=1) if softmax_first else logits
    per_class = nn.losses.cross_entropy(scores, labels, reduction="none")
    class_term = (per_class * face).sum() / mx.maximum(face.sum(), 1.0)
    per_picture = nn.losses.binary_cross_entropy(
        face_logit, face, with_logits=True, reduction="none"
    )
    stranger = face * (labels == stranger_label) if stranger_label is not None else 0.0 * face
    face_term = kind_mean(per_picture, [face - stranger, stranger, 1.0 - face])
    per_box = nn.losses.smooth_l1_loss(box_out, box, beta=SMOOTH_L1_BETA, reduction="none")
    per_box = per_box.sum(axis=1) + GIOU_WEIGHT * (1.0 - generalized_iou(box_out, box))
    box_term = (per_box * has_box).sum() / mx.maximum(has_box.sum(), 1.0)
    return class_term + face_term + BOX_WEIGHT * box_term, logits


def kind_mean(values: mx.array, kinds: list[mx.array]) -> mx.array:
    """The mean of `values` (N,) over each kind of picture (masks (N,) of 0 and 1), then the
    mean over the kinds present in the batch (0 if none): each kind weighs the same."""
    means = [(values * kind).sum() / mx.maximum(kind.sum(), 1.0) for kind in kinds]
    present = sum((kind.sum() > 0).astype(mx.float32) for kind in kinds)
    return sum(means) / mx.maximum(present, 1.0)


def generalized_iou(a: mx.array, b: mx.array) -> mx.array:
    """GIoU (Rezatofighi et al. 2019) of boxes (centre x, centre y, w, h), row by row:
    (N, 4), (N, 4) -> (N,). The IoU minus the share of the smallest box enclosing both
    that neither covers: 1 for the same box, towards -1 as they move apart."""
    a0, a1 = a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2
    b0, b1 = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    overlap = mx.maximum(mx.minimum(a1, b1) - mx.maximum(a0, b0), 0.0).prod(axis=1)
    union = a[:, 2:].prod(axis=1) + b[:, 2:].prod(axis=1) - overlap
    hull = (mx.maximum(a1, b1) - mx.minimum(a0, b0)).prod(axis=1)
    iou = overlap / mx.maximum(union, 1e-9)
    return iou - (hull - union) / mx.maximum(hull, 1e-9)


def make_step(
    model: nn.Module,
    optimizer: optim.Optimizer,
    softmax_first: bool = False,
    world: World = SOLO,
    stranger_label: int | None = None,
) -> Callable:
    """One training step, compiled: a batch of scenes (images (B,S,S,3), labels, face,
    box, has_box: see scenes.py) -> (mean loss, #faces named right, #faces).

    mx.compile traces the step once per batch shape and fuses its element-wise work; the
    model's and optimizer's state (and the random state dropout draws from) are declared
    as inputs and outputs so the compiled function may read and replace them.
    softmax_first: the softmax-before-loss bug (detector_loss). world: with several
    processes (distributed.py), the gradients are averaged over them before the update.
    stranger_label: the "someone else" class (detector_loss), None without one.
    """
    state = [model.state, optimizer.state, mx.random.state]
    loss = partial(detector_loss, model, softmax_first=softmax_first, stranger_label=stranger_label)
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
