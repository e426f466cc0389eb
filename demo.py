"""Menny: learn convolutional neural networks by turning the knobs. Start with `python demo.py`.

The Gradio app only: the layout is declared once in `build_app`, and every handler is a
plain function that turns widget values into a call to a core module (`kernels_playground`,
`menny_core`) and the core's result back into widget values. Computation lives in the cores,
where it is tested; errors from the cores reach the learner as their own sentence (gr.Error).

    python demo.py [--host H] [--port P] [--share] [--auth USER:PASS] [--no-train]
                   [--weights FILE] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import functools
import hmac
import io
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from contextlib import closing, redirect_stdout
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from gradio.utils import get_upload_folder

# mlx.core is only ever reached through these packages, whose __init__ gives MLX a fast BLAS.
from kernels_playground import arithmetic, fast_blas
from kernels_playground.convolve import apply_kernel, relu, warm_up
from kernels_playground.explain import step_at
from kernels_playground.images import MAX_PIXELS, ImageError, load_rgb, upright_size
from kernels_playground.kernels import (
    DESCRIPTIONS,
    MAX_KERNEL_SIDE,
    PRESETS,
    format_kernel,
    parse_kernel,
)
from kernels_playground.lessons import (
    TABLE_COLUMNS,
    playground_lesson,
    shapes_lesson,
    size_sums,
    stack_summary,
    table_rows,
)
from kernels_playground.pooling import pool
from kernels_playground.render import render_feature_map
from kernels_playground.shapes import LAYER_COLUMNS, describe_stack, layer_rows
from menny_core.markdown import escape
from menny_core.sessions import Trainer, TrainingRefused
from menny_core.visitors import SpaceExhausted, Visitors, remove_empty_folders

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "demo_assets"
PORTRAITS = ROOT / "portraits"
SHIPPED_WEIGHTS = ROOT / "weights" / "menny.safetensors"
PLAYGROUND_SIDE = 512  # larger uploads are shrunk so every knob answers at once
STEP_LIMIT = 10**6  # a step-by-step position beyond any map: moved to the edge, not refused
MAX_UPLOAD = "50 MB"  # Gradio refuses larger uploads; named files are checked too
MAX_UPLOAD_BYTES = 50 * 2**20
EDGES = {"zero": "zero", "valid (crop)": "valid", "replicate": "replicate", "reflect": "reflect"}
POOLS = ("none", "max", "avg")
SOURCES = ("bundled portraits", "my .zip")
# A public demo's limits (the Train tab and the README say them). One CPU serves everyone:
CPU_WORKERS = 2  # requests of one kind computing at once (the machine's cores)
MAX_EPOCHS, MAX_BATCH = 100, 128
MAX_RUN_SECONDS = 600  # a run stops after 10 minutes, keeping its best epoch
RUNS_PER_HOUR = 10  # per visitor
MODELS_IN_MEMORY = 8  # visitors' trained models kept loaded (about 1 MB each)
APP_FOLDER = "menny-app"  # in --workdir: visitors' runs and uploads; remade at every start
DISK_QUOTA = 2 * 2**30  # bytes for everything in APP_FOLDER (--disk-quota)
IDLE_SECONDS = 3600  # a visitor unseen this long is released (browsers say goodbye sooner)
QUEUE_SIZE = 256  # requests that may wait in Gradio's queue; beyond it: "queue full"
# Gradio's own cache (uploads, images sent back): files older than this go (--cache-minutes).
# Not much shorter: a visitor's picture stays in the playground while they turn the knobs.
CACHE_MINUTES = 60
DEFAULT_LAYERS = [
    ["conv", 3, 1, 1, 1, 16],
    ["maxpool", 2, 2, 0, 1, 16],
    ["conv", 3, 1, 1, 1, 32],
    ["maxpool", 2, 2, 0, 1, 32],
]
CSS = ".pixelated img { image-rendering: pixelated; }"


# -- errors for people -------------------------------------------------------


# The cores' contract: these carry one sentence written for the learner (ImageError,
# DatasetError and WeightsError are ValueErrors). Anything else is a bug and stays generic.
PEOPLE_ERRORS = (ValueError, TypeError, ImageError, TrainingRefused)


def for_people(handler):
    """Turn a core's error into a gr.Error carrying its sentence; the app stays up."""

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except PEOPLE_ERRORS as error:
            raise gr.Error(str(error), print_exception=False) from None

    return wrapped


def whole_from(value, label: str, minimum: int, maximum: int | None = None) -> int:
    """A number widget's value as a whole number in minimum..maximum; an emptied field is
    named, not a TypeError."""
    if value is None or value == "":
        allowed = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{label} is empty: give a whole number {allowed}")
    return arithmetic.whole(value, label, minimum, maximum)


def number_from(value, label: str) -> float:
    """A number widget's value as a finite float; an emptied field is named, not a
    TypeError, and text ("abc", "1e999") gets a sentence, not Python's message."""
    if value is None or value == "":
        raise ValueError(f"{label} is empty: give a number")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{label} must be a number, got {value!r}")
    return float(value)


def one_of(value, label: str, choices) -> str:
    """A radio's value, checked: API callers can send anything."""
    if value not in choices:
        raise ValueError(f"{label} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def flag(value, label: str) -> bool:
    """A checkbox's value, checked: API callers can send "no", which Python calls true."""
    if not isinstance(value, bool):
        raise ValueError(f"{label} must be true or false, got {value!r}")
    return value


# Files a visitor may name: what Gradio stored for this app (uploads, and the bundled
# pictures it copied to its cache), and the bundled pictures themselves. Nothing else on
# the server, however the path is spelled (symlinks and ".." are resolved first).
BUNDLED = (ASSETS, PORTRAITS)
NOT_UPLOADED = "that file was not uploaded to this app: upload the image again"


def uploaded_file(value) -> str | None:
    """The server path of a visitor's file, checked. File events run with preprocess=False
    so a bad file reaches `load_rgb` (and its sentence) instead of failing inside Gradio's
    PIL call; the raw value is then a FileData dict, or whatever an API caller sent.
    Only files inside Gradio's upload folder or the bundled folders are accepted: the same
    sentence for any other path, so it tells nothing about what exists on the server."""
    if value is None:
        return None
    path = value.get("path") if isinstance(value, dict) else getattr(value, "path", value)
    if not isinstance(path, str | Path) or not str(path):
        raise ValueError(NOT_UPLOADED)
    real = Path(os.path.realpath(path))
    roots = [
        Path(os.path.realpath(get_upload_folder())),
        *(Path(os.path.realpath(b)) for b in BUNDLED),
    ]
    if not any(real.is_relative_to(root) for root in roots) or not real.is_file():
        raise ValueError(NOT_UPLOADED)
    if real.stat().st_size > MAX_UPLOAD_BYTES:
        raise ValueError(f"the file is larger than {MAX_UPLOAD}: upload a smaller image")
    return str(real)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> tuple[np.ndarray, str]:
    # Decoded straight to the size shown (JPEG at 1/2..1/8 scale, others band by band):
    # a 40-megapixel upload costs tens of megabytes, not hundreds.
    small = load_rgb(path, max_pixels=MAX_PIXELS, max_side=PLAYGROUND_SIDE)
    width, height = upright_size(path)
    note = ""
    if max(width, height) > PLAYGROUND_SIDE:
        note = (
            f"Your {width}x{height} image was shrunk to {small.shape[1]}x{small.shape[0]} "
            f"(longest side {PLAYGROUND_SIDE}) so the playground answers at once."
        )
    return small, note


def load_image(value, missing: str = "pick or upload an image first") -> tuple[np.ndarray, str]:
    """The picked or uploaded image as uint8 RGB (H, W, 3), at most PLAYGROUND_SIDE a side,
    and a note if it was shrunk."""
    path = uploaded_file(value)
    if not path:
        raise ValueError(missing)
    return _load(path, Path(path).stat().st_mtime)


# -- 1. kernel playground ----------------------------------------------------


@for_people
def preset_kernel(preset: str) -> tuple[str, str]:
    """A preset's grid as editable text (one row per line) and what it does."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    return format_kernel(PRESETS[preset]), DESCRIPTIONS.get(preset, "")


@for_people
def playground(
    image_path,
    grid,
    stride,
    padding,
    edge,
    dilation,
    use_relu,
    flip,
    colour,
    pool_kind,
    pool_window,
    pool_stride,
    step_row,
    step_col,
):
    """Convolve, (ReLU), pool, render; write the arithmetic, one step, and the Learn text.

    Returns: input image, feature map (colour map), its value-range note, pooled map,
    the size arithmetic (markdown), the step-by-step (markdown), the Learn text.
    """
    image, note = load_image(image_path)
    kernel = parse_kernel(grid)
    # Bounds from the image the playground works on (at most PLAYGROUND_SIDE a side):
    # beyond them no output exists, and an API caller's 1e308 never reaches MLX.
    side = PLAYGROUND_SIDE
    stride = whole_from(stride, "stride", 1, side)
    dilation = whole_from(dilation, "dilation", 1, side)
    padding = whole_from(padding, "padding", 0, side)
    edge = EDGES[one_of(edge, "edges", tuple(EDGES))]
    pad = 0 if edge == "valid" else padding
    colour = one_of(colour, "colour", ("luminance", "per channel"))
    mode = "luminance" if colour == "luminance" else "per_channel"
    use_relu, flip = flag(use_relu, "ReLU"), flag(flip, "flip")
    pool_kind = one_of(pool_kind, "pooling", POOLS)
    options = dict(stride=stride, padding=pad, edge=edge, dilation=dilation, mode=mode, flip=flip)
    feature = apply_kernel(image, kernel, **options)
    if use_relu:
        feature = relu(feature)
    shown = render_feature_map(feature)
    pooled_image, pooling = None, None
    if pool_kind != "none":
        pooling = (
            whole_from(pool_window, "pool window", 1, side),
            whole_from(pool_stride, "pool stride", 1, side),
        )
        pooled_image = render_feature_map(pool(feature, pool_kind, *pooling)).image
    geometry = (image.shape[:2], kernel.shape, stride, pad, dilation)
    # An emptied field means 0; a position off the map moves to its edge (see _step).
    position = tuple(
        whole_from(value or 0, label, -STEP_LIMIT, STEP_LIMIT)
        for value, label in ((step_row, "output row"), (step_col, "output column"))
    )
    step_md = _step(image, kernel, feature.shape[:2], position, options, use_relu)
    # Show the file itself when it was not shrunk: no PNG encoding on every knob change.
    original = image if note else uploaded_file(image_path)
    return (
        original,
        shown.image,
        f"{note} {shown.note}".strip(),
        pooled_image,
        size_sums(*geometry, pool=pooling),
        step_md,
        playground_lesson(*geometry, flip=flip, pool=pooling),
    )


def _step(image, kernel, out_hw, position, options, use_relu) -> str:
    """The step-by-step panel. A position outside the map (a knob change shrank it, or a
    negative number was typed) is moved to the nearest output and said, instead of failing
    the whole update."""
    (rows, cols), (row, col) = out_hw, position
    row, col = min(max(row, 0), rows - 1), min(max(col, 0), cols - 1)
    step = step_at(image, kernel, row, col, **options)
    text = step.markdown(before_relu=use_relu)
    if (row, col) != position:
        text = (
            f"Output {position} is outside the {rows}x{cols} feature map: showing ({row}, {col}), "
            f"the nearest one.\n\n{text}"
        )
    return text


# -- 2. shapes ---------------------------------------------------------------


@for_people
def shapes(height, width, channels, layers):
    """Per-layer output shape, parameters, multiply-adds, receptive field; MLX-checked."""
    size = (whole_from(height, "Input height", 1), whole_from(width, "Input width", 1))
    channels = whole_from(channels, "Input channels", 1)
    rows = layers.values.tolist() if isinstance(layers, pd.DataFrame) else layers
    result = describe_stack(size, channels, layer_rows(rows))
    table = pd.DataFrame(table_rows(result), columns=TABLE_COLUMNS)
    return table, stack_summary(result), shapes_lesson(result, size, channels)


# -- 3. classify and 4. train: each visitor's model ---------------------------


class Session:
    """What the Classify and Train tabs share in this process: the one trainer, the
    visitors (each with their own runs, uploads and model; see menny_core.visitors) and the
    shipped model, which answers every visitor until they train their own."""

    def __init__(
        self,
        workdir: Path,
        weights: Path | None,
        allow_training: bool,
        disk_quota: int = DISK_QUOTA,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        # Missing shipped weights are not fatal: the playground and shapes tabs still work,
        # and Classify says to train a model first.
        self.shipped = Path(weights).resolve() if weights and Path(weights).is_file() else None
        self.allow_training = allow_training
        self.trainer = Trainer()
        self.visitors = Visitors(Path(workdir) / APP_FOLDER, disk_quota, idle_seconds)
        self._predictors: OrderedDict[Path, object] = OrderedDict()
        self._lock = threading.Lock()

    def predictor(self, path: Path):
        """The model in `path`, loaded once; the few most recently used stay in memory."""
        from menny_core.predict import Predictor  # loaded on first use: a faster start

        with self._lock:
            if path in self._predictors:
                self._predictors.move_to_end(path)
                return self._predictors[path]
        loaded = Predictor(path)
        with self._lock:
            self._predictors[path] = loaded
            while len(self._predictors) > MODELS_IN_MEMORY:
                self._predictors.popitem(last=False)
        return loaded

    def model_for(self, request: gr.Request | None):
        """(predictor, one markdown line naming it) for this visitor: their latest run, or
        the shipped model."""
        visitor = self.visitors.visit(_visitor(request))
        run, note = self.visitors.current_run(visitor)
        if run is not None:
            return self.predictor(run.weights), (
                f"Classify uses the model you trained in this session: {escape(run.name)}."
            )
        if self.shipped is None:
            raise ValueError("there is no model yet: train one in the Train tab")
        return self.predictor(self.shipped), f"{note} Classify uses the shipped Menny.".strip()

    def describe_model(self, request: gr.Request = None) -> str:
        try:
            return self.model_for(request)[1]
        except ValueError as error:
            return str(error).capitalize() + "."

    def leave(self, request: gr.Request = None) -> None:
        """A browser tab closed: release that visitor's runs and files."""
        self.visitors.leave(_visitor(request))

    @for_people
    def classify(self, image_path, request: gr.Request = None):
        """Class probabilities, an unsure note, saliency overlay, feature maps, Learn text,
        and which model answered."""
        return _classify(self, image_path, request)

    @for_people
    def preview(
        self, source, upload, flip_prob, rotation, crop_low, grey_prob, seed,
        request: gr.Request = None,
    ):  # fmt: skip
        """16 images from the real training stream with these augmentation settings."""
        from menny_core.train import MAX_SEED

        visitor = self.visitors.visit(_visitor(request))
        folder, _label = _dataset(visitor, source, upload)
        augment = _augment(flip_prob, rotation, crop_low, grey_prob)
        seed = whole_from(seed, "Seed", 0, MAX_SEED)
        return _preview(folder, augment, seed)

    def train(
        self,
        source,
        upload,
        flip_prob,
        rotation,
        crop_low,
        grey_prob,
        variant,
        epochs,
        batch_size,
        lr,
        weight_decay,
        dropout,
        patience,
        seed,
        request: gr.Request = None,  # Gradio fills it in: who started the run
        progress=gr.Progress(),  # noqa: B008  (Gradio's idiom)
    ):
        """Train in a worker thread, yielding the status and curves after every epoch.
        (Named parameters, not *args: gradio_client shows these names in its API.)"""
        from menny_core.train import TrainConfig

        try:
            visitor = self.visitors.visit(_visitor(request))
            config = TrainConfig(
                variant=one_of(variant, "Model variant", ("simple", "complex")),
                epochs=whole_from(epochs, "Epochs", 1, MAX_EPOCHS),
                batch_size=whole_from(batch_size, "Batch size", 1, MAX_BATCH),
                lr=number_from(lr, "Learning rate"),
                weight_decay=number_from(weight_decay, "Weight decay"),
                dropout=number_from(dropout, "Dropout"),
                patience=whole_from(patience, "Patience", 0, MAX_EPOCHS),
                seed=whole_from(seed, "Seed", 0),  # TrainConfig knows the largest
                augment=_augment(flip_prob, rotation, crop_low, grey_prob),
            )
            folder, label = _dataset(visitor, source, upload)
            run = self.trainer.start(_visitor(request), config.epochs, MAX_RUN_SECONDS)
        except PEOPLE_ERRORS as error:
            raise gr.Error(str(error), print_exception=False) from None
        try:
            number = self.visitors.claim_run(visitor)
        except TrainingRefused as error:
            self.trainer.release(run)
            raise gr.Error(str(error), print_exception=False) from None
        yield from _train(self, visitor, (folder, label), config, run, number, progress)

    @for_people
    def cancel(self, request: gr.Request = None) -> str:
        if self.trainer.cancel(owner=_visitor(request)):
            return "Cancelling: the run stops after the current batch."
        return "Nothing to cancel: no training is running."


def _visitor(request: gr.Request | None) -> str | None:
    """Who is asking: the browser session (each gradio_client has its own); None in-process."""
    return getattr(request, "session_hash", None)


def _dataset(visitor, source: str, upload):
    """(the chosen dataset as a discovered ImageFolder, its name for people). An upload is
    unpacked once into the visitor's own folder, and deleted again if it holds nothing to
    train on; it is named as the learner's file, not the unpacked folder's hash."""
    from menny_core.dataset import DatasetError, discover

    if one_of(source, "Dataset", SOURCES) == SOURCES[0]:
        label = "the bundled portraits"
        return discover(PORTRAITS, cache_dir=visitor.cache, label=label), label
    upload = uploaded_file(upload)
    if not upload:
        raise ValueError("upload a .zip with one folder per class first, or pick the portraits")
    root, label = visitor.uploads.root(upload), Path(upload).name
    try:
        return discover(root, cache_dir=root / ".cache", label=label), label
    except DatasetError:
        visitor.uploads.discard(root)
        raise


def _augment(flip_prob, rotation, crop_low, grey_prob):
    """The augmentation sliders as the stream's Augment (crops keep crop_low..100% of the area)."""
    from menny_core.stream import Augment

    return Augment(
        number_from(flip_prob, "Flip probability"),
        number_from(rotation, "Rotation"),
        (number_from(crop_low, "Crop: smallest area kept"), 1.0),
        number_from(grey_prob, "Grey probability"),
    )


def _preview(folder, augment, seed: int):
    from menny_core.model import IMAGE_SIZE
    from menny_core.stream import preview_grid

    grid = preview_grid(folder.samples, IMAGE_SIZE, augment, count=16, seed=seed)
    counts = ", ".join(f"{escape(name)} ({count})" for name, count in folder.counts().items())
    note = f"{len(folder.samples)} images in {len(folder.classes)} classes: {counts}."
    if folder.skipped:
        _path, reason = folder.skipped[0]  # the reason names the file within the dataset
        note += f" {len(folder.skipped)} file(s) left out, e.g. {escape(reason)}."
    return grid, note


def _classify(session: Session, image_path, request: gr.Request | None):
    from menny_core.explain_photo import explain_photo
    from menny_core.lessons import classify_lesson, verdict

    image, _note = load_image(image_path, "upload a photo or pick a bundled portrait first")
    predictor, model_note = session.model_for(request)
    seen = explain_photo(predictor, image)  # one forward and one backward pass
    probabilities = seen.prediction.probabilities
    return (
        probabilities,
        verdict(seen.prediction, predictor.unsure_below),
        seen.overlay,
        seen.feature_sheet,
        classify_lesson(probabilities, seen.image_size, seen.layers),
        model_note,
    )


def _curves(history) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Epoch stats in long form, one row per (epoch, curve), as gr.LinePlot wants them:
    losses and accuracies apart (a loss of 3 would flatten accuracies of 0..1)."""

    def frame(names: dict[str, str]) -> pd.DataFrame:
        rows = [(s.epoch, getattr(s, key), name) for s in history for key, name in names.items()]
        return pd.DataFrame(rows, columns=["epoch", "value", "curve"])

    return (
        frame({"train_loss": "train", "val_loss": "validation"}),
        frame({"train_acc": "train", "val_acc": "validation"}),
    )


# Shown until a run has test metrics (None would leave Gradio's placeholder header 1 2 3).
NO_CONFUSION = pd.DataFrame({"true \\ predicted": []})


def _results(result, saved_as: str | None) -> tuple[str, str, pd.DataFrame]:
    """(the metrics note, the test metrics as markdown, the confusion matrix) of a run."""
    from menny_core.evaluate import metrics_markdown

    if saved_as is None:
        return "Nothing was saved; the Classify tab keeps its model.", "", NO_CONFUSION
    saved = f"Saved as {escape(saved_as)}; the Classify tab uses it now."
    metrics = result.test_metrics
    if metrics is None:
        return "", saved, NO_CONFUSION
    confusion = pd.DataFrame(metrics.confusion, columns=metrics.classes)
    confusion.insert(0, "true \\ predicted", metrics.classes)
    return "", metrics_markdown(metrics, saved), confusion


def _for_people_while_training(events):
    """The trainer's events; its errors as gr.Error (a person's sentence, or one line)."""
    try:
        yield from events
    except PEOPLE_ERRORS as error:  # e.g. too few images to split
        raise gr.Error(str(error), print_exception=False) from None
    except Exception as error:  # a bug: the log gets the traceback, the learner one line
        raise gr.Error(f"training failed ({type(error).__name__}); see the server log") from error


def _train(session: Session, visitor, dataset, config, run, number: int, progress):
    """Relay the background trainer's events to the widgets; save the model as the
    visitor's run `number` and make it theirs. dataset: (ImageFolder, its name)."""
    from menny_core.background import train_in_background
    from menny_core.lessons import epoch_status, run_status, training_lesson
    from menny_core.train import EpochStats
    from menny_core.weights import save

    folder, label = dataset
    history: list = []
    try:
        # closing(): when the page goes away mid-run, the trainer is cancelled and joined.
        with closing(train_in_background(folder, config, run)) as events:
            for event in _for_people_while_training(events):
                if isinstance(event, tuple):  # (batches done, batches in this epoch)
                    done, total = event
                    progress(done / total, desc=f"epoch {len(history) + 1} of {config.epochs}")
                elif isinstance(event, EpochStats):
                    history.append(event)
                    status = epoch_status(event, config.epochs)
                    learn = training_lesson(history, config.patience)
                    yield status, *_curves(history), "", NO_CONFUSION, learn
                else:
                    result = event
        status = run_status(result)
        if run.out_of_time() and not run.cancelled():
            status = (
                f"Stopped after {len(result.history)} epoch(s) at the app's limit of "
                f"{MAX_RUN_SECONDS // 60} minutes per run; the best epoch's weights are kept."
            )
        saved_as = None
        if result.history:
            summary = f"{config.variant}, {len(result.history)} epoch(s), on {label}"
            saved_as = session.visitors.save_run(
                visitor, number, summary, lambda path: save(path, result.model, result.metadata())
            ).name
        note, details, confusion = _results(result, saved_as)
        learn = training_lesson(result.history, config.patience, result.best_epoch)
        yield f"{status} {note}".strip(), *_curves(result.history), details, confusion, learn
    except SpaceExhausted as error:
        raise gr.Error(str(error), print_exception=False) from None
    finally:
        session.trainer.release(run)


def classify_tab(app: gr.Blocks, session: Session) -> None:
    with gr.Tab("Classify", id="classify") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.Image(
                    type="filepath",
                    label="Photo",
                    height=260,
                    sources=["upload", "clipboard"],
                    elem_id="photo",
                )
                examples = portrait_examples()
                picked = None
                if examples:
                    picked = gr.Examples(
                        examples, inputs=photo, label="Bundled portraits", elem_id="portraits"
                    )
                button = gr.Button("Classify", variant="primary")
                model_note = gr.Markdown(elem_id="model-note")
            with gr.Column(scale=1):
                label = gr.Label(label="Menny thinks", num_top_classes=5, elem_id="label")
                unsure = gr.Markdown(elem_id="unsure")
                saliency = gr.Image(  # a photo: JPEG encodes in a fraction of PNG's time
                    label="Where it looked (saliency)",
                    format="jpeg",
                    elem_id="saliency",
                    height=320,
                )
        maps = gr.Image(
            label="What each conv layer sees (a row per layer: its first channels)",
            format="png",
            elem_id="feature-sheet",
            elem_classes="pixelated",
        )
        with gr.Accordion("Learn", open=False):
            learn = gr.Markdown()
    classify = dict(
        fn=session.classify,
        inputs=photo,
        outputs=[label, unsure, saliency, maps, learn, model_note],
        preprocess=False,  # see uploaded_file()
        # ~60 ms of MLX per photo: one at a time leaves a core for Gradio's event loop and the
        # other tabs, at the same throughput as two (bench/load.py: 6.2 vs 6.0 calls/s).
        concurrency_limit=1,
        concurrency_id="classify",
    )
    gr.on([button.click, photo.upload], api_name="classify", **classify)
    # Which model answers changes when a run finishes: say it afresh on every visit.
    gr.on(
        [app.load, tab.select],
        session.describe_model,
        None,
        model_note,
        api_visibility="undocumented",
    )
    if picked is not None:  # a click on a bundled portrait classifies it at once
        picked.load_input_event.then(api_visibility="undocumented", **classify)


def train_tab(app: gr.Blocks, session: Session) -> None:
    from menny_core.model import VARIANTS
    from menny_core.train import TrainConfig

    config = TrainConfig()  # the widgets start at the trainer's own defaults
    aug = config.augment
    with gr.Tab("Train", id="train"):
        with gr.Row():
            with gr.Column(scale=1):
                source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Dataset")
                upload = gr.File(
                    label=".zip with one folder per class", file_types=[".zip"], type="filepath"
                )
                with gr.Accordion("Augmentation", open=True):
                    flip_prob = gr.Slider(0, 1, aug.flip_prob, step=0.05, label="Flip probability")
                    rotation = gr.Slider(
                        0, 180, aug.rotation_degrees, step=1, label="Rotation (degrees, +/-)"
                    )
                    crop_low = gr.Slider(
                        0.1, 1, aug.crop_area[0], step=0.05, label="Crop: smallest area kept"
                    )
                    grey_prob = gr.Slider(0, 1, aug.grey_prob, step=0.05, label="Grey probability")
                    preview_button = gr.Button("Preview the stream")
                    preview = gr.Image(
                        label="16 training images as Menny sees them",
                        elem_id="preview",
                        format="png",
                        elem_classes="pixelated",
                    )
                    dataset_note = gr.Markdown(elem_id="dataset-note")
            with gr.Column(scale=1):
                variant = gr.Radio(list(VARIANTS), value=config.variant, label="Model variant")
                with gr.Row():
                    epochs = gr.Number(
                        config.epochs, precision=0, minimum=1, maximum=MAX_EPOCHS,
                        label="Epochs",
                        info=f"1 to {MAX_EPOCHS}",
                    )  # fmt: skip
                    batch_size = gr.Number(
                        config.batch_size, precision=0, minimum=1, maximum=MAX_BATCH,
                        label="Batch size",
                        info=f"1 to {MAX_BATCH}",
                    )  # fmt: skip
                    patience = gr.Number(
                        config.patience, precision=0, minimum=0, maximum=MAX_EPOCHS,
                        label="Patience (epochs)",
                        info="0: never stop early",
                    )  # fmt: skip
                    seed = gr.Number(config.seed, precision=0, label="Seed")
                with gr.Row():
                    lr = gr.Number(config.lr, step=1e-4, label="Learning rate")
                    weight_decay = gr.Number(config.weight_decay, step=1e-5, label="Weight decay")
                    dropout = gr.Slider(0, 0.9, config.dropout, step=0.05, label="Dropout")
                with gr.Row():
                    start = gr.Button("Train", variant="primary")
                    cancel = gr.Button("Cancel", variant="stop")
                gr.Markdown(
                    f"One run trains at a time on this server, for at most {MAX_RUN_SECONDS // 60} "
                    f"minutes; each visitor may start {RUNS_PER_HOUR} runs an hour. Your runs "
                    "are yours alone: other visitors keep the shipped model, and your files "
                    "are deleted when you leave.",
                    elem_id="train-limits",
                )
                status = gr.Markdown(elem_id="train-status")
                colours = {"train": "#1f77b4", "validation": "#ff7f0e"}
                plot = dict(x="epoch", y="value", color="curve", color_map=colours, height=220)
                loss_curves = gr.LinePlot(
                    **plot,
                    y_title="cross-entropy",
                    label="Loss per epoch (blue: train, orange: validation)",
                    elem_id="loss",
                )
                accuracy_curves = gr.LinePlot(
                    **plot,
                    y_lim=[0, 1],
                    y_title="accuracy",
                    label="Accuracy per epoch (blue: train, orange: validation)",
                )
        metrics = gr.Markdown()
        confusion = gr.Dataframe(
            NO_CONFUSION,
            label="Confusion matrix (rows: true class, columns: predicted)",
            interactive=False,
        )
        with gr.Accordion("Learn", open=False):
            learn = gr.Markdown()
    augment = [flip_prob, rotation, crop_low, grey_prob]
    # Uploading a zip means "train on it": switch the dataset choice for the learner.
    upload.upload(lambda: SOURCES[1], None, source, api_visibility="undocumented")
    preview_button.click(
        session.preview,
        [source, upload, *augment, seed],
        [preview, dataset_note],
        api_name="augment_preview",
        preprocess=False,
        concurrency_limit=1,  # the mlx-data stream uses every core
        concurrency_id="preview",
    )
    start.click(
        session.train,
        [
            source,
            upload,
            *augment,
            variant,
            epochs,
            batch_size,
            lr,
            weight_decay,
            dropout,
            patience,
            seed,
        ],
        [status, loss_curves, accuracy_curves, metrics, confusion, learn],
        api_name="train",
        preprocess=False,
        # The trainer itself runs one at a time (session.trainer); a second slot lets a
        # second request hear "busy" at once instead of waiting in Gradio's queue.
        concurrency_limit=2,
        concurrency_id="train",
    )
    cancel.click(session.cancel, None, status, api_name="cancel_training", concurrency_limit=None)


# -- layout ------------------------------------------------------------------


def _examples() -> list[str]:
    """The bundled pictures: drawn test images, then one portrait per class."""
    return sorted(str(p) for p in ASSETS.glob("*.png")) + portrait_examples(per_class=1)


def portrait_examples(per_class: int = 2) -> list[str]:
    """The first `per_class` pictures of each bundled class folder, classes in sorted order."""
    if not PORTRAITS.is_dir():
        return []
    return [
        str(path)
        for folder in sorted(p for p in PORTRAITS.iterdir() if p.is_dir())
        for path in sorted(folder.iterdir())[:per_class]
        if path.suffix.lower() in (".png", ".jpg", ".jpeg")
    ]


def build_app(session: Session, cache_minutes: int = CACHE_MINUTES) -> gr.Blocks:
    """Every tab, widget and event of the app, declared in one place."""
    pictures = _examples()
    with gr.Blocks(
        title="Menny: CNNs by turning the knobs",
        analytics_enabled=False,
        # Checked every tenth of the lifetime (at least every 10 s), so the cache holds at
        # most 1.1 lifetimes of traffic.
        delete_cache=(max(10, cache_minutes * 6), cache_minutes * 60),
    ) as app:
        gr.Markdown("# Menny\nConvolutional neural networks, by turning the knobs.")
        app.unload(session.leave)  # a closed tab releases that visitor's runs and files
        with gr.Tab("Kernel playground", id="playground"):
            with gr.Row():
                with gr.Column(scale=1):
                    picture = gr.Image(
                        value=pictures[0] if pictures else None,
                        type="filepath",
                        label="Image (pick below or upload)",
                        elem_id="picture",
                        sources=["upload", "clipboard"],
                        height=260,
                    )
                    bundled = gr.Examples(
                        pictures, inputs=picture, label="Bundled images", elem_id="pictures"
                    )
                    preset = gr.Dropdown(list(PRESETS), value="Sobel x", label="Preset kernel")
                    grid = gr.Textbox(
                        preset_kernel(preset.value)[0],
                        lines=5,
                        max_lines=7,
                        label=f"Kernel (up to {MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}, one row per "
                        "line; applies when you click away)",
                        elem_id="grid",
                    )
                    about = gr.Markdown(preset_kernel(preset.value)[1])
                with gr.Column(scale=1):
                    with gr.Row():
                        stride = gr.Slider(1, 8, 1, step=1, label="Stride", elem_id="stride")
                        padding = gr.Slider(0, 6, 1, step=1, label="Padding")
                        dilation = gr.Slider(1, 4, 1, step=1, label="Dilation")
                    edge = gr.Radio(list(EDGES), value="zero", label="Edges (padding fill)")
                    with gr.Row():
                        use_relu = gr.Checkbox(False, label="ReLU")
                        flip = gr.Checkbox(False, label="Flip kernel (true convolution)")
                        colour = gr.Radio(
                            ["luminance", "per channel"], value="luminance", label="Colour"
                        )
                    with gr.Row():
                        pool_kind = gr.Radio(list(POOLS), value="none", label="Pooling")
                        pool_window = gr.Slider(1, 8, 2, step=1, label="Pool window")
                        pool_stride = gr.Slider(1, 8, 2, step=1, label="Pool stride")
            with gr.Row():
                shown_input = gr.Image(label="Input", format="png", elem_classes="pixelated")
                feature = gr.Image(
                    label="Feature map", format="png", elem_classes="pixelated", elem_id="feature"
                )
                pooled = gr.Image(
                    label="Pooled", format="png", elem_classes="pixelated", elem_id="pooled"
                )
            value_range = gr.Markdown(elem_id="value-range")
            sums = gr.Markdown(elem_id="sums")
            with gr.Accordion("Step by step: one output value", open=False):
                with gr.Row():
                    step_row = gr.Number(0, precision=0, label="Output row")
                    step_col = gr.Number(0, precision=0, label="Output column")
                step_text = gr.Markdown()
            with gr.Accordion("Learn", open=False):
                learn_playground = gr.Markdown()
        knobs = [
            picture,
            grid,
            stride,
            padding,
            edge,
            dilation,
            use_relu,
            flip,
            colour,
            pool_kind,
            pool_window,
            pool_stride,
            step_row,
            step_col,
        ]
        update = dict(
            fn=playground,
            inputs=knobs,
            outputs=[shown_input, feature, value_range, pooled, sums, step_text, learn_playground],
            preprocess=False,  # see uploaded_file()
            trigger_mode="always_last",
            show_progress="minimal",
        )
        # The grid applies on blur, not per keystroke: "1 0 -" mid-typing is not an error.
        # The picture answers to an upload or a click on a bundled one: its .change fires
        # twice per upload (two runs, and two toasts for a bad file).
        live = [knob.change for knob in knobs if knob not in (grid, picture)]
        gr.on([app.load, grid.blur, picture.upload, *live], api_name="playground", **update)
        bundled.load_input_event.then(api_visibility="undocumented", **update)
        # .select, not .change: picking the preset already shown (after editing its grid)
        # must bring its grid back.
        preset.select(preset_kernel, preset, [grid, about], api_name="preset_kernel").then(
            api_visibility="undocumented", **update
        )

        with gr.Tab("Shapes", id="shapes"):
            with gr.Row():
                in_h = gr.Number(64, precision=0, label="Input height")
                in_w = gr.Number(64, precision=0, label="Input width")
                in_c = gr.Number(3, precision=0, label="Input channels")
            layers = gr.Dataframe(
                DEFAULT_LAYERS,
                headers=LAYER_COLUMNS,
                interactive=True,
                row_count=4,
                datatype=["str", "number", "number", "number", "number", "number"],
                label="Layers (kind: conv, maxpool or avgpool; add rows freely)",
            )
            shapes_table = gr.Dataframe(label="Per layer: arithmetic and MLX", interactive=False)
            shapes_summary = gr.Markdown(elem_id="shapes-summary")
            with gr.Accordion("Learn", open=False):
                learn_shapes = gr.Markdown()
        gr.on(
            [app.load, in_h.change, in_w.change, in_c.change, layers.change],
            shapes,
            [in_h, in_w, in_c, layers],
            [shapes_table, shapes_summary, learn_shapes],
            api_name="shapes",
            trigger_mode="always_last",
        )

        classify_tab(app, session)
        if session.allow_training:
            train_tab(app, session)
    return app


# -- command line ------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Menny: learn CNNs by turning the knobs.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: LAN)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public link")
    parser.add_argument(
        "--auth",
        metavar="USER:PASS",
        help="require this login (visible to `ps`: prefer the two below)",
    )
    parser.add_argument("--auth-file", type=Path, metavar="FILE", help="read USER:PASS from FILE")
    parser.add_argument("--no-train", action="store_true", help="hide the Train tab")
    parser.add_argument(
        "--allow-train",
        action="store_true",
        help="with --share: keep the Train tab (off by default)",
    )
    parser.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS, help="model to serve")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.cwd(),
        help=f"where the app keeps visitors' runs and uploads, in {APP_FOLDER}/ (default: here)",
    )
    parser.add_argument(
        "--disk-quota",
        type=int,
        default=DISK_QUOTA // 2**20,
        metavar="MB",
        help=f"the most {APP_FOLDER}/ may hold (default {DISK_QUOTA // 2**20} MB)",
    )
    parser.add_argument(
        "--cache-minutes",
        type=int,
        default=CACHE_MINUTES,
        metavar="N",
        help=f"Gradio's cache keeps uploads and shown images N minutes (default {CACHE_MINUTES})",
    )
    return parser.parse_args(argv)


def parse_auth(text: str | None, origin: str = "--auth") -> tuple[str, str] | None:
    """'USER:PASS' as a (user, password) pair; ValueError with one sentence otherwise
    (which never repeats the password)."""
    if text is None:
        return None
    user, colon, password = text.strip().partition(":")
    if not colon or not user or not password:
        raise ValueError(f"{origin} must hold USER:PASS (both non-empty)")
    return user, password


def read_credentials(args: argparse.Namespace) -> tuple[str, str] | None:
    """The login from --auth, --auth-file or the MENNY_AUTH variable, in that order."""
    if args.auth is not None:
        return parse_auth(args.auth)
    if args.auth_file is not None:
        try:
            text = args.auth_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ValueError(f"--auth-file {args.auth_file} cannot be read ({reason})") from None
        return parse_auth(text, f"--auth-file {args.auth_file}")
    return parse_auth(os.environ.get("MENNY_AUTH"), "MENNY_AUTH")


class Login:
    """Gradio's `auth` check for one user, throttled: after `max_failures` wrong attempts
    within `window` seconds every attempt fails unchecked until the window has passed, so
    guessing is held to a few tries a minute (Gradio itself allows ~80 a second)."""

    def __init__(self, user: str, password: str, max_failures: int = 5, window: float = 60):
        self._user, self._password = user.encode(), password.encode()
        self.max_failures, self.window = max_failures, window
        self._failures: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, user: str, password: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._failures = [t for t in self._failures if now - t < self.window]
            if len(self._failures) >= self.max_failures:
                return False
            right = hmac.compare_digest(str(user).encode(), self._user) & hmac.compare_digest(
                str(password).encode(), self._password
            )
            if not right:
                self._failures.append(now)
            return right


def launch(app: gr.Blocks, args: argparse.Namespace, auth) -> str:
    """Start serving without blocking; returns the local URL. A share link that cannot be
    made (no internet) costs one printed line, and the app keeps serving locally.

    The queue: each kind of request has its own concurrency group of CPU_WORKERS (see the
    events), so a burst of classify calls never makes the playground wait behind them;
    max_size bounds what may wait at all (beyond it Gradio answers "queue full")."""
    captured = io.StringIO()
    with redirect_stdout(captured):  # Gradio's share failure is a paragraph; we say one line
        app.queue(default_concurrency_limit=CPU_WORKERS, max_size=QUEUE_SIZE).launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            auth=auth,
            prevent_thread_lock=True,
            quiet=True,
            max_file_size=MAX_UPLOAD_BYTES,
            css=CSS,
        )
    if args.share:
        if app.share_url:
            print(f"Public link: {app.share_url}")
        else:
            print(
                "No public link: Gradio's share server is unreachable (no internet?); "
                "serving locally only."
            )
        print(exposure(args, auth is not None))
    threading.Thread(
        target=_sweep_gradio_cache, args=(app,), name="menny-cache-sweeper", daemon=True
    ).start()
    # Many small requests share the cores: one BLAS thread each (see fast_blas.set_threads).
    fast_blas.set_threads(1)
    # Build MLX's convolution kernels now, not on a learner's first click (see warm_up).
    threading.Thread(target=warm_up, name="menny-warm-up", daemon=True).start()
    return app.local_url


def _sweep_gradio_cache(app: gr.Blocks) -> None:
    """Gradio's expiry (delete_cache) removes its files, not their folders: sweep those as
    often as it runs, for as long as the app serves."""
    every, _age = app.delete_cache or (600, 0)
    while app.is_running:
        time.sleep(every)
        remove_empty_folders(Path(get_upload_folder()), older_than=60)


def training_allowed(args: argparse.Namespace) -> bool:
    """Training takes the whole CPU: off with --no-train, and off with --share unless
    --allow-train says otherwise."""
    return not args.no_train and (not args.share or args.allow_train)


def exposure(args: argparse.Namespace, login: bool) -> str:
    """One line saying what a shared link exposes."""
    tabs = "playground, shapes, classify" + (" and training" if training_allowed(args) else "")
    who = "only with the login" if login else "anyone with the link (no login: see --auth-file)"
    off = "" if training_allowed(args) else "; training is off (--allow-train turns it on)"
    return f"Shared: {tabs}, for {who}{off}."


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        credentials = read_credentials(args)
        if args.weights.is_file() or args.weights != SHIPPED_WEIGHTS:
            from menny_core.predict import check_weights  # a model that cannot answer: refused

            check_weights(args.weights)
        disk_quota = arithmetic.whole(args.disk_quota, "--disk-quota", 1, unit=" MB") * 2**20
        cache_minutes = arithmetic.whole(args.cache_minutes, "--cache-minutes", 1, 7 * 24 * 60)
        session = Session(args.workdir.resolve(), args.weights, training_allowed(args), disk_quota)
    except ValueError as error:
        print(f"demo.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    auth = None if credentials is None else Login(*credentials)
    app = build_app(session, cache_minutes)
    try:
        url = launch(app, args, auth)
    except OSError as error:  # Gradio: "Cannot find empty port in range: 7860-7860. ..."
        print(
            f"demo.py: error: cannot serve on {args.host}:{args.port} "
            f"({error.strerror or 'in use'}); pick another with --port",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    print(f"Menny is ready at {url}; Ctrl+C stops it.")
    app.block_thread()


if __name__ == "__main__":
    main()
