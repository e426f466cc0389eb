"""The analysis panels: error analysis under the Train tab's confusion matrix, the
effective receptive field and the shift experiment in the Classify tab.

Each answers with the visitor's current model (their latest run, else the shipped Menny).
The computations live in menny_core (error_analysis, error_gallery, receptive,
translation, analysis_lessons); these handlers only pick the model and the images.

The test images behind a run: a visitor's run writes errors.json next to its weights when
it is saved (`save_error_report`); the shipped model's report is computed once from the
bundled portraits and its recorded split.
"""

from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr
import mlx.core as mx
import numpy as np
import pandas as pd
from PIL import Image

from menny_app.inputs import PORTRAITS, for_people, load_image, whole_from, widgets_for
from menny_app.session import Session, visitor_id, with_session
from menny_base.errors import MennyError
from menny_base.images import load_rgb
from menny_core.analysis_lessons import erf_lesson, errors_summary, shift_lesson
from menny_core.dataset import discover, fingerprint
from menny_core.error_analysis import (
    ERRORS_FILE,
    ErrorReport,
    read_errors,
    report_for,
    report_of_run,
    temperature_of,
    write_errors,
)
from menny_core.error_gallery import cell_sheet, class_sheet, close_calls_sheet, sheet
from menny_core.explain_photo import feature_sheet
from menny_core.predict import model_input
from menny_core.receptive import (
    MAX_ERF_IMAGES,
    effective_field,
    erf_picture,
    untrained_twin,
)
from menny_core.stream import normalize
from menny_core.translation import probability_plot, shift_experiment

LAYERS = [f"block {b} {s}" for b in range(1, 6) for s in ("conv", "relu", "pool")]
MAPS_SHOWN = 4  # channels of the chosen layer in the shift panel's sheet
SHEET_WIDTH = 384  # pixels the sheet is enlarged towards (by a whole factor)
_shipped_reports: dict[Path, ErrorReport] = {}
_lock = threading.Lock()


def save_error_report(result, folder, weights_path: Path) -> None:
    """Write a finished run's errors.json next to its weights (nothing without test images)."""
    report = report_of_run(result, folder)
    if report is not None:
        write_errors(report, Path(weights_path).parent)


def _current(session: Session, request):
    """(predictor, the visitor's current run or None, one line naming the model)."""
    predictor, note = session.model_for(request)
    run, _ = session.visitors.current_run(session.visitors.visit(visitor_id(request)))
    return predictor, run, note


def _report(session: Session, request) -> tuple[ErrorReport, str]:
    """The current model's error report on its test split, and where the images are from."""
    predictor, run, _ = _current(session, request)
    if run is not None:
        path = run.weights.parent / ERRORS_FILE
        if not path.is_file():
            raise MennyError(
                f"{run.name} has no test images to show (it kept none, or it was cancelled)"
            )
        return read_errors(path), f"your {run.name}"
    key = Path(session.shipped)
    with _lock:
        if key not in _shipped_reports:
            folder = discover(PORTRAITS)
            if predictor.metadata.get("dataset_fingerprint") not in (None, fingerprint(folder)):
                raise MennyError("the shipped weights were not trained on the bundled portraits")
            _shipped_reports[key] = report_for(predictor.model, predictor.metadata, folder)
        return _shipped_reports[key], "the shipped Menny on the bundled test portraits"


def _confusion(report: ErrorReport) -> pd.DataFrame:
    k = len(report.classes)
    counts = np.zeros((k, k), dtype=int)
    for row in report.images:
        counts[row.true, row.predicted] += 1
    table = pd.DataFrame(counts, columns=report.classes)
    table.insert(0, "true \\ predicted", report.classes)
    return table


@for_people
def errors(session: Session, true_class="", predicted_class="", request: gr.Request = None):
    """The current model's test images: a confusion cell's (both classes given; else all
    mistakes), every class's least confident right answers, the per-class gallery, a
    summary, and the confusion matrix they come from."""
    report, source = _report(session, request)
    true_class, predicted_class = (true_class or "").strip(), (predicted_class or "").strip()
    if true_class or predicted_class:
        cell = cell_sheet(report, true_class, predicted_class)
    else:
        cell = sheet([("every mistake, the surest first", report.misclassified())], report.classes)
    return (
        _confusion(report),
        cell,
        close_calls_sheet(report),
        class_sheet(report),
        errors_summary(report, source),
    )


def pick_cell(table: pd.DataFrame, event: gr.SelectData):
    """A click on the confusion matrix: (true class, predicted class) of the cell; a
    click on the names column picks the diagonal."""
    row, column = event.index
    true = str(table.iloc[row, 0])
    return true, (str(table.columns[column]) if column > 0 else true)


def _test_images(report: ErrorReport, size: int, count: int) -> mx.array:
    """The first `count` of a report's test images as the network sees them, normalised
    (N, S, S, 3) NHWC."""
    paths = [row.path for row in report.images][:count]
    return mx.array(normalize(np.stack([model_input(load_rgb(p), size) for p in paths])))


@for_people
def erf(session: Session, layer, channel, images=16, request: gr.Request = None):
    """The ERF of the chosen layer's channel, trained and untrained side by side, and the
    Learn text with the mass shares."""
    predictor, _, note = _current(session, request)
    if layer not in LAYERS:
        raise MennyError(f"the layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    channel = whole_from(channel, "Channel", 0)
    count = whole_from(images, "Test images averaged", 1, MAX_ERF_IMAGES)
    report, _ = _report(session, request)
    batch = _test_images(report, int(predictor.metadata["image_size"]), count)
    trained = effective_field(predictor.model, batch, layer, channel)
    config = predictor.metadata.get("config") or {}
    seed = int(config.get("seed", 0))  # training's own: the twin is where it started
    untrained_is = f"the weights training started from, seed {seed}"
    if config.get("init_from"):  # fine-tuned: it started from other weights
        untrained_is = (
            f"a fresh start, seed {seed}; this run started from {Path(config['init_from']).name}"
        )
    untrained = effective_field(untrained_twin(predictor.model, seed), batch, layer, channel)
    lesson = erf_lesson(trained, untrained, untrained_is)
    return erf_picture(trained), erf_picture(untrained), f"{note}\n\n{lesson}"


@for_people
def shift(
    session: Session, photo, shift_pixels=8, layer="block 3 conv", request: gr.Request = None
):
    """The photo's network input moved by shift_pixels: the moved input, the layer's maps
    before (top row) and after (bottom row), the probability curve, and the Learn text."""
    image, _ = load_image(photo, "upload a photo or pick a bundled portrait first")
    predictor, _, _ = _current(session, request)
    size = int(predictor.metadata["image_size"])
    result = shift_experiment(
        predictor.model,
        predictor.classes,
        image,
        size,
        whole_from(shift_pixels, "Shift", -size, size),
        layer,
        temperature_of(predictor.metadata),
    )
    maps = feature_sheet([result.original[..., :MAPS_SHOWN], result.moved[..., :MAPS_SHOWN]])
    factor = max(1, SHEET_WIDTH // maps.shape[1])  # small maps: whole pixels, enlarged
    maps = maps.repeat(factor, axis=0).repeat(factor, axis=1)
    big = np.asarray(Image.fromarray(result.picture).resize((4 * size, 4 * size)))
    return big, maps, probability_plot(result), shift_lesson(result, predictor.classes)


def errors_panel(session: Session, confusion: gr.Dataframe) -> None:
    """Under the confusion matrix: the images behind a clicked cell, and the galleries."""
    with gr.Accordion("Error analysis: the test images behind the matrix", open=False):
        with gr.Row():
            true_class = gr.Textbox(label="True class", elem_id="errors-true")
            predicted_class = gr.Textbox(label="Predicted class", elem_id="errors-predicted")
            show = gr.Button("Show the current model's test errors", elem_id="errors-show")
        summary = gr.Markdown(elem_id="errors-summary")
        cell = gr.Image(
            label="The cell's images (all mistakes if no cell is picked)",
            format="png",
            elem_classes="below-label",
        )
        close = gr.Image(
            label="Least confident right answers per class",
            format="png",
            elem_classes="below-label",
        )
        gallery = gr.Image(
            label="Per class: mistakes first", format="png", elem_classes="below-label"
        )
    handler = with_session(errors, session)
    event = dict(
        fn=handler,
        inputs=widgets_for(handler, locals()),
        outputs=[confusion, cell, close, gallery, summary],
        concurrency_limit=1,
        concurrency_id="analysis",
    )
    show.click(api_name="errors", **event)
    confusion.select(
        pick_cell, confusion, [true_class, predicted_class], api_visibility="undocumented"
    ).then(api_visibility="undocumented", **event)


def erf_and_shift_panels(session: Session, photo: gr.Image) -> None:
    """The effective receptive field of the current model, and the shift experiment on
    the Classify tab's photo."""
    with gr.Accordion("Effective receptive field and translation", open=False):
        with gr.Row():
            layer = gr.Dropdown(LAYERS, value="block 3 conv", label="Layer", elem_id="erf-layer")
            channel = gr.Number(0, precision=0, minimum=0, label="Channel", elem_id="erf-channel")
            images = gr.Slider(
                1, MAX_ERF_IMAGES, 16, step=1, label="Test images averaged", elem_id="erf-images"
            )
            measure = gr.Button("Measure the effective receptive field")
        with gr.Row():
            trained = gr.Image(
                label="Trained: |d unit / d pixel| and the theoretical square",
                elem_classes="below-label",
            )
            untrained = gr.Image(
                label="Untrained: the weights training started from, same unit",
                elem_classes="below-label",
            )
        erf_learn = gr.Markdown(elem_id="erf-learn")
        with gr.Row():
            shift_pixels = gr.Slider(-32, 32, 8, step=1, label="Shift (pixels)", elem_id="shift")
            move = gr.Button("Shift the photo")
        with gr.Row():
            moved = gr.Image(
                label="What Menny sees, shifted", elem_classes=["pixelated", "below-label"]
            )
            maps = gr.Image(
                label="The layer's first maps: unshifted (top), shifted (bottom)",
                format="png",
                elem_classes=["pixelated", "below-label"],
            )
            curve = gr.Image(
                label="Each class's probability against the shift",
                format="png",
                elem_classes="below-label",
            )
        shift_learn = gr.Markdown(elem_id="shift-learn")
    measure_erf = with_session(erf, session)
    measure.click(
        measure_erf,
        widgets_for(measure_erf, locals()),
        [trained, untrained, erf_learn],
        api_name="erf",
        preprocess=False,  # the core says what a wrong layer or channel is, in a sentence
        concurrency_limit=1,
        concurrency_id="analysis",
    )
    shift_photo = with_session(shift, session)
    gr.on(
        [move.click, shift_pixels.release],
        shift_photo,
        widgets_for(shift_photo, locals() | {"photo": photo}),
        [moved, maps, curve, shift_learn],
        api_name="shift",
        preprocess=False,
        concurrency_limit=1,
        concurrency_id="analysis",
    )
