"""Runs side by side: two training runs' curves overlaid and their numbers in one table,
read from what every run stores with its weights (`TrainResult.metadata`).

    curves(runs)            (loss rows, accuracy rows): (epoch, value, "run 2: validation")
    comparison_table(runs)  markdown: one column per run, one row per number
    twin(run, runs)         the run that differs from `run` only by its bug, or only by
                            where it started (fine-tuned vs from scratch): its yardstick

A run is (name, metadata). Everything here is plain data: the app draws it, the tests
check it against the metadata they wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

from menny_core.markdown import escape

Run = tuple[str, dict]
# Settings that make two runs different experiments on the same data and split.
_VARYING = ("replay_bug", "init_from", "freeze")


def start_of(metadata: dict) -> str:
    """Where a run started: 'from scratch' or 'from menny.safetensors, 3 blocks frozen'."""
    config = metadata.get("config") or {}
    if not config.get("init_from"):
        return "from scratch"
    frozen = config.get("freeze", 0)
    return f"from {config['init_from']}, {frozen} of the conv blocks frozen"


def curves(runs: Sequence[Run]) -> tuple[list[tuple], list[tuple]]:
    """Every run's training and validation curves as rows (epoch, value, curve name):
    (losses, accuracies). Epochs without a number (no validation images, or no batch:
    the exhausted-stream bug) are left out rather than drawn as 0."""
    losses, accuracies = [], []
    for name, metadata in runs:
        for row in metadata.get("history") or []:
            for key, kind, into in (
                ("train_loss", "train", losses),
                ("val_loss", "validation", losses),
                ("train_acc", "train", accuracies),
                ("val_acc", "validation", accuracies),
            ):
                value = row.get(key)
                if value is not None and value == value:  # NaN != NaN
                    into.append((row["epoch"], float(value), f"{name}: {kind}"))
    return losses, accuracies


def _share(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def numbers(metadata: dict) -> dict[str, str]:
    """One run's figures for people, in the table's row order."""
    history = metadata.get("history") or []
    config = metadata.get("config") or {}
    metrics = metadata.get("metrics") or {}
    detection = (metadata.get("detector") or {}).get("report") or {}
    trained = [row["images_per_s"] for row in history if row.get("images_per_s")]

    def loss(key: str) -> str:  # the last epoch that has one (an exhausted stream's have not)
        values = [row[key] for row in history if row.get(key) is not None]
        return f"{values[-1]:.3f}" if values else "-"

    return {
        "bug replayed": metadata.get("replay_bug") or "none",
        "start": start_of(metadata),
        "variant, image size": f"{metadata.get('variant')}, {metadata.get('image_size')} px",
        "epochs run (best)": f"{len(history)} ({metadata.get('best_epoch', 0)})",
        "learning rate, seed": f"{config.get('lr', '-')}, {config.get('seed', '-')}",
        "test accuracy (whole photos)": _share(metrics.get("accuracy")),
        "named right, faces anywhere": _share(detection.get("named_right_scenes")),
        '"no face" for pictures without one': _share(detection.get("no_face_rate")),
        "last training loss": loss("train_loss"),
        "last validation loss": loss("val_loss"),
        "training time": f"{metadata.get('train_seconds', 0):.0f} s",
        "images per second": f"{sum(trained) / len(trained):.0f}" if trained else "-",
    }


def comparison_table(runs: Sequence[Run]) -> str:
    """The runs' `numbers` as one markdown table, a column per run."""
    if not runs:
        return ""
    columns = [numbers(metadata) for _, metadata in runs]
    lines = ["| | " + " | ".join(escape(name) for name, _ in runs) + " |"]
    lines.append("|---|" + "---|" * len(runs))
    for row in columns[0]:
        # The values are this module's own numbers and words; only a "|" would break a cell.
        lines.append(f"| {row} | " + " | ".join(c[row].replace("|", "/") for c in columns) + " |")
    return "\n".join(lines)


def _same_experiment(a: dict, b: dict, ignore: Sequence[str]) -> bool:
    """Same data (fingerprint) and same settings, apart from the `ignore`d ones."""
    if a.get("dataset_fingerprint") != b.get("dataset_fingerprint"):
        return False
    first, second = dict(a.get("config") or {}), dict(b.get("config") or {})
    for key in ignore:
        first.pop(key, None)
        second.pop(key, None)
    return first == second


def twin(run: Run, others: Sequence[Run]) -> Run | None:
    """The latest of `others` that is `run`'s yardstick: for a run with a bug, the clean
    run of the same settings and data; for a fine-tuned run, the run from scratch (and
    for a run from scratch, a fine-tuned one) of the same settings, data and split.
    None if there is none."""
    _, metadata = run
    config = metadata.get("config") or {}
    for candidate in reversed(others):
        other = candidate[1]
        other_config = other.get("config") or {}
        if candidate[0] == run[0] or other_config.get("replay_bug"):
            continue  # itself, or another bug: no yardstick
        if config.get("replay_bug"):
            found = _same_experiment(metadata, other, ["replay_bug"])
        else:
            started = bool(config.get("init_from")), bool(other_config.get("init_from"))
            found = started[0] != started[1] and _same_experiment(metadata, other, _VARYING)
        if found:
            return candidate
    return None


def transfer_sentence(tuned: Run, scratch: Run) -> str:
    """Fine-tuned against from scratch, same data and split, in one paragraph."""
    (tuned_name, a), (scratch_name, b) = tuned, scratch
    acc_a, acc_b = (m.get("metrics") or {} for m in (a, b))
    return (
        f"**Transfer learning, measured.** {escape(tuned_name)} started {start_of(a)}: "
        f"test accuracy {_share(acc_a.get('accuracy'))} in {a.get('train_seconds', 0):.0f} s. "
        f"{escape(scratch_name)} learnt from scratch on the same images and split: "
        f"{_share(acc_b.get('accuracy'))} in {b.get('train_seconds', 0):.0f} s. The shipped "
        "Menny's filters already respond to eyes, hair and edges, so a new head (and the "
        "unfrozen blocks) has less to learn; frozen blocks need no weight gradients and no "
        "updates."
    )


def start_sentence(metadata: dict) -> str:
    """What a fine-tuned run took from its weights, for a run without a run from scratch
    to compare with yet ('' for a run from scratch)."""
    init = metadata.get("init")
    if not init:
        return ""
    blocks = {key.split(".")[1] for key in init.get("loaded", []) if key.startswith("blocks.")}
    head = (
        "a new class head for your classes"
        if any(key.startswith("classifier.") for key in init.get("fresh", []))
        else "its class head too (the same classes)"
    )
    frozen = (metadata.get("config") or {}).get("freeze", 0)
    return (
        f"**Fine-tuned.** This run started {start_of(metadata)}: {len(blocks)} conv blocks "
        f"loaded, {head}; {frozen} block(s) did not learn. Train once from scratch with the "
        "same settings and seed, and compare test accuracy and time under Runs compared."
    )
