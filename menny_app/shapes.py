"""The Shapes tab: a layer table in, output shapes, parameters, multiply-adds and
receptive fields out, checked against real MLX layers (kernels_playground.shapes)."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from kernels_playground.lessons import TABLE_COLUMNS, shapes_lesson, stack_summary, table_rows
from kernels_playground.shapes import LAYER_COLUMNS, describe_stack, layer_rows
from menny_app.inputs import for_people, whole_from

DEFAULT_LAYERS = [
    ["conv", 3, 1, 1, 1, 16],
    ["maxpool", 2, 2, 0, 1, 16],
    ["conv", 3, 1, 1, 1, 32],
    ["maxpool", 2, 2, 0, 1, 32],
]


@for_people
def shapes(height, width, channels, layers):
    """Per-layer output shape, parameters, multiply-adds, receptive field; MLX-checked."""
    size = (whole_from(height, "Input height", 1), whole_from(width, "Input width", 1))
    channels = whole_from(channels, "Input channels", 1)
    rows = layers.values.tolist() if isinstance(layers, pd.DataFrame) else layers
    result = describe_stack(size, channels, layer_rows(rows))
    table = pd.DataFrame(table_rows(result), columns=TABLE_COLUMNS)
    return table, stack_summary(result), shapes_lesson(result, size, channels)


def shapes_tab(app: gr.Blocks) -> None:
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
