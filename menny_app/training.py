"""The Train tab: a dataset (the bundled portraits or a visitor's zip), the mlx-data
augmentation stream previewed, and a training run relayed epoch by epoch.

The handlers take the app's Session first (bound with session.with_session when wired), so
their other parameters are exactly the API's (gradio_client shows these names).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from menny_app.analysis import errors_panel, save_error_report
from menny_app.inputs import (
    PORTRAITS,
    flag,
    for_people,
    number_from,
    one_of,
    uploaded_file,
    whole_from,
    widgets_for,
)
from menny_app.runs import (
    curve_colours,
    finished_lesson,
    labelled_curves,
    run_label,
    run_settings,
    runs_panel,
    start_widgets,
)
from menny_app.session import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_RUN_SECONDS,
    RUNS_PER_HOUR,
    Session,
    visitor_id,
    with_session,
)
from menny_base.errors import MennyError
from menny_core.dataset import DatasetError, discover
from menny_core.detector_data import preview
from menny_core.evaluate import metrics_markdown
from menny_core.lessons import (
    detection_table,
    epoch_status,
    negatives_lesson,
    training_lesson,
)
from menny_core.markdown import escape
from menny_core.model import IMAGE_SIZE, VARIANTS
from menny_core.scenes import SceneAugment
from menny_core.stream import Augment
from menny_core.train import MAX_SEED, EpochStats, TrainConfig
from menny_core.training_run import Finished, run_training
from menny_core.verdicts import reliability_picture
from menny_core.visitors import SavedRun
from menny_core.weights import save

SOURCES = ("bundled portraits", "my .zip")


@for_people
def preview_stream(
    session: Session, source, upload, flip_prob, rotation, crop_low, grey_prob, seed,
    strangers=True, negatives=True, request: gr.Request = None,
):  # fmt: skip
    """16 training scenes, built as the training stream builds them, with their boxes."""
    visitor = session.visitors.visit(visitor_id(request))
    folder, _label = _dataset(visitor, source, upload)
    augment = _augment(flip_prob, rotation, crop_low, grey_prob)
    seed = whole_from(seed, "Seed", 0, MAX_SEED)
    mix = (
        flag(strangers, "Mix in generated strangers"),
        flag(negatives, "Mix in generated pictures without a face"),
    )
    return _preview(folder, augment, seed, *mix)


@for_people
def train(
    session: Session,
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
    strangers=True,
    negatives=True,
    replay_bug="none",
    init_from="from scratch",
    freeze=0,
    request: gr.Request = None,  # Gradio fills it in: who started the run
    progress=gr.Progress(),  # noqa: B008  (Gradio's idiom)
):
    """Train in a worker thread, yielding the status and curves after every epoch.
    (Named parameters, not *args: gradio_client shows these names in its API.)"""
    visitor = session.visitors.visit(visitor_id(request))
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
        strangers=flag(strangers, "Mix in generated strangers"),
        negatives=flag(negatives, "Mix in generated pictures without a face"),
        **run_settings(session, replay_bug, init_from, freeze),
    )
    folder, label = _dataset(visitor, source, upload)
    run = session.trainer.start(visitor_id(request), config.epochs, MAX_RUN_SECONDS)
    try:
        number = session.visitors.claim_run(visitor)
    except BaseException:
        run.release()
        raise

    def keep(result) -> SavedRun:  # the visitor's run `number`, and their Classify model
        summary = f"{config.variant}, {len(result.history)} epoch(s), on {label}"
        summary += run_label(config)

        def write(path: Path) -> None:  # the weights, and the test images' errors.json
            save(path, result.model, result.metadata())
            save_error_report(result, folder, path)

        return session.visitors.save_run(visitor, number, summary, write)

    def lesson(result, saved) -> str:  # next to the clean (or from-scratch) twin, if any
        return finished_lesson(session, visitor, result, saved)

    yield from _show(run_training(folder, config, run, keep), config, progress, lesson)


@for_people
def cancel_training(session, request: gr.Request = None) -> str:
    if session.trainer.cancel(owner=visitor_id(request)):
        return "Cancelling: the run stops after the current batch."
    return "Nothing to cancel: no training is running."


def _dataset(visitor, source: str, upload):
    """(the chosen dataset as a discovered ImageFolder, its name for people). An upload is
    unpacked once into the visitor's own folder, and deleted again if it holds nothing to
    train on; it is named as the learner's file, not the unpacked folder's hash."""

    if one_of(source, "Dataset", SOURCES) == SOURCES[0]:
        label = "the bundled portraits"
        return discover(PORTRAITS, cache_dir=visitor.cache, label=label), label
    upload = uploaded_file(upload)
    if not upload:
        raise MennyError("upload a .zip with one folder per class first, or pick the portraits")
    root, label = visitor.uploads.root(upload), Path(upload).name
    try:
        return discover(root, cache_dir=root / ".cache", label=label), label
    except DatasetError:
        visitor.uploads.discard(root)
        raise


def _augment(flip_prob, rotation, crop_low, grey_prob):
    """The augmentation sliders as the stream's Augment (crops keep crop_low..100% of the area)."""

    return Augment(
        number_from(flip_prob, "Flip probability"),
        number_from(rotation, "Rotation"),
        (number_from(crop_low, "Crop: smallest area kept"), 1.0),
        number_from(grey_prob, "Grey probability"),
    )


def _preview(folder, augment, seed: int, strangers: bool, negatives: bool):
    scenes = SceneAugment.of(augment)
    grid = preview(folder, scenes, IMAGE_SIZE, seed, strangers, negatives)
    counts = ", ".join(f"{escape(name)} ({count})" for name, count in folder.counts().items())
    note = f"{len(folder.samples)} images in {len(folder.classes)} classes: {counts}."
    if folder.boxes:
        note += f" {len(folder.boxes)} face boxes (boxes.json), drawn in green."
    else:
        note += " No boxes.json: Menny learns who, not where."
    for name, paths in (("_no_face", folder.no_faces), ("_someone_else", folder.strangers)):
        if paths:
            note += f" {name}/: {len(paths)} images."
    if folder.skipped:
        _path, reason = folder.skipped[0]  # the reason names the file within the dataset
        note += f" {len(folder.skipped)} file(s) left out, e.g. {escape(reason)}."
    return grid, note


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


def _reliability(result):
    """The reliability diagram of the run's test faces (None before there is one)."""
    rows = (result.detection or {}).get("reliability")
    return reliability_picture(rows) if rows else None


def _results(result, saved_run: SavedRun | None) -> tuple[str, str, pd.DataFrame]:
    """(the metrics note, the test metrics as markdown, the confusion matrix) of a run."""

    if saved_run is None:
        return "Nothing was saved; the Classify tab keeps its model.", "", NO_CONFUSION
    saved = f"Saved as {escape(saved_run.name)}; the Classify tab uses it now."
    metrics = result.test_metrics
    if metrics is None:
        return "", saved, NO_CONFUSION
    confusion = pd.DataFrame(metrics.confusion, columns=metrics.classes)
    confusion.insert(0, "true \\ predicted", metrics.classes)
    details = metrics_markdown(metrics, saved)
    if result.detection:
        details += "\n\n" + detection_table(result.detection)
    return "", details, confusion


def _show(events, config, progress, lesson_of=None):
    """The core's training reports as the tab's widgets: a progress bar per batch, the
    status, curves and lesson per epoch, and the results when the run is finished.
    A run with a bug says so in its status and curves' titles; lesson_of(result, saved)
    opens the final Learn text."""
    history: list = []
    marked = f"Bug replayed: {config.replay_bug}. " if config.replay_bug else ""
    for event in events:
        if isinstance(event, tuple):  # (batches done, batches in this epoch)
            done, total = event
            progress(done / total, desc=f"epoch {len(history) + 1} of {config.epochs}")
        elif isinstance(event, EpochStats):
            history.append(event)
            status = marked + epoch_status(event, config.epochs)
            learn = training_lesson(history, config.patience)
            curves = labelled_curves(_curves(history), config)
            yield status, *curves, "", NO_CONFUSION, learn, None
        elif isinstance(event, Finished):
            result = event.result
            note, details, confusion = _results(result, event.saved)
            learn = training_lesson(result.history, config.patience, result.best_epoch)
            lesson = negatives_lesson(result.detection, config.negatives)
            learn += f"\n\n{lesson}" if lesson else ""
            replayed = lesson_of(result, event.saved) if lesson_of else ""
            learn = f"{replayed}\n\n{learn}" if replayed else learn
            status = f"{marked}{event.status} {note}".strip()
            curves = labelled_curves(_curves(result.history), config)
            yield status, *curves, details, confusion, learn, _reliability(result)


def train_tab(app: gr.Blocks, session: Session) -> None:
    """The tab's widgets, starting at the trainer's own defaults, and its three actions."""

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
                    preview_image = gr.Image(
                        label="16 training scenes as Menny sees them (face boxes in green)",
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
                    strangers = gr.Checkbox(
                        config.strangers,
                        label="Mix in generated strangers",
                        info='people who are none of the classes: "someone else"',
                    )
                    negatives = gr.Checkbox(
                        config.negatives,
                        label="Mix in generated pictures without a face",
                        info='textures, clutter, scenes, text: "no face"',
                    )
                replay_bug, init_from, freeze = start_widgets()
                with gr.Row():
                    start = gr.Button("Train", variant="primary")
                    without = gr.Button("Train without negatives", elem_id="train-without")
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
                plot = dict(
                    x="epoch", y="value", color="curve", color_map=curve_colours(colours),
                    height=220,
                )  # fmt: skip
                loss_curves = gr.LinePlot(
                    **plot,
                    y_title="loss (class + face + box)",
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
        errors_panel(session, confusion)  # click a cell: the images behind it
        reliability = gr.Image(
            label="Reliability diagram of the test faces: accuracy (bars) against confidence; "
            "a calibrated Menny follows the grey diagonal",
            format="png",
            height=260,
            elem_id="reliability",
            elem_classes="below-label",
        )
        with gr.Accordion("Learn", open=False):
            learn = gr.Markdown()
        refresh_runs = runs_panel(session)  # compare runs; pick Classify's model
    # Uploading a zip means "train on it": switch the dataset choice for the learner.
    upload.upload(lambda: SOURCES[1], None, source, api_visibility="undocumented")
    show_stream, run_training = with_session(preview_stream, session), with_session(train, session)
    preview_button.click(
        show_stream,
        widgets_for(show_stream, locals()),
        [preview_image, dataset_note],
        api_name="augment_preview",
        preprocess=False,
        concurrency_limit=1,  # the mlx-data stream uses every core
        concurrency_id="preview",
    )
    results = [status, loss_curves, accuracy_curves, metrics, confusion, learn, reliability]
    train_event = dict(
        fn=run_training,
        inputs=widgets_for(run_training, locals()),
        outputs=results,
        preprocess=False,
        # The trainer itself runs one at a time (session.trainer); a second slot lets a
        # second request hear "busy" at once instead of waiting in Gradio's queue.
        concurrency_limit=2,
        concurrency_id="train",
    )
    start.click(api_name="train", **train_event).then(**refresh_runs)
    # The seed lesson in one click: the same run, with every training picture a face.
    without.click(lambda: False, None, negatives, api_visibility="undocumented").then(
        api_visibility="undocumented", **train_event
    ).then(**refresh_runs)
    cancel.click(
        with_session(cancel_training, session),
        None,
        status,
        api_name="cancel_training",
        concurrency_limit=None,
    )
