"""What the Classify and Train tabs tell the learner, in the numbers of this photo or run.

Every function returns markdown built from what the cores produced (a Prediction, the
epochs' EpochStats), so the text quotes the very probabilities and losses shown beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from menny_core.markdown import escape
from menny_core.verdicts import NO_FACE, SOMEONE_ELSE

if TYPE_CHECKING:  # types only: writing a sentence needs no MLX
    from menny_core.explain_photo import LayerMaps
    from menny_core.predict import Prediction
    from menny_core.train import EpochStats, TrainResult


def verdict(prediction: Prediction, unsure_below: float) -> str:
    """One line: Menny's answer and its probability, or "not sure" when the top
    probability is under `unsure_below` (0..1), the threshold the prediction used."""
    top = prediction.probabilities[prediction.label]
    label = escape(prediction.label)  # a visitor's folder name: shown as typed
    said = prediction.verdict  # None: a classifier's weights, without a face score
    if said == NO_FACE:
        return (
            f"**No face** (face score {prediction.face:.0%}): Menny sees no face here, so it "
            "names nobody."
        )
    if said == SOMEONE_ELSE:
        return (
            f"**Someone else**: a face (face score {prediction.face:.0%}), but not one of the "
            f"people Menny knows ({top:.0%} for someone else)."
        )
    if prediction.unsure:
        return (
            f"**Not sure** (best guess {label}): the top probability ({top:.0%}) is "
            f"below {unsure_below:.0%}; the photo may show none of the classes Menny knows."
        )
    where = ""
    if prediction.box:
        where = "; the green box shows where the face is"
    elif said is not None:  # a detector whose training photos had no face boxes
        where = "; this Menny was trained without face boxes, so it cannot say where the face is"
    return f"Menny says **{label}** ({top:.0%}){where}."


def classify_lesson(
    probabilities: dict[str, float],
    image_size: int,
    layers: Sequence[LayerMaps] = (),
) -> str:
    """Softmax with this photo's probabilities (which sum to 1), why a confident answer
    can still be wrong, and the photo's way in: resized to image_size x image_size,
    normalised, batched as (1, S, S, 3) NHWC; then what the saliency map shows and, given
    the feature sheet's `layers` (explain_photo.LayerMaps), what each of its rows is."""
    shown = ", ".join(f"{escape(name)} {p:.3f}" for name, p in probabilities.items())
    size = image_size
    text = [
        f"The last layer gives one score (logit) per class; softmax p_i = exp(z_i) / sum_j "
        f"exp(z_j) turns them into probabilities that are positive and sum to 1: {shown}. "
        "A high probability is not a guarantee: a photo of something else still gets "
        "probabilities over these classes only, hence the 'not sure' threshold.",
        f"Before that, the photo was resized to {size}x{size}, normalised with the training "
        f"mean and std, and given a batch dimension: the network takes (1, {size}, {size}, 3), "
        "NHWC. An RGBA photo's alpha channel is composited away first. The saliency map "
        "shows which pixels would change the winning score most (|d score / d pixel|).",
    ]
    if layers:
        rows = "; ".join(
            f"{layer.name}: {layer.shape[0]}x{layer.shape[1]}, {layer.shape[2]} channels"
            for layer in layers
        )
        text.append(
            f"The feature-map picture has one row per conv layer ({rows}) and shows each "
            f"layer's first {max(layer.shown for layer in layers)} channels, each on its own "
            "scale: blue negative, white 0, red positive (a map with no negative value runs "
            "from black 0 to white). Every 2x2 pool halves the grid, so a "
            "square in a later row stands for a larger patch of the photo, and its filters "
            "combine the earlier layer's channels into larger patterns."
        )
    return "\n\n".join(text)


def epoch_status(stats: EpochStats, epochs: int) -> str:
    """One line after an epoch: where the run is, its validation accuracy and speed."""
    return (
        f"Epoch {stats.epoch} of {epochs}: validation accuracy "
        f"{stats.val_acc:.1%}, {stats.images_per_s:.0f} images/s."
    )


def run_status(result: TrainResult) -> str:
    """One line when a run ends: cancelled after how many epochs, or done in how many
    seconds (stopped early or not) and which epoch's weights were kept."""
    if result.cancelled:
        return f"Cancelled after {len(result.history)} epoch(s)."
    stop = " (stopped early)" if result.stopped_early else ""
    return f"Done in {result.seconds:.0f} s{stop}; best epoch {result.best_epoch}."


def training_lesson(
    history: Sequence[EpochStats], patience: int, best_epoch: int | None = None
) -> str:
    """Training versus validation loss (over-fitting), early stopping after `patience`
    epochs, the stream's pitfalls, and, once an epoch is done, this run's latest losses
    and its best epoch so far (1-based; by default the epoch of the lowest validation
    loss in `history`, as the trainer judges while it runs)."""
    text = [
        "Training loss falls because the weights are fitted to those very images; the "
        "validation images are never trained on, so their loss says how well Menny "
        "generalises. When validation loss rises while training loss keeps falling, the "
        "model is memorising: over-fitting.",
        f"Early stopping: after {patience} epoch(s) without a better validation loss, training "
        "stops and the best epoch's weights are kept.",
        "Pitfalls the stream avoids: images are normalised after loading (the same mean/std "
        "at training and prediction time), and a stream is one epoch: an exhausted stream "
        "yields nothing, so each epoch builds a new one.",
    ]
    if history:
        last = history[-1]
        if best_epoch is None:
            best_epoch = min(history, key=lambda s: s.val_loss).epoch
        text.insert(
            1,
            f"Now (epoch {last.epoch}): training loss {last.train_loss:.3f}, "
            f"validation loss {last.val_loss:.3f}, best epoch so far {best_epoch}.",
        )
    return "\n\n".join(text)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def detection_table(report: dict | None) -> str:
    """The detector's test figures (detector_eval.detection_report) as a markdown table."""
    if not report:
        return ""
    counts = report.get("counts", {})
    iou = report.get("box_iou")
    rows = [
        ("named right, whole test photos", _share(report.get("named_right_photos")),
         counts.get("photos", 0)),
        ("named right, faces at 35-100% anywhere", _share(report.get("named_right_scenes")),
         counts.get("face_scenes", 0)),
        ("mean box IoU on those faces", "-" if iou is None else f"{iou:.2f}",
         counts.get("face_scenes", 0)),
        ('"no face" for pictures without one', _share(report.get("no_face_rate")),
         counts.get("no_face_scenes", 0)),
        ('"someone else" or "not sure" for strangers', _share(report.get("stranger_rate")),
         counts.get("stranger_scenes", 0)),
    ]  # fmt: skip
    lines = ["| detector, on test pictures | | pictures |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {count} |" for name, value, count in rows]
    if report.get("ece") is not None:
        lines.append(
            f"\nCalibration error (ECE) {report['ece']:.3f}, before temperature scaling "
            f"{report['ece_before']:.3f}."
        )
    return "\n".join(lines)


def negatives_lesson(report: dict | None, negatives: bool) -> str:
    """Why a detector needs pictures without a face, in this run's own numbers."""
    if not report or report.get("no_face_rate") is None:
        return ""
    rate = report["no_face_rate"]
    face = report.get("thresholds", {}).get("face", 0.5)
    if negatives:
        return (
            f"**Why negatives.** This run saw pictures without a face, so its face score "
            f'learnt to say 0 as well as 1: it answered "no face" for {rate:.0%} of the '
            f"test pictures that have none (face threshold {face:.2f}, chosen on validation). "
            "Train once without them to see what happens."
        )
    return (
        f"**Without negatives.** Every training picture had a face, so the cheapest way to "
        f'be right was to say "face" for everything: this run answered "no face" for '
        f"only {rate:.0%} of the test pictures that have none. A closed-set softmax is sure "
        "of everything, and a face score trained only on faces collapses to 1: a detector "
        "learns what a face is only next to what it is not."
    )
