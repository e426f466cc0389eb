"""The kernel playground tab: a kernel on a picture, with every knob a CNN layer has.

`playground` is the whole update (convolve, ReLU, pool, render, the size arithmetic, one
output value step by step, the Learn text); `playground_tab` declares the widgets and
wires every knob to it.
"""

from __future__ import annotations

import gradio as gr

from kernels_playground.convolve import apply_kernel, relu
from kernels_playground.explain import step_at
from kernels_playground.kernels import (
    DESCRIPTIONS,
    MAX_KERNEL_SIDE,
    PRESETS,
    format_kernel,
    parse_kernel,
)
from kernels_playground.lessons import playground_lesson, size_sums
from kernels_playground.pooling import pool
from kernels_playground.render import render_feature_map
from kernels_playground.spec import ConvSpec
from menny_app.inputs import (
    PLAYGROUND_SIDE,
    flag,
    for_people,
    load_image,
    one_of,
    uploaded_file,
    whole_from,
    widgets_for,
)
from menny_base.errors import MennyError

STEP_LIMIT = 10**6  # a step-by-step position beyond any map: moved to the edge, not refused
EDGES = {"zero": "zero", "valid (crop)": "valid", "replicate": "replicate", "reflect": "reflect"}
POOLS = ("none", "max", "avg")


@for_people
def preset_kernel(preset: str) -> tuple[str, str]:
    """A preset's grid as editable text (one row per line) and what it does."""
    if preset not in PRESETS:
        raise MennyError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
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
    spec = ConvSpec(parse_kernel(grid), stride, pad, edge, dilation, mode, flip)  # checked once
    convolved = apply_kernel(image, spec)
    feature = relu(convolved) if use_relu else convolved
    shown = render_feature_map(feature)
    pooled_image, pooling = None, None
    if pool_kind != "none":
        pooling = (
            whole_from(pool_window, "pool window", 1, side),
            whole_from(pool_stride, "pool stride", 1, side),
        )
        pooled_image = render_feature_map(pool(feature, pool_kind, *pooling)).image
    # An emptied field means 0; a position off the map moves to its edge (see _step).
    position = tuple(
        whole_from(value or 0, label, -STEP_LIMIT, STEP_LIMIT)
        for value, label in ((step_row, "output row"), (step_col, "output column"))
    )
    step_md = _step(image, spec, convolved, position, use_relu)
    # Show the file itself when it was not shrunk: no PNG encoding on every knob change.
    original = image if note else uploaded_file(image_path)
    return (
        original,
        shown.image,
        f"{note} {shown.note}".strip(),
        pooled_image,
        size_sums(image.shape[:2], spec, pooling),
        step_md,
        playground_lesson(image.shape[:2], spec, pooling),
    )


def _step(image, spec: ConvSpec, convolved, position, use_relu) -> str:
    """The step-by-step panel for the map `convolved` (before ReLU). A position outside the
    map (a knob change shrank it, or a negative number was typed) is moved to the nearest
    output and said, instead of failing the whole update."""
    (rows, cols), (row, col) = convolved.shape[:2], position
    row, col = min(max(row, 0), rows - 1), min(max(col, 0), cols - 1)
    step = step_at(image, spec, row, col, feature_map=convolved)
    text = step.markdown(before_relu=use_relu)
    if (row, col) != position:
        text = (
            f"Output {position} is outside the {rows}x{cols} feature map: showing ({row}, {col}), "
            f"the nearest one.\n\n{text}"
        )
    return text


def playground_tab(app: gr.Blocks, pictures: list[str]) -> None:
    """The tab's widgets, and every knob wired to `playground`. pictures: the bundled ones."""
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
    image_path = picture  # the handler's name for it
    knobs = widgets_for(playground, locals())
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
