"""The Shapes tab over HTTP (gradio_client): dense rows, the presets, Menny as shipped read
from its weights, and the order rules' sentences, with the cores as oracles."""

import pytest
from gradio_client.exceptions import AppError

from kernels_playground.lessons import TABLE_COLUMNS
from kernels_playground.shapes import LAYER_COLUMNS, describe_stack, layer_rows
from kernels_playground.stack_presets import PRESETS
from menny_app.shapes import SHIPPED_WEIGHTS, load_preset, presets, shipped_menny
from menny_base.errors import MennyError
from menny_core import weights
from menny_core.model import num_parameters

COLUMN = {name: index for index, name in enumerate(TABLE_COLUMNS)}


def table(*rows):
    return {"headers": LAYER_COLUMNS, "data": [list(row) for row in rows]}


def column(result, name):
    return [row[COLUMN[name]] for row in result["data"]]


def test_dense_rows_through_the_api(client):
    layers = table(
        ["flatten", None, None, None, None, None],
        ["dense", None, None, None, None, 400],
        ["dense", "", "", "", "", 400],
        ["dense", 1, 1, 0, 1, 10],
    )
    result, summary, learn = client.predict(28, 28, 1, layers, api_name="/shapes")
    assert column(result, "output") == ["784", "400", "400", "10"]
    assert column(result, "MLX output") == ["784", "400", "400", "10"]  # built and run
    assert column(result, "parameters") == [0, 314_000, 160_400, 4_010]
    assert column(result, "share of parameters") == ["0%", "65.63%", "33.53%", "0.84%"]
    assert column(result, "parameter bytes (float32)") == [0, 1_256_000, 641_600, 16_040]
    assert column(result, "memory") == ["0 B", "1.26 MB", "642 kB", "16 kB"]
    assert column(result, "receptive field")[1:] == ["whole input"] * 3
    assert "every shape and every parameter count" in summary
    assert "**478,410** parameters" in summary and "1.91 MB" in summary
    assert "`784*400 = 313,600` weights plus 400 biases" in learn
    assert "`3*3*1*32 + 32 = 320` parameters" in learn


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [["conv", 3, 1, 1, 1, 8], ["dense", None, None, None, None, 10]],
            "layer 2 (dense 10): a dense layer reads a flat vector, but layer 1 (conv 3x3) "
            "gives a 28x28x8 map: add a flatten (or gap) row before it",
        ),
        (
            [["flatten"] + [None] * 5, ["dense", 1, 1, 1, 1, -3]],
            "layer 2 (dense): units (the out_channels column) must be between 1 and 65536, got -3",
        ),
        (
            [["flatten"] + [None] * 5, ["maxpool", 2, 2, 0, 1, None]],
            "layer 2 (maxpool 2x2): a pooling window slides over an HxWxC map, but layer 1 "
            "(flatten) gives a flat vector of 784 numbers: put conv, pool and gap layers "
            "before any flatten or dense layer",
        ),
        (
            [["dense", None, None, None, None, "many"]],
            "layer 1 (dense): its units (the out_channels column) must be a whole number, "
            "got 'many'",
        ),
        (
            [["relu", 1, 1, 1, 1, 1]],
            "layer 1: kind must be one of conv, maxpool, avgpool, flatten, gap, dense, dropout, "
            "batchnorm, got 'relu'",
        ),
    ],
)
def test_bad_stacks_get_the_cores_sentence(client, rows, message):
    with pytest.raises(AppError) as caught:
        client.predict(28, 28, 1, table(*rows), api_name="/shapes")
    assert str(caught.value) == message


def test_every_preset_loads_and_describes(client):
    for name in presets():
        height, width, channels, layers, about = client.predict(name, api_name="/shapes_preset")
        preset = presets()[name]
        assert (height, width, channels) == (*preset.input_hw, preset.channels)
        result, summary, _ = client.predict(height, width, channels, layers, api_name="/shapes")
        stack = describe_stack(preset.input_hw, preset.channels, layer_rows(preset.rows))
        assert f"**{stack.total_parameters:,}** parameters" in summary
        assert f"**{stack.total_parameters:,}**" in about
        assert len(result["data"]) == len(preset.rows)


def test_the_268_million_preset_is_not_built(client):
    name = "ComplexFaceDetector (seed chapter), 512x512"
    assert name in PRESETS
    height, width, channels, layers, _ = client.predict(name, api_name="/shapes_preset")
    result, summary, _ = client.predict(height, width, channels, layers, api_name="/shapes")
    assert column(result, "parameters")[8] == 268_435_968
    assert column(result, "share of parameters")[8] == "99.96%"
    assert column(result, "memory")[8] == "1.07 GB"
    assert set(column(result, "MLX output")) == {"not built"}
    assert "**268,531,268** parameters (1,074,125,072 bytes in float32: **1.07 GB**)" in summary
    assert "so the MLX model was not built" in summary


def test_an_unknown_preset_is_one_sentence(client):
    with pytest.raises(AppError) as caught:  # Gradio's dropdown refuses it first
        client.predict("VGG-16", api_name="/shapes_preset")
    assert str(caught.value).startswith("Value: VGG-16 is not in the list of choices: ['MNIST")
    with pytest.raises(MennyError, match=r"^preset must be one of MNIST MLP \(course\)"):
        load_preset.__wrapped__("VGG-16")  # the handler's own check, behind Gradio's


def test_menny_preset_counts_the_shipped_model():
    if not SHIPPED_WEIGHTS.is_file():
        pytest.skip("no shipped weights")
    model, metadata = weights.load(SHIPPED_WEIGHTS)
    preset = shipped_menny()
    assert preset.input_hw == (metadata["image_size"],) * 2
    stack = describe_stack(preset.input_hw, 3, layer_rows(preset.rows))
    assert stack.disagreements == [] and stack.mlx_skipped is None  # built in MLX
    heads = [name for name in ("face", "box_heat", "box_context", "box_size") if name in model]
    left_out = sum(num_parameters(getattr(model, name)) for name in heads)
    assert stack.total_parameters + left_out == num_parameters(model)
    assert f"{num_parameters(model):,}" in preset.description
    if heads:
        assert f"the detector heads ({left_out:,} parameters" in preset.description
    assert stack.layers[-1].output == (len(metadata["classes"]),)
