"""The Learn text of a run that replayed a bug (bugs.py): what the bug does, and its
symptom in the run's own numbers, next to the clean run of the same settings when there
is one (runs.twin).

Every sentence is built from the run's metadata (TrainResult.metadata), so the app, a
script or a test that has the weights file can write the same lesson.
"""

from __future__ import annotations

import itertools
import math

from menny_core.bugs import BUGS, FIXED_ROTATION, TINY_LR
from menny_core.markdown import escape
from menny_core.runs import Run


def _history(metadata: dict) -> list[dict]:
    return metadata.get("history") or []


def _accuracy(metadata: dict) -> float | None:
    return (metadata.get("metrics") or {}).get("accuracy")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _last(metadata: dict, key: str) -> float | None:
    values = [row.get(key) for row in _history(metadata) if row.get(key) is not None]
    return values[-1] if values else None


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _most_said_share(metadata: dict) -> tuple[str, float] | None:
    """(the class the test photos were most often given, the share of them)."""
    metrics = metadata.get("metrics") or {}
    confusion = metrics.get("confusion")
    if not confusion:
        return None
    said = [sum(column) for column in zip(*confusion, strict=True)]
    total = sum(said) or 1
    top = max(range(len(said)), key=said.__getitem__)
    return metadata["classes"][top], said[top] / total


def _symptom(bug: str, meta: dict) -> str:
    """This run's symptom, in its numbers."""
    history = _history(meta)
    classes = len(meta.get("classes") or []) or 2
    if bug == "softmax-before-loss":
        floor = math.log(1 + (classes - 1) / math.e)
        low = min((row["train_loss"] for row in history if row.get("train_loss")), default=None)
        return (
            f"The class term saw probabilities in 0..1, so with {classes} classes it cannot "
            f"fall below log(1 + {classes - 1}/e) = {floor:.3f} nats, however sure and right "
            f"Menny is; this run's lowest training loss (class, face and box terms together) "
            f"was {_loss(low)}. Gradients through "
            "a second softmax are squashed too, so learning is slow."
        )
    if bug == "unsorted-labels":
        replay = meta.get("replay") or {}
        order, how = replay.get("training_order", []), replay.get("order_from", "")
        return (
            f"Training numbered the folders as listed ({how}): "
            f"{', '.join(map(escape, order))}; prediction numbers them sorted: "
            f"{', '.join(map(escape, replay.get('prediction_order', [])))}. Validation "
            f"during training agreed with itself ({_pct(_last(meta, 'val_acc'))} at the "
            f"end), the test photos, named as prediction names them, got "
            f"{_pct(_accuracy(meta))}: the confusion matrix is the permutation."
        )
    if bug == "fixed-rotation":
        tilted = (meta.get("replay") or {}).get("tilted_test") or {}
        turned = (
            f" On the test photos turned {FIXED_ROTATION:g} degrees the way training leaned, "
            f"Menny named {_pct(tilted.get('same'))}; turned {FIXED_ROTATION:g} degrees the "
            f"other way, {_pct(tilted.get('other'))}; upright, {_pct(_accuracy(meta))}."
            if tilted
            else ""
        )
        return (
            f"Every training picture leaned by exactly {FIXED_ROTATION:g} degrees, the same "
            "way; no validation or test picture did, and no tilt the other way was ever "
            f"seen.{turned} A random angle in both directions teaches that a tilt does not "
            "change who it is."
        )
    if bug == "early-stop-in-batch-loop":
        replay = meta.get("replay") or {}
        patience = (meta.get("config") or {}).get("patience", 0)
        steps = replay.get("steps_per_epoch", 0)
        stop = replay.get("stopped_at_batch")
        where = (
            f"it stopped at batch {stop} (epoch {len(history)}, of {steps} batches each)"
            if stop
            else "it never ran out of patience in this run"
        )
        return (
            f"The check ran after every batch on that batch's loss, so a patience of "
            f"{patience} meant {patience} batches, not epochs, and one noisy batch reset "
            f"it: {where}, keeping the weights of its luckiest batch."
        )
    if bug == "dropout-at-inference":
        accs = [row["val_acc"] for row in history if row.get("val_acc") is not None]
        jumps = [abs(b - a) for a, b in itertools.pairwise(accs)]
        return (
            f"Dropout ({(meta.get('config') or {}).get('dropout', 0):g}) stayed on when "
            "validating, testing and predicting: a random share of the features is zeroed "
            "on every call, so the same photo gets different answers (classify one twice), "
            f"and validation accuracy jumped by up to {max(jumps, default=0):.0%} between "
            "epochs."
        )
    if bug == "exhausted-stream":
        seen = (meta.get("replay") or {}).get("images_per_epoch", [])
        return (
            f"Pictures trained per epoch: {', '.join(map(str, seen[:6]))}"
            f"{', ...' if len(seen) > 6 else ''}. An mlx-data stream is one pass: after "
            "epoch 1 it yields nothing, so every later epoch is instant, its training "
            f"loss is missing from the curves and the validation loss stays at "
            f"{_loss(_last(meta, 'val_loss'))}."
        )
    if bug == "tiny-lr":
        first = history[0].get("train_loss") if history else None
        said = _most_said_share(meta)
        one = f"; {_pct(said[1])} of the test photos were called {escape(said[0])}" if said else ""
        return (
            f"With a learning rate of {TINY_LR:g}, each step moves a weight by about "
            f"{TINY_LR:g}: the training loss went from {_loss(first)} to "
            f"{_loss(_last(meta, 'train_loss'))} in {len(history)} epochs{one}."
        )
    return ""


def bug_lesson(run: Run, clean: Run | None) -> str:
    """The Learn text of `run` (name, metadata) with a bug; `clean`: the clean run of the
    same settings (runs.twin), or None. Empty for a run without a bug."""
    _, meta = run
    bug = meta.get("replay_bug")
    if not bug:
        return ""
    text = [f"**Bug replayed: {bug}.** {BUGS[bug][0].upper()}{BUGS[bug][1:]}."]
    text.append(_symptom(bug, meta))
    if clean is None:
        text.append(
            "Train once more with the bug set to none (same settings and seed) to see the "
            "clean run next to this one."
        )
    else:
        clean_name, clean_meta = clean
        text.append(
            f"Next to the clean run {escape(clean_name)} (same settings, seed and data): "
            f"test accuracy {_pct(_accuracy(meta))} with the bug against "
            f"{_pct(_accuracy(clean_meta))} without; last training loss "
            f"{_loss(_last(meta, 'train_loss'))} against {_loss(_last(clean_meta, 'train_loss'))},"
            f" last validation loss {_loss(_last(meta, 'val_loss'))} against "
            f"{_loss(_last(clean_meta, 'val_loss'))}. Compare the curves under Runs compared."
        )
    return "\n\n".join(text)
