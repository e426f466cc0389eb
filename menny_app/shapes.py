"""The Shapes tab: a layer table in, output shapes, parameters, their share and memory,
multiply-adds and receptive fields out, checked against real MLX layers
(kernels_playground.shapes); presets from an MLP to the chapter's 268-million-parameter
face detector and Menny as shipped (read from its weights file here, since
kernels_playground never imports menny_core)."""

from __future__ import annotations

import functools
import logging

import gradio as gr
import pandas as pd

from kernels_playground.lessons import TABLE_COLUMNS, shapes_lesson, stack_summary, table_rows
from kernels_playground.shapes import LAYER_COLUMNS, describe_stack, layer_rows
from kernels_playground.stack_presets import PRESETS, Preset, menny_preset
from menny_app.inputs import ROOT, for_people, whole_from
from menny_base.errors import MennyError
from menny_core import weights
from menny_core.model import VARIANTS, num_parameters

SHIPPED_WEIGHTS = ROOT / "weights" / "menny.safetensors"
DEFAULT_LAYERS = [
    ["conv", 3, 1, 1, 1, 16],
    ["maxpool", 2, 2, 0, 1, 16],
    ["conv", 3, 1, 1, 1, 32],
    ["maxpool", 2, 2, 0, 1, 32],
]
log = logging.getLogger("menny")


def shipped_menny(path=SHIPPED_WEIGHTS) -> Preset:
    """The "Menny as shipped" preset from a weights file's metadata (variant, classes,
    image size), its description stating what the table leaves out, counted: the table's
    total plus the left-out parameters is `num_parameters` of the loaded model.

    Raises MennyError (WeightsError) when the file is missing or not Menny's weights.
    """
    model, metadata = weights.load(path)
    widths, batch_norm = VARIANTS[metadata["variant"]]
    classes, size = metadata["classes"], metadata["image_size"]
    preset = menny_preset(widths, batch_norm, classes, size)
    table = describe_stack(preset.input_hw, 3, layer_rows(preset.rows), check_with_mlx=False)
    everything = num_parameters(model)
    heads = everything - table.total_parameters
    if heads:
        left_out = (
            f"The table holds **{table.total_parameters:,}** of its {everything:,} parameters: "
            f"the detector heads ({heads:,} parameters: a face score, a box heat map from "
            "block 2's and block 4's maps, a box size) read several maps side by side, which "
            "a straight stack of rows cannot show; the input standardisation and the ReLUs "
            "have none."
        )
    else:
        left_out = f"The table holds all **{everything:,}** of its parameters."
    return menny_preset(widths, batch_norm, classes, size, left_out)


@functools.cache
def presets() -> dict[str, Preset]:
    """The fixed presets, then Menny as shipped when its weights file can be read."""
    found = dict(PRESETS)
    try:
        menny = shipped_menny()
        found[menny.name] = menny
    except MennyError as error:  # no shipped weights: the other presets still work
        log.info("Shapes: no Menny preset (%s)", error)
    return found


@for_people
def load_preset(name):
    """A preset's input height, width and channels, its layer table and its description."""
    known = presets()
    if name not in known:
        raise MennyError(f"preset must be one of {', '.join(known)}, got {name!r}")
    preset = known[name]
    table = pd.DataFrame(preset.rows, columns=LAYER_COLUMNS)
    return *preset.input_hw, preset.channels, table, preset.description


@for_people
def shapes(height, width, channels, layers):
    """Per-layer output shape, parameters, share, memory, multiply-adds, receptive field;
    MLX-checked when the stack is small enough to build."""
    size = (whole_from(height, "Input height", 1), whole_from(width, "Input width", 1))
    channels = whole_from(channels, "Input channels", 1)
    rows = layers.values.tolist() if isinstance(layers, pd.DataFrame) else layers
    result = describe_stack(size, channels, layer_rows(rows))
    table = pd.DataFrame(table_rows(result), columns=TABLE_COLUMNS)
    return table, stack_summary(result), shapes_lesson(result, size, channels)


def shapes_tab(app: gr.Blocks) -> None:
    with gr.Tab("Shapes", id="shapes"):
        with gr.Row():
            preset = gr.Dropdown(
                list(presets()), value=None, label="Preset (fills the table and input size)"
            )
            about = gr.Markdown(elem_id="shapes-preset")
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
            label=(
                "Layers (kind: conv, maxpool, avgpool, batchnorm, dropout, flatten, gap or "
                "dense; a dense layer's units go in out_channels; add rows freely)"
            ),
        )
        shapes_table = gr.Dataframe(label="Per layer: arithmetic and MLX", interactive=False)
        shapes_summary = gr.Markdown(elem_id="shapes-summary")
        with gr.Accordion("Learn", open=False):
            learn_shapes = gr.Markdown()
    preset.select(load_preset, preset, [in_h, in_w, in_c, layers, about], api_name="shapes_preset")
    gr.on(
        [app.load, in_h.change, in_w.change, in_c.change, layers.change],
        shapes,
        [in_h, in_w, in_c, layers],
        [shapes_table, shapes_summary, learn_shapes],
        api_name="shapes",
        trigger_mode="always_last",
    )
