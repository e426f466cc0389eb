"""`menny`: train, evaluate and ask Menny from a terminal.

    menny train --data portraits --out weights/menny.safetensors
    menny train --data portraits --out runs/bug.safetensors --epochs 15 --replay-bug tiny-lr
    menny train --data photos --out tuned.safetensors --init weights/menny.safetensors --freeze 3
    menny evaluate --data portraits --weights weights/menny.safetensors --json
    menny evaluate --data portraits --weights weights/menny.safetensors --errors out/
    menny predict --weights weights/menny.safetensors photo.jpg other.png --json
    menny portraits --out portraits --per-class 40

A mistake in the arguments or the data is one line on stderr and exit code 2 (as
argparse does), never a traceback. `predict` reports each unusable image as a JSON
object with an "error" and exits with 1 once all images are done. `train` checks that
--out can be written before it trains; if the save still fails at the end (a full disk),
it says so in one line and exits with 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import kernels_playground  # noqa: F401  (first: MLX gets a fast BLAS before it loads)
from menny_base.errors import MennyError
from menny_base.images import ImageError

USAGE_ERROR = 2  # what argparse uses: the command cannot run as given
SOME_FAILED = 1  # predict: some images could not be classified
NOT_SAVED = 1  # train: the run finished but its weights could not be written


class _Parser(argparse.ArgumentParser):
    """argparse with errors as one line: 'menny train: error: ...' and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    from menny_core.bugs import BUGS
    from menny_core.model import IMAGE_SIZE, VARIANTS
    from menny_core.portraits import MAX_EXTRA, MAX_PER_CLASS
    from menny_core.train import MAX_IMAGE_SIZE, MAX_SEED, TrainConfig

    d = TrainConfig()  # its defaults are the command's defaults
    parser = _Parser(prog="menny", description="Train, evaluate and ask Menny, a small MLX CNN.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    bugs = "\n".join(f"  {name:<25} {about}" for name, about in BUGS.items())
    t = commands.add_parser(
        "train",
        help="train Menny on a folder of class sub-folders",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"bugs --replay-bug NAME replays (the run is labelled with it):\n{bugs}",
    )
    t.add_argument("--data", required=True, help="folder with one sub-folder per class")
    t.add_argument(
        "--out", required=True, help="the weights file to write; its name ends in .safetensors"
    )
    t.add_argument("--variant", choices=list(VARIANTS), default=d.variant)
    t.add_argument(
        "--image-size",
        type=int,
        default=IMAGE_SIZE,
        help=f"pixels per side, at most {MAX_IMAGE_SIZE}",
    )
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate")
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--dropout", type=float, default=d.dropout)
    t.add_argument("--flip-prob", type=float, default=d.augment.flip_prob)
    t.add_argument("--rotation", type=float, default=d.augment.rotation_degrees, metavar="DEG")
    t.add_argument("--patience", type=int, default=d.patience, help="0: no early stopping")
    t.add_argument("--seed", type=int, default=d.seed, help=f"0 to {MAX_SEED}")
    t.add_argument("--val-fraction", type=float, default=d.val_fraction)
    t.add_argument("--test-fraction", type=float, default=d.test_fraction)
    t.add_argument(
        "--no-strangers",
        action="store_true",
        help="do not mix in generated strangers (a _someone_else/ folder is still used)",
    )
    t.add_argument(
        "--no-negatives",
        action="store_true",
        help="do not mix in generated pictures without a face (a _no_face/ folder is still "
        "used): the face score then learns that there is always a face",
    )
    t.add_argument(
        "--replay-bug",
        choices=list(BUGS),
        metavar="NAME",
        help="train with one of the chapter's bugs switched on (listed below)",
    )
    t.add_argument(
        "--init",
        metavar="WEIGHTS",
        help="start from these Menny weights (e.g. weights/menny.safetensors): conv blocks "
        "loaded, a new class head when the classes differ",
    )
    t.add_argument(
        "--freeze",
        type=int,
        default=0,
        metavar="N",
        help="with --init: keep the first N conv blocks as they are (0 to all)",
    )

    e = commands.add_parser("evaluate", help="score saved weights on a folder's images")
    e.add_argument("--data", required=True, help="folder with one sub-folder per class")
    e.add_argument("--weights", required=True, help="a .safetensors file written by train")
    e.add_argument(
        "--split",
        choices=["test", "all"],
        default="test",
        help="test: the held-out images recorded in the weights (default); all: every image",
    )
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument(
        "--errors",
        metavar="DIR",
        help="also write DIR/errors.json: every evaluated image with its probabilities, "
        "the misclassified ones first (most confident first)",
    )

    p = commands.add_parser("predict", help="classify images")
    p.add_argument("--weights", required=True, help="a .safetensors file written by train")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image")

    g = commands.add_parser("portraits", help="generate the synthetic family-portrait dataset")
    g.add_argument("--out", required=True, help="folder to write <class>/*.png, boxes.json into")
    g.add_argument(
        "--per-class", type=int, default=40, help=f"portraits per class, 1 to {MAX_PER_CLASS}"
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--strangers",
        type=int,
        default=0,
        help=f"also draw this many strangers into _someone_else/, 0 to {MAX_EXTRA}",
    )
    g.add_argument(
        "--negatives",
        type=int,
        default=0,
        help=f"also draw this many pictures without a face into _no_face/, 0 to {MAX_EXTRA}",
    )
    return parser


# -- train ---------------------------------------------------------------------


def _progress(epoch_of: list[int], epochs: int):
    """A one-line stderr bar redrawn per batch ('\\r'), only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def draw(done: int, total: int) -> None:
        filled = round(30 * done / total)
        bar = "#" * filled + "." * (30 - filled)
        sys.stderr.write(f"\repoch {epoch_of[0]}/{epochs} [{bar}] {done}/{total} batches")
        sys.stderr.flush()

    return draw


def _init(path: str | None) -> str | None:
    """--init as a checked path: a readable Menny weights file (weights.load: its format,
    metadata and tensors), or one line naming the flag."""
    if path is None:
        return None
    from menny_core import weights

    try:
        weights.read_metadata(path)
    except weights.WeightsError as error:
        raise MennyError(f"--init {error}") from None
    return path


def _data(args: argparse.Namespace):
    """--data as a discovered ImageFolder; messages name it as typed: "--data photos ..."."""
    from menny_core.dataset import discover

    return discover(args.data, label=f"--data {args.data}")


def _train(args: argparse.Namespace) -> int:
    from menny_core import distributed, weights
    from menny_core.sessions import Trainer
    from menny_core.stream import Augment
    from menny_core.train import EpochStats, TrainConfig
    from menny_core.training_run import Finished, run_training

    default = TrainConfig().augment  # crop and grey settings have no flag: the defaults
    augment = Augment(args.flip_prob, args.rotation, default.crop_area, default.grey_prob)
    config = TrainConfig(
        variant=args.variant,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        dropout=args.dropout,
        augment=augment,
        patience=args.patience,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        strangers=not args.no_strangers,
        negatives=not args.no_negatives,
        replay_bug=args.replay_bug,
        freeze=args.freeze,
        init_from=_init(args.init),
    )
    try:  # before training, not after it: a wrong --out must not cost a whole run
        out = weights.check_save_path(args.out)
    except weights.WeightsError as error:
        raise MennyError(f"--out {error}") from None
    folder = _data(args)
    world = distributed.world()  # several processes when started by mlx.launch
    distributed.local_batch(config.batch_size, world)  # a batch they cannot share: say so now
    epoch_of = [1]
    draw = _progress(epoch_of, config.epochs) if world.leader else None
    started = time.perf_counter()
    run = Trainer().start(epochs=config.epochs)  # this process's one run; Ctrl-C cancels it
    try:
        save = lambda result: weights.save(out, result.model, result.metadata())  # noqa: E731
        for event in run_training(folder, config, run, save, log=True, world=world):
            if isinstance(event, str):  # a log line: epochs, early stopping, best epoch
                if draw is not None:
                    sys.stderr.write("\r" + " " * 70 + "\r")  # wipe the progress bar
                print(event, flush=True)
            elif isinstance(event, tuple) and draw is not None:
                draw(*event)
            elif isinstance(event, EpochStats):
                epoch_of[0] = event.epoch + 1
            elif isinstance(event, Finished):
                finished = event
    except weights.WeightsError as error:  # checked before training; a disk can still fill
        print(
            f"menny train: error: trained, but the weights were not saved: {error}", file=sys.stderr
        )
        return NOT_SAVED
    if not world.leader:  # rank 0 reports for everyone
        return 0
    bug = finished.result.config.replay_bug
    marked = f" (bug: {bug})" if bug else ""
    print(
        f"trained in {time.perf_counter() - started:.1f} s{marked}; weights saved to "
        f"{finished.saved}"
    )
    if finished.result.test_metrics is not None:
        print(_metrics_text(finished.result.test_metrics.to_dict(), "test images"))
    return 0


def _metrics_text(metrics: dict, what: str) -> str:
    total = sum(row["support"] for row in metrics["per_class"].values())
    lines = [f"accuracy on {total} {what}: {metrics['accuracy']:.1%}"]
    lines.append(f"{'class':<12}{'precision':>10}{'recall':>8}{'f1':>7}{'images':>8}")
    for name, row in metrics["per_class"].items():
        lines.append(
            f"{name:<12}{row['precision']:>10.2f}{row['recall']:>8.2f}{row['f1']:>7.2f}"
            f"{row['support']:>8d}"
        )
    lines.append("confusion (rows: true class, columns: predicted): " + str(metrics["confusion"]))
    return "\n".join(lines)


# -- evaluate ------------------------------------------------------------------


def _evaluate(args: argparse.Namespace) -> int:
    from menny_core import error_analysis as errors
    from menny_core import weights
    from menny_core.dataset import fingerprint, stratified_split
    from menny_core.evaluate import evaluate
    from menny_core.verdicts import SOMEONE_ELSE

    model, metadata = weights.load(args.weights)
    folder = _data(args)
    people = [c for c in metadata["classes"] if c != SOMEONE_ELSE]
    if list(folder.classes) != people:
        raise MennyError(
            f"the weights know the classes {metadata['classes']} but {args.data} has "
            f"{folder.classes}"
        )
    samples = folder.samples
    # --split all: every file is a test file (nothing held out for training or validation);
    # the detector's extra folders and generated pictures are then read as "train" ones.
    split = stratified_split(samples, 0.0, 0.0, (metadata.get("split") or {}).get("seed", 0))
    if args.split == "test":
        split = errors.recorded_split(folder, metadata)  # a sentence if none is recorded
        if metadata.get("dataset_fingerprint") not in (None, fingerprint(folder)):
            print(
                "menny evaluate: warning: these are not the files the weights were trained "
                "on, so the recomputed test split may include training images",
                file=sys.stderr,
            )
        samples = split.test
        if not samples:
            raise MennyError("the recorded split has no test images; use --split all")
    metrics = evaluate(model, samples, metadata["classes"], metadata["image_size"]).to_dict()
    if "detector" in metadata:
        metrics["detection"] = _detection(model, metadata, folder, split, args.split == "test")
        for key in ("no_face_rate", "stranger_rate", "box_iou", "ece"):
            metrics[key] = metrics["detection"].get(key)
    if args.errors:
        report = errors.error_report(
            model, samples, metadata["classes"], metadata["image_size"],
            folder.relative, errors.temperature_of(metadata),
        )  # fmt: skip
        metrics["errors_file"] = str(errors.write_errors(report, args.errors))
    if args.json:
        print(json.dumps(metrics))
    else:
        print(_metrics_text(metrics, "test images" if args.split == "test" else "images"))
        if args.errors:
            wrong = len(report.misclassified())
            print(f"{wrong} misclassified; every image's probabilities: {metrics['errors_file']}")
        if "detection" in metrics:
            print(_detection_text(metrics["detection"]))
    return 0


def _detection(model, metadata: dict, folder, split, held_out: bool) -> dict:
    """The detector's test figures (detector_eval.detection_report) on `split`'s test
    images (held_out) or its training ones (--split all: every image), with the project's
    generated test strangers and no-face pictures, as in training."""
    from menny_core.detector_data import prepare
    from menny_core.detector_eval import detection_report
    from menny_core.verdicts import Thresholds

    config = metadata.get("config") or {}
    part = "test" if held_out else "train"
    mix = config.get("strangers", True), config.get("negatives", True)
    data = prepare(folder, split, *mix, splits=(part,))
    data.parts["test"] = data.parts.pop(part)
    thresholds = Thresholds.from_dict(metadata["detector"].get("thresholds", {}))
    return detection_report(model, data, metadata["image_size"], split.seed, thresholds)


def _detection_text(report: dict) -> str:
    def share(key: str) -> str:
        value = report.get(key)
        return "-" if value is None else f"{value:.1%}"

    iou = report.get("box_iou")
    counts = report.get("counts", {})
    return "\n".join(
        [
            f"named right, whole photos: {share('named_right_photos')} of "
            f"{counts.get('photos', 0)}",
            f"named right, faces anywhere at 35-100%: {share('named_right_scenes')} of "
            f"{counts.get('face_scenes', 0)}; mean box IoU "
            + ("-" if iou is None else f"{iou:.2f}"),
            f"no face said for pictures without one: {share('no_face_rate')} of "
            f"{counts.get('no_face_scenes', 0)}",
            f"someone else / not sure said for strangers: {share('stranger_rate')} of "
            f"{counts.get('stranger_scenes', 0)}",
            f"calibration error (ECE): {report.get('ece', float('nan')):.3f} "
            f"(before temperature scaling: {report.get('ece_before', float('nan')):.3f})",
        ]
    )


# -- predict -------------------------------------------------------------------


def _predict(args: argparse.Namespace) -> int:
    from menny_core.predict import Predictor

    predictor = Predictor(args.weights)
    failed = False
    for path in args.images:
        try:
            row = {"path": path, **predictor(path).to_dict()}
        except ImageError as error:
            failed = True
            row = {"path": path, "error": str(error)}
        if args.json:
            print(json.dumps(row), flush=True)
        elif "error" in row:
            print(f"{path}: error: {row['error']}", flush=True)
        else:
            print(f"{path}: {_answer_text(row)}", flush=True)
    return SOME_FAILED if failed else 0


def _answer_text(row: dict) -> str:
    """'RJ 97% (face 99%, box x=12 y=30 w=80 h=96)', 'no face (face 3%)', 'CWK 55% (not sure)'."""
    top = row["probabilities"][row["label"]]
    if row.get("verdict") is None:  # a classifier's weights
        return f"{row['label']} {top:.0%}" + (" (not sure)" if row["unsure"] else "")
    face = f"face {row['face']:.0%}"
    if row["verdict"] == "no face":
        return f"no face ({face})"
    said = f"{row['label']} {top:.0%}" if row["verdict"] == row["label"] else row["verdict"]
    box = row.get("box")
    where = (", box x={:.0f} y={:.0f} w={:.0f} h={:.0f}".format(*box)) if box else ""
    return f"{said} ({face}{where})"


# -- portraits -----------------------------------------------------------------


def _portraits(args: argparse.Namespace) -> int:
    from menny_core import portraits

    written = portraits.generate(
        args.out,
        per_class=args.per_class,
        seed=args.seed,
        strangers=args.strangers,
        negatives=args.negatives,
    )
    people = len(written) - args.strangers - args.negatives
    extras = f", {args.strangers} strangers" if args.strangers else ""
    extras += f", {args.negatives} pictures without a face" if args.negatives else ""
    print(f"wrote {people} portraits{extras} and their face boxes (boxes.json) to {args.out}")
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict, "portraits": _portraits}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit code (0 ok, 1 some images failed, 2 usage error)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, OSError) as error:  # DatasetError, WeightsError, ImageError too
        message = str(error) or type(error).__name__
        if isinstance(error, OSError) and error.filename:
            message = f"{error.strerror or message}: {error.filename}"
        print(f"menny {args.command}: error: {message}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"menny {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
