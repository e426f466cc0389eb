"""The Train tab's run settings and run comparison: replay a bug, start from the shipped
Menny (freezing some conv blocks), compare two of your runs, pick the model Classify uses.

The computations are menny_core's (bugs, finetune, runs, bug_lessons); this module turns
widget values into them and their results into widget values. A visitor never sends a
path: "the shipped Menny" is a choice, which the server turns into its own file.
"""

from __future__ import annotations

import re

import gradio as gr
import pandas as pd

from menny_app.inputs import for_people, one_of, whole_from
from menny_app.session import Session, visitor_id, with_session
from menny_base.errors import MennyError
from menny_core import bugs
from menny_core.bug_lessons import bug_lesson
from menny_core.model import VARIANTS
from menny_core.runs import comparison_table, curves, start_sentence, transfer_sentence, twin
from menny_core.weights import WeightsError, read_metadata

NO_BUG = "none"
STARTS = ("from scratch", "the shipped Menny")
SHIPPED = "the shipped Menny"
MOST_BLOCKS = max(len(widths) for widths, _ in VARIANTS.values())
PLOT = dict(x="epoch", y="value", color="curve", height=340)  # room for the legend


# -- the run's settings ------------------------------------------------------------------


def start_widgets() -> tuple[gr.Dropdown, gr.Radio, gr.Slider]:
    """The bug and fine-tuning widgets, made where they are called (inside the tab)."""
    with gr.Row():
        replay_bug = gr.Dropdown(
            [NO_BUG, *bugs.BUGS],
            value=NO_BUG,
            label="Replay a bug",
            info="train with one of the chapter's bugs switched on; the run is labelled",
            elem_id="replay-bug",
        )
        init_from = gr.Radio(list(STARTS), value=STARTS[0], label="Start from")
        freeze = gr.Slider(
            0, MOST_BLOCKS, 0, step=1, label="Frozen conv blocks", info="with the shipped Menny"
        )
    return replay_bug, init_from, freeze


def run_settings(session: Session, replay_bug, init_from, freeze) -> dict:
    """The widgets' values as TrainConfig fields: replay_bug, init_from (the server's own
    file for "the shipped Menny"), freeze."""
    bug = one_of(replay_bug or NO_BUG, "Replay a bug", (NO_BUG, *bugs.BUGS))
    start = one_of(init_from or STARTS[0], "Start from", STARTS)
    if start == SHIPPED and session.shipped is None:
        raise MennyError("the shipped Menny is not on this server: start from scratch")
    return {
        "replay_bug": None if bug == NO_BUG else bug,
        "init_from": str(session.shipped) if start == SHIPPED else None,
        "freeze": whole_from(freeze, "Frozen conv blocks", 0, MOST_BLOCKS),
    }


def run_label(config) -> str:
    """What a saved run's name adds: ', bug: tiny-lr', ', from the shipped Menny, 3 frozen'."""
    label = f", {bugs.label(config.replay_bug)}" if config.replay_bug else ""
    if config.init_from:
        label += f", from the shipped Menny, {config.freeze} frozen"
    return label


def labelled_curves(frames: tuple[pd.DataFrame, pd.DataFrame], config) -> tuple:
    """The two curve frames without their missing points (an epoch without batches: the
    exhausted-stream bug), each curve named with the run's bug if it has one ("train
    (bug: tiny-lr)"): the plot's legend says it, and so does the API's data."""
    marked = []
    for frame in frames:
        frame = frame.dropna(subset=["value"]).reset_index(drop=True)
        if config.replay_bug:
            frame["curve"] = frame["curve"] + f" ({bugs.label(config.replay_bug)})"
        marked.append(frame)
    return tuple(marked)


def curve_colours(colours: dict[str, str]) -> dict[str, str]:
    """`colours` ({"train": ..., "validation": ...}) for the bug-marked curves too."""
    marked = {
        f"{curve} ({bugs.label(bug)})": colour
        for bug in bugs.BUGS
        for curve, colour in colours.items()
    }
    return {**colours, **marked}


def _saved_runs(visitor, but=None) -> list[tuple[str, dict]]:
    """(name, metadata) of the visitor's runs whose files are still there."""
    found = []
    for run in visitor.runs:
        if run is but:
            continue
        try:
            found.append((run.name, read_metadata(run.weights)))
        except WeightsError:  # deleted meanwhile: it simply is not compared
            continue
    return found


def finished_lesson(session: Session, visitor, result, saved) -> str:
    """The Learn text a run adds when it ends: its bug's symptom next to the clean run of
    the same settings, or fine-tuned against from scratch, when the visitor has one."""
    if saved is None:
        return ""
    this = (saved.name, result.metadata())
    yardstick = twin(this, _saved_runs(visitor, but=saved))
    if result.config.replay_bug:
        return bug_lesson(this, yardstick)
    if yardstick is None:
        return start_sentence(this[1])
    tuned, scratch = (this, yardstick) if result.config.init_from else (yardstick, this)
    return transfer_sentence(tuned, scratch)


# -- runs compared ----------------------------------------------------------------------


def _pick(session: Session, visitor, choice: str | None) -> tuple[str, dict]:
    """A run named by its full name or 'run N', or the shipped Menny."""
    if choice == SHIPPED:
        if session.shipped is None:
            raise MennyError("the shipped Menny is not on this server")
        return SHIPPED, read_metadata(session.shipped)
    found = re.match(r"\s*run (\d+)\b", choice or "")
    for run in visitor.runs if found else []:
        if run.number == int(found.group(1)):
            return run.name, read_metadata(run.weights)
    kept = ", ".join(r.name for r in visitor.runs) or "none yet: train one first"
    raise MennyError(f"{choice!r} is not one of your runs (yours: {kept})")


@for_people
def compare_runs(session: Session, first=None, second=None, request: gr.Request = None):
    """Two runs overlaid: (loss curves, accuracy curves, their numbers side by side, a
    note). Empty choices: your two latest runs."""
    visitor = session.visitors.visit(visitor_id(request))
    latest = [run.name for run in visitor.runs[-2:]]
    if not first and not second and not latest:
        raise MennyError("you have no runs yet: train one, then compare it with another")
    chosen = [c for c in (first, second) if c] or latest[::-1]
    runs = [_pick(session, visitor, choice) for choice in chosen[:2]]
    losses, accuracies = curves(runs)
    columns = ["epoch", "value", "curve"]
    note = ""
    if len(runs) == 2:
        pair = twin(runs[0], runs[1:])
        if pair is not None and not runs[0][1].get("replay_bug"):
            tuned = runs[0] if (runs[0][1].get("config") or {}).get("init_from") else runs[1]
            note = transfer_sentence(tuned, runs[1] if tuned is runs[0] else runs[0])
        elif pair is not None:
            note = bug_lesson(runs[0], pair)
        elif runs[1][1].get("replay_bug") and twin(runs[1], runs[:1]):
            note = bug_lesson(runs[1], runs[0])
    return (
        pd.DataFrame(losses, columns=columns),
        pd.DataFrame(accuracies, columns=columns),
        comparison_table(runs),
        note,
    )


@for_people
def use_model(session: Session, choice=SHIPPED, request: gr.Request = None) -> str:
    """Make `choice` (one of your runs, or the shipped Menny) the model Classify uses."""
    visitor = session.visitors.visit(visitor_id(request))
    if choice == SHIPPED:
        session.visitors.choose(visitor, None)
    else:
        name, _metadata = _pick(session, visitor, choice)
        session.visitors.choose(visitor, int(re.match(r"run (\d+)", name).group(1)))
    return session.describe_model(request)


def list_runs(session: Session, request: gr.Request = None):
    """The run choices, fresh: (first, second, the Classify model) dropdowns."""
    visitor = session.visitors.visit(visitor_id(request))
    names = [run.name for run in visitor.runs]
    current = session.visitors.current_run(visitor)[0]
    choices = [*names, SHIPPED]
    return (
        gr.Dropdown(choices=choices, value=names[-1] if names else None),
        gr.Dropdown(choices=choices, value=names[-2] if len(names) > 1 else None),
        gr.Dropdown(choices=[SHIPPED, *names], value=current.name if current else SHIPPED),
    )


def runs_panel(session: Session) -> dict:
    """The "Runs compared" accordion and its events; returns the refresh event's settings
    (for `.then(**refresh)` after a run ends)."""
    with gr.Accordion("Runs compared, and the model Classify uses", open=False):
        with gr.Row():
            first = gr.Dropdown([], label="Run", elem_id="compare-first")
            second = gr.Dropdown([], label="against", elem_id="compare-second")
            compare = gr.Button("Compare")
        note = gr.Markdown(elem_id="compare-note")
        with gr.Row():
            losses = gr.LinePlot(**PLOT, y_title="loss", label="Loss per epoch, both runs")
            accuracies = gr.LinePlot(
                **PLOT, y_lim=[0, 1], y_title="accuracy", label="Accuracy per epoch, both runs"
            )
        table = gr.Markdown(elem_id="compare-table")
        with gr.Row():
            model = gr.Dropdown([SHIPPED], value=SHIPPED, label="Classify uses")
            model_note = gr.Markdown(elem_id="use-model-note")
    compare.click(
        with_session(compare_runs, session),
        [first, second],
        [losses, accuracies, table, note],
        api_name="compare_runs",
        preprocess=False,  # a run's name as typed ("run 2") is fine
    )
    model.input(
        with_session(use_model, session), model, model_note, api_name="use_model", preprocess=False
    )
    return dict(
        fn=with_session(list_runs, session),
        inputs=None,
        outputs=[first, second, model],
        api_visibility="undocumented",
    )
