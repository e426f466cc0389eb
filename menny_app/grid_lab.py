"""The Grid lab tab: a grid of numbers, a kernel, one operation, and any output cell
explained; the sliding window scrubbed frame by frame or played as an animated GIF.

Every computation is in kernels_playground (grid_lab, grid_steps, transposed, animation,
grid_lessons); the handlers here read the widgets, call the cores and colour the tables
with the animation's colours.
"""

from __future__ import annotations

from dataclasses import astuple

import gradio as gr
import numpy as np
import pandas as pd
from gradio.processing_utils import save_bytes_to_cache
from gradio.utils import get_upload_folder

from kernels_playground.animation import (
    MAX_FRAMES,
    PADDED_WINDOW,
    PADDING,
    WINDOW,
    WRITTEN,
    Sweep,
    animate,
)
from kernels_playground.grid_lab import (
    MAX_DILATION,
    MAX_GRID_SIDE,
    MAX_LAB_KERNEL,
    MAX_PADDING,
    MAX_STRIDE,
    OPERATIONS,
    Lab,
    Settings,
    grid_text,
    picture_grid,
    run_lab,
)
from kernels_playground.grid_lessons import EXAMPLES, lab_lesson, upsampling_markdown
from kernels_playground.grid_steps import cell_text, pin
from kernels_playground.spec import EDGES
from menny_app.inputs import for_people, load_image, one_of, whole_from, widgets_for
from menny_base.errors import MennyError

FIRST = next(iter(EXAMPLES))


# Cell colours: the animation's (the window, padding, the cell written), as CSS.
def _css(rgb: tuple[int, int, int]) -> str:
    return "background-color: #{:02x}{:02x}{:02x}".format(*rgb)


WINDOW_CSS = f"{_css(WINDOW)}; font-weight: bold"
PADDED_WINDOW_CSS = f"{_css(PADDED_WINDOW)}; color: #8a8f99; text-decoration: line-through"
PADDING_CSS = f"{_css(PADDING)}; color: #8a8f99; font-style: italic"
PINNED_CSS = f"{_css(WRITTEN)}; font-weight: bold"


def _lab(grid, kernel, operation, stride, padding, edge, dilation, output_padding, pool_window):
    """The widgets' values, checked, run through the lab's core."""
    settings = Settings(
        one_of(operation, "operation", OPERATIONS),
        whole_from(stride, "stride", 1, MAX_STRIDE),
        whole_from(padding, "padding", 0, MAX_PADDING),
        one_of(edge, "edges", EDGES),
        whole_from(dilation, "dilation", 1, MAX_DILATION),
        whole_from(output_padding, "output padding", 0, 7),
        whole_from(pool_window, "pool window", 1, MAX_LAB_KERNEL),
    )
    return run_lab(grid, kernel, settings)


def _pinned_cell(lab: Lab, pin_row, pin_col) -> tuple[int, int, str]:
    """The pinned (row, col), moved onto the output if a knob shrank it, and a note if so."""
    asked = tuple(
        whole_from(value or 0, label, -(10**6), 10**6)
        for value, label in ((pin_row, "pinned row"), (pin_col, "pinned column"))
    )
    rows, cols = lab.output.shape
    row, col = min(max(asked[0], 0), rows - 1), min(max(asked[1], 0), cols - 1)
    note = ""
    if (row, col) != asked:
        note = f"Output {asked} is outside the {rows}x{cols} output: showing ({row}, {col}).\n\n"
    return row, col, note


def _table(values: np.ndarray, first_col: int, styles: np.ndarray):
    """A styled table of `values` (the learner's numbers, short), columns numbered from
    `first_col` (negative in the left padding)."""
    text = [[cell_text(v) for v in row] for row in values]
    headers = [str(first_col + c) for c in range(values.shape[1])]
    frame = pd.DataFrame(text, columns=headers)
    return frame.style.apply(lambda _: pd.DataFrame(styles, columns=headers), axis=None)


@for_people
def grid_lab(grid, kernel, operation, stride, padding, edge, dilation, output_padding,
             pool_window, pin_row, pin_col):  # fmt: skip
    """Run the lab; pin one output cell. Returns: the input as the operation sees it (the
    pinned cell's window highlighted, padding shaded), the output (pinned cell
    highlighted), the size arithmetic, the pinned step, the upsamplings, the Learn text."""
    lab = _lab(
        grid, kernel, operation, stride, padding, edge, dilation, output_padding, pool_window
    )
    row, col, note = _pinned_cell(lab, pin_row, pin_col)
    pinned = pin(lab, row, col)
    styles = np.where(lab.is_padding, PADDING_CSS, "").astype(object)
    for r, c in pinned.cells:
        styles[r, c] = PADDED_WINDOW_CSS if lab.is_padding[r, c] else WINDOW_CSS
    out_styles = np.full(lab.output.shape, "", dtype=object)
    out_styles[row, col] = PINNED_CSS
    upsampling = ""
    if lab.settings.operation == "transposed convolution":
        upsampling = upsampling_markdown(lab)
    return (
        _table(lab.shown, -lab.origin[1], styles),
        _table(lab.output, 0, out_styles),
        lab.sizes,
        note + pinned.markdown,
        upsampling,
        lab_lesson(lab),
    )


@for_people
def pin_cell(evt: gr.SelectData):
    """A click on an output cell: its (row, column) become the pinned cell."""
    row, col = evt.index
    return row, col


@for_people
def grid_frame(grid, kernel, operation, stride, padding, edge, dilation, output_padding,
               pool_window, position):  # fmt: skip
    """One frame of the sweep: the window on the input and the cell written on the output,
    at output position `position` (reading order, from 0)."""
    lab = _lab(
        grid, kernel, operation, stride, padding, edge, dilation, output_padding, pool_window
    )
    index = whole_from(position, "output position", 0, 10**6)
    return Sweep(lab).frame(min(index, lab.positions - 1))


@for_people
def follow_pin(grid, kernel, operation, stride, padding, edge, dilation, output_padding,
               pool_window, pin_row, pin_col):  # fmt: skip
    """The scrub slider sized to the output and moved to the pinned cell, and its frame."""
    lab = _lab(
        grid, kernel, operation, stride, padding, edge, dilation, output_padding, pool_window
    )
    row, col, _ = _pinned_cell(lab, pin_row, pin_col)
    index = row * lab.output.shape[1] + col
    slider = gr.Slider(minimum=0, maximum=max(lab.positions - 1, 1), value=index)
    return slider, Sweep(lab).frame(index)


@for_people
def grid_animation(grid, kernel, operation, stride, padding, edge, dilation, output_padding,
                   pool_window):  # fmt: skip
    """The whole sweep as an animated GIF (at most MAX_FRAMES frames) and a sentence on
    what it shows."""
    lab = _lab(
        grid, kernel, operation, stride, padding, edge, dilation, output_padding, pool_window
    )
    animation = animate(lab)
    path = save_bytes_to_cache(animation.gif, "sweep.gif", get_upload_folder())
    return path, animation.note


@for_people
def grid_example(name):
    """An example's widgets: grid, kernel, operation, stride, padding, edges, dilation,
    output padding, pool window, pinned row and column, and what to notice."""
    if name not in EXAMPLES:
        raise MennyError(f"example must be one of {', '.join(EXAMPLES)}, got {name!r}")
    chosen = EXAMPLES[name]  # Settings' fields are in the order of the knobs
    return chosen.grid, chosen.kernel, *astuple(chosen.settings), *chosen.pinned, chosen.note


@for_people
def grid_from_picture(picture):
    """An uploaded picture as the input grid: its grey levels 0..255, at most 16x16."""
    image, _ = load_image(picture, "upload a picture first")
    return grid_text(picture_grid(image))


def grid_lab_tab(app: gr.Blocks) -> None:
    """The tab's widgets and events."""
    start = EXAMPLES[FIRST]
    with gr.Tab("Grid lab", id="grid-lab"):
        gr.Markdown(
            "Type or paste (from a spreadsheet) a grid of numbers, pick an operation, and "
            "**click any output cell** to see exactly which inputs made it."
        )
        with gr.Row():
            with gr.Column(scale=1):
                example = gr.Dropdown(
                    list(EXAMPLES), value=FIRST, label="Examples", elem_id="lab-examples"
                )
                about = gr.Markdown(start.note, elem_id="lab-about")
                picture = gr.Image(
                    type="filepath",
                    sources=["upload", "clipboard"],
                    label=f"Or a picture: its grey levels, at most {MAX_GRID_SIDE}x{MAX_GRID_SIDE}",
                    height=140,
                    elem_id="lab-picture",
                )
                with gr.Row():
                    grid = gr.Textbox(
                        start.grid,
                        lines=6,
                        max_lines=MAX_GRID_SIDE + 1,
                        label=f"Input grid (up to {MAX_GRID_SIDE}x{MAX_GRID_SIDE})",
                        elem_id="lab-grid",
                    )
                    kernel = gr.Textbox(
                        start.kernel,
                        lines=6,
                        max_lines=MAX_LAB_KERNEL + 1,
                        label=f"Kernel (up to {MAX_LAB_KERNEL}x{MAX_LAB_KERNEL})",
                        elem_id="lab-kernel",
                    )
            with gr.Column(scale=1):
                operation = gr.Radio(
                    list(OPERATIONS),
                    value="convolution",
                    label="Operation",
                    elem_id="lab-operation",
                )
                with gr.Row():
                    stride = gr.Slider(
                        1, MAX_STRIDE, 1, step=1, label="Stride", elem_id="lab-stride"
                    )
                    padding = gr.Slider(0, MAX_PADDING, 0, step=1, label="Padding")
                with gr.Row():
                    dilation = gr.Slider(1, MAX_DILATION, 1, step=1, label="Dilation")
                    output_padding = gr.Slider(0, 7, 0, step=1, label="Output padding (transposed)")
                    pool_window = gr.Slider(1, MAX_LAB_KERNEL, 2, step=1, label="Pool window")
                edge = gr.Radio(list(EDGES), value="zero", label="Edges (convolution)")
        with gr.Row():
            input_view = gr.Dataframe(
                label="input (the window of the pinned cell; padding greyed)",
                interactive=False,
                elem_id="lab-input",
            )
            output_view = gr.Dataframe(
                label="output (click a cell to pin it)", interactive=False, elem_id="lab-output"
            )
        with gr.Row():
            pin_row = gr.Number(0, precision=0, label="Pinned output row", elem_id="lab-row")
            pin_col = gr.Number(0, precision=0, label="Pinned output column")
        sizes = gr.Markdown(elem_id="lab-sizes")
        step = gr.Markdown(elem_id="lab-step")
        upsampling = gr.Markdown(elem_id="lab-upsampling")
        with gr.Accordion("The sliding window, animated", open=True), gr.Row():
            with gr.Column(scale=2):
                position = gr.Slider(
                    0, 1, 0, step=1, label="Output position (scrub)", elem_id="lab-position"
                )
                frame = gr.Image(
                    label="input and output at this position",
                    show_label=False,  # the frame titles its own panels
                    format="png",
                    elem_id="lab-frame",
                    interactive=False,
                )
            with gr.Column(scale=1):
                play = gr.Button(
                    f"Play the whole sweep (at most {MAX_FRAMES} frames)", elem_id="lab-play"
                )
                sweep = gr.Image(
                    label="the sweep (animated GIF, download it)",
                    show_label=False,
                    type="filepath",
                    elem_id="lab-gif",
                    interactive=False,
                )
                sweep_note = gr.Markdown(elem_id="lab-sweep-note")
        with gr.Accordion("Learn", open=False):
            learn = gr.Markdown()
    widgets = locals()
    knobs = widgets_for(grid_lab, widgets)
    update = dict(
        fn=grid_lab,
        inputs=knobs,
        outputs=[input_view, output_view, sizes, step, upsampling, learn],
        trigger_mode="always_last",
        show_progress="minimal",
    )
    follow = dict(
        fn=follow_pin,
        inputs=widgets_for(follow_pin, widgets),
        outputs=[position, frame],
        api_visibility="undocumented",
        show_progress="hidden",
    )
    # Text boxes apply on blur (a half-typed "1 0 -" is not an error); the pinned cell's
    # numbers on input (a click's .then sets them without running twice).
    live = [k.change for k in knobs if k not in (grid, kernel, pin_row, pin_col)]
    triggers = [app.load, grid.blur, kernel.blur, pin_row.input, pin_col.input, *live]
    gr.on(triggers, api_name="grid_lab", **update).then(**follow)
    output_view.select(pin_cell, None, [pin_row, pin_col], api_visibility="undocumented").then(
        api_visibility="undocumented", **update
    ).then(**follow)
    position.input(
        grid_frame,
        widgets_for(grid_frame, widgets),
        frame,
        api_name="grid_frame",
        preprocess=False,  # the slider's range follows the output; whole_from checks it
        trigger_mode="always_last",
        show_progress="hidden",
    )
    play.click(
        grid_animation,
        widgets_for(grid_animation, widgets),
        [sweep, sweep_note],
        api_name="grid_animation",
    )
    example.select(grid_example, example, [*knobs, about], api_name="grid_example").then(
        api_visibility="undocumented", **update
    ).then(**follow)
    # preprocess=False: a bad file reaches load_image and its sentence (see uploaded_file).
    picture.upload(
        grid_from_picture, picture, grid, preprocess=False, api_name="grid_from_picture"
    ).then(api_visibility="undocumented", **update).then(**follow)
