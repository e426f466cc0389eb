"""Layer shapes: hand-worked numbers, real MLX layers as the oracle, clear errors."""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels_playground.lessons import TABLE_COLUMNS, display_count, table_rows
from kernels_playground.shapes import (
    LAYER_COLUMNS,
    MAX_CHANNELS,
    MAX_INPUT_SIDE,
    MAX_LAYERS,
    MAX_PADDING,
    MAX_STEP,
    MAX_WINDOW,
    LayerRow,
    build_mlx_stack,
    describe_stack,
    layer_rows,
)
from kernels_playground.stack_budget import (
    MLX_MAX_ELEMENTS,
    MLX_MAX_OPERATIONS,
    MLX_MAX_WRITTEN,
    mlx_budget,
)


def test_lenet_like_stack_by_hand():
    rows = [
        LayerRow("conv", 5, out_channels=6),  # 32 -> 28
        LayerRow("maxpool", 2, stride=2),  # 28 -> 14
        LayerRow("conv", 5, out_channels=16),  # 14 -> 10
        LayerRow("avgpool", 2, stride=2),  # 10 -> 5
    ]
    result = describe_stack((32, 32), 1, rows)
    assert [layer.output for layer in result.layers] == [
        (28, 28, 6),
        (14, 14, 6),
        (10, 10, 16),
        (5, 5, 16),
    ]
    assert [layer.parameters for layer in result.layers] == [
        5 * 5 * 1 * 6 + 6,
        0,
        5 * 5 * 6 * 16 + 16,
        0,
    ]
    assert result.layers[0].multiply_adds == 28 * 28 * 6 * 5 * 5 * 1
    assert result.layers[2].multiply_adds == 10 * 10 * 16 * 5 * 5 * 6
    # Receptive field: 5, 5 + 1*1 = 6, 6 + 4*2 = 14, 14 + 1*2 = 16; jumps 1, 2, 2, 4.
    assert [layer.receptive_field for layer in result.layers] == [5, 6, 14, 16]
    assert [layer.jump for layer in result.layers] == [1, 2, 2, 4]
    assert result.layers[0].formula_h == "(32 - 5 + 2*0) / 1 + 1 = 28"
    assert result.mlx_outputs == [layer.output for layer in result.layers]
    assert result.disagreements == []
    assert result.total_parameters == 156 + 2416


def test_non_square_input_has_two_formulas():
    result = describe_stack((64, 48), 3, [LayerRow("conv", 3, stride=2, padding=1, out_channels=8)])
    layer = result.layers[0]
    assert layer.output == (32, 24, 8)
    assert layer.formula_h == "floor((64 - 3 + 2*1) / 2) + 1 = floor(63 / 2) + 1 = 32"
    assert layer.formula_w == "floor((48 - 3 + 2*1) / 2) + 1 = floor(47 / 2) + 1 = 24"


def test_parameter_count_matches_mlx_model():
    from mlx.utils import tree_flatten  # after kernels_playground (see conftest.py)

    rows = [
        LayerRow("conv", 3, padding=1, out_channels=16),
        LayerRow("maxpool", 2, stride=2),
        LayerRow("conv", 3, dilation=2, out_channels=32),
    ]
    model_params = sum(
        value.size
        for layer in build_mlx_stack(3, rows)
        for _, value in tree_flatten(layer.parameters())
    )
    assert describe_stack((40, 40), 3, rows).total_parameters == model_params


def test_impossible_stack_names_the_layer():
    rows = [
        LayerRow("conv", 3, out_channels=4),  # 8 -> 6
        LayerRow("maxpool", 2, stride=2),  # 6 -> 3
        LayerRow("conv", 5, out_channels=4),  # 3 < 5
    ]
    with pytest.raises(
        ValueError,
        match=r"^layer 3 \(conv 5x5\): the kernel \(5\) is larger than the padded input "
        r"\(3 \+ 0 = 3\)",
    ):
        describe_stack((8, 8), 1, rows)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (LayerRow("conv", 3, stride=0), "layer 1 (conv): stride must be between 1 and 255, got 0"),
        (
            LayerRow("softmax", 3),
            "layer 1: kind must be one of conv, maxpool, avgpool, flatten, gap, dense, dropout, "
            "batchnorm, got 'softmax'",
        ),
        (LayerRow("maxpool", 2, dilation=2), "layer 1 (maxpool): pooling has no dilation, got 2"),
        (
            LayerRow("conv", 3, out_channels=0),
            "layer 1 (conv): out_channels must be between 1 and 4096, got 0",
        ),
    ],
)
def test_bad_rows_give_one_sentence(row, message):
    with pytest.raises(ValueError) as caught:
        describe_stack((16, 16), 3, [row])
    assert str(caught.value) == message


def test_empty_stack_is_refused():
    with pytest.raises(ValueError, match="the stack is empty"):
        describe_stack((16, 16), 3, [])


any_layer_row = st.one_of(
    st.builds(
        LayerRow,
        kind=st.just("conv"),
        kernel=st.integers(1, 5),
        stride=st.integers(1, 3),
        padding=st.integers(0, 2),
        dilation=st.integers(1, 2),
        out_channels=st.integers(1, 4),
    ),
    st.integers(1, 3).flatmap(
        lambda window: st.builds(
            LayerRow,
            kind=st.sampled_from(["maxpool", "avgpool"]),
            kernel=st.just(window),
            stride=st.integers(1, 3),
            padding=st.integers(0, window // 2),
        )
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(8, 40),
    channels=st.integers(1, 3),
    rows=st.lists(any_layer_row, min_size=1, max_size=4),
)
def test_arithmetic_agrees_with_mlx(size, channels, rows):
    try:
        result = describe_stack((size, size + 3), channels, rows)
    except ValueError as error:
        assert str(error).startswith("layer ")  # impossible stack: refused by name
        return
    assert result.disagreements == []
    assert result.mlx_outputs == [layer.output for layer in result.layers]


def test_layer_rows_read_a_table_as_learners_edit_it():
    table = [
        ["conv", 5, 1, 0, 1, 6],
        ["", None, float("nan"), "nan", " ", "None"],  # added but never filled: skipped
        ["maxpool", "2", "2.0", 0, 1, 6.0],
        ["conv", 3],  # short: padded with 1s
        ["avgpool", 2, 2, 0, 1, 1, "an extra cell"],  # extra cells are ignored
    ]
    assert layer_rows(table) == [
        LayerRow("conv", 5, 1, 0, 1, 6),
        LayerRow("maxpool", 2, 2, 0, 1, 1),  # a pool ignores out_channels
        LayerRow("conv", 3, 1, 1, 1, 1),
        LayerRow("avgpool", 2, 2, 0, 1, 1),
    ]
    assert len(LAYER_COLUMNS) == 6 and LAYER_COLUMNS[0] == "kind"
    assert layer_rows([]) == [] and layer_rows([[None] * 6, [], ["", None]]) == []


@pytest.mark.parametrize("bad", ["three", "", "inf", "3.7", 2.5])
def test_layer_rows_name_the_layer_with_text_in_a_number_cell(bad):
    table = [["conv", 3, 1, 1, 1, 8], [None] * 6, ["conv", bad, 1, 0, 1, 4]]
    with pytest.raises(ValueError, match="layer 3: kernel, stride, padding, dilation and "):
        layer_rows(table)


# -- the layer numbers learners see: table rows, blank rows counted -------------------------


def test_every_message_uses_the_table_row_number():
    blank = [None] * 6
    with pytest.raises(ValueError, match=r"^layer 3: kernel, stride"):
        layer_rows([["conv", 3, 1, 1, 1, 8], blank, ["conv", "x", 1, 0, 1, 4]])
    with pytest.raises(ValueError) as caught:
        layer_rows([["conv", 3, 1, 1, 1, 8], blank, ["softmax", 3, 1, 0, 1, 4]])
    assert str(caught.value) == (
        "layer 3: kind must be one of conv, maxpool, avgpool, flatten, gap, dense, dropout, "
        "batchnorm, got 'softmax'"
    )
    rows = layer_rows([["conv", 3, 1, 1, 1, 8], blank, ["conv", 3, 0, 0, 1, 4]])
    with pytest.raises(ValueError, match=r"^layer 3 \(conv\): stride must be between 1 and 255"):
        describe_stack((16, 16), 3, rows)
    rows = layer_rows([["conv", 3, 1, 0, 1, 8], blank, blank, ["conv", 5, 1, 0, 1, 4]])
    with pytest.raises(ValueError, match=r"^layer 4 \(conv 5x5\): the kernel \(5\) is larger"):
        describe_stack((6, 6), 3, rows)  # 6 -> 4, then 4 < 5
    rows = layer_rows([["conv", 3, 1, 1, 1, 8], blank, ["maxpool", 2, 2, 0, 1, 1]])
    result = describe_stack((16, 16), 3, rows)
    assert [layer.name for layer in result.layers] == [
        "layer 1 (conv 3x3)",
        "layer 3 (maxpool 2x2)",
    ]
    # Rows that do not come from a table are numbered 1, 2, ... as before.
    plain = describe_stack((16, 16), 3, [LayerRow("conv", 3), LayerRow("maxpool", 2, 2)])
    assert [layer.name for layer in plain.layers] == ["layer 1 (conv 3x3)", "layer 2 (maxpool 2x2)"]


def test_a_pool_window_too_large_gets_pooling_advice():
    rows = [LayerRow("conv", 3, out_channels=4), LayerRow("maxpool", 7, stride=7)]  # 8 -> 6 < 7
    with pytest.raises(ValueError) as caught:
        describe_stack((8, 8), 1, rows)
    assert str(caught.value) == (
        "layer 2 (maxpool 7x7): the pool window (7) is larger than the padded input "
        "(6 + 0 = 6): use a smaller pool window, or more padding (at most half the window)"
    )
    # Following the advice works: padding 1 on each side makes 6 + 2 = 8 >= 7.
    padded = describe_stack((8, 8), 1, [rows[0], LayerRow("maxpool", 7, stride=7, padding=1)])
    assert padded.layers[1].output == (1, 1, 4)


# -- limits: one sentence naming the number and the allowed range ----------------------------


@pytest.mark.parametrize(
    ("input_hw", "channels", "row", "message"),
    [
        ((8193, 64), 3, LayerRow("conv", 3), "input height must be between 1 and 8192, got 8193"),
        ((64, 10000), 3, LayerRow("conv", 3), "input width must be between 1 and 8192, got 10000"),
        (
            (64, 64),
            100000,
            LayerRow("conv", 3),
            "input channels must be between 1 and 4096, got 100000",
        ),
        (
            (64, 64),
            3,
            LayerRow("conv", 1000, padding=500, out_channels=8),
            "layer 1 (conv): kernel must be between 1 and 255, got 1000",
        ),
        (
            (64, 64),
            3,
            LayerRow("conv", 3, padding=256),
            "layer 1 (conv): padding must be between 0 and 255, got 256",
        ),
        (
            (64, 64),
            3,
            LayerRow("conv", 3, stride=256),
            "layer 1 (conv): stride must be between 1 and 255, got 256",
        ),
        (
            (64, 64),
            3,
            LayerRow("conv", 3, dilation=10**9),
            "layer 1 (conv): dilation must be between 1 and 255, got 1000000000",
        ),
        (
            (64, 64),
            3,
            LayerRow("conv", 3, out_channels=1_000_000),
            "layer 1 (conv): out_channels must be between 1 and 4096, got 1000000",
        ),
        (
            (64, 64),
            3,
            LayerRow("avgpool", 256, stride=2),
            "layer 1 (avgpool): kernel must be between 1 and 255, got 256",
        ),
    ],
)
def test_limits(input_hw, channels, row, message):
    with pytest.raises(ValueError) as caught:
        describe_stack(input_hw, channels, [row])
    assert str(caught.value) == message


def test_limit_constants_and_the_largest_legal_numbers():
    assert (MAX_INPUT_SIDE, MAX_CHANNELS, MAX_WINDOW, MAX_PADDING, MAX_STEP, MAX_LAYERS) == (
        8192,
        4096,
        255,
        255,
        255,
        64,
    )
    assert (MLX_MAX_ELEMENTS, MLX_MAX_OPERATIONS, MLX_MAX_WRITTEN) == (20e6, 500e6, 100e6)
    row = LayerRow("conv", 255, stride=255, padding=255, dilation=1, out_channels=4096)
    result = describe_stack((8192, 8192), 1, [row])  # every number at its limit: refused by
    assert result.layers[0].output == (34, 34, 4096)  # nothing, only MLX is skipped
    assert result.mlx_skipped is not None
    with pytest.raises(ValueError) as caught:
        describe_stack((64, 64), 3, [LayerRow("conv", 1)] * 65)
    assert str(caught.value) == "the stack has 65 layers; at most 64 are allowed"
    assert len(describe_stack((64, 64), 3, [LayerRow("conv", 1)] * 64).layers) == 64


# -- the MLX check's budget, worked out from the arithmetic before anything runs -------------


def skipped(input_hw, channels, rows) -> str:
    result = describe_stack(input_hw, channels, rows)
    assert result.mlx_outputs == [None] * len(rows) and result.disagreements == []
    return result.mlx_skipped


def test_a_stack_too_big_for_mlx_is_described_by_arithmetic_only():
    row = LayerRow("conv", 255, padding=127, out_channels=8)
    result = describe_stack((64, 64), 3, [row])
    assert result.layers[0].output == (64, 64, 8)  # (64 - 255 + 2*127) / 1 + 1
    macs = 64 * 64 * 8 * 255 * 255 * 3
    assert result.total_multiply_adds == macs == 6_392_217_600
    assert result.mlx_outputs == [None] and result.disagreements == []
    assert result.mlx_skipped == (
        "not checked with MLX: this stack needs 6.39 G multiply-adds, more than the 500 M this "
        "demo runs per request"
    )


def test_each_budget_has_its_sentence():
    # The input: 8192*8192*3 = 201,326,592 numbers.
    assert skipped((8192, 8192), 3, [LayerRow("conv", 3, padding=1, out_channels=8)]) == (
        "not checked with MLX: the 8192x8192x3 input holds 201 M numbers, more than the 20 M "
        "this demo allocates per array"
    )
    # Pooling reads count: 28 layers x 1000*1000*2 outputs x 3*3 window cells = 504 M.
    assert skipped((1000, 1000), 2, [LayerRow("avgpool", 3, padding=1)] * 28) == (
        "not checked with MLX: this stack needs 504 M multiply-adds and pooling window reads, "
        "more than the 500 M this demo runs per request"
    )
    # One array: 1x1 input padded by 255 on each side, 4096 channels: 511*511*4096.
    assert skipped((1, 1), 4096, [LayerRow("conv", 1, stride=255, padding=255)]) == (
        "not checked with MLX: layer 1 (conv 1x1) needs 1.07 G numbers for its padded input, "
        "more than the 20 M this demo allocates per array"
    )
    # im2col: 80*80 positions x 7*7*64 weights = 20,070,400 numbers.
    assert skipped((80, 80), 64, [LayerRow("conv", 7, padding=3)]) == (
        "not checked with MLX: layer 1 (conv 7x7) needs 20.1 M numbers for its input unfolded "
        "into windows (im2col), more than the 20 M this demo allocates per array"
    )
    # Everything written: 6 layers x (3162*3162 unfolded + 3162*3162 out) = 120 M.
    assert skipped((3162, 3162), 1, [LayerRow("conv", 1)] * 6) == (
        "not checked with MLX: this stack would write 120 M numbers (weights, unfolded inputs "
        "and outputs), more than the 100 M this demo allows per request"
    )


def test_the_budget_is_inclusive():
    def budget(input_hw, channels, rows):
        layers = describe_stack(input_hw, channels, rows, check_with_mlx=False).layers
        return mlx_budget(input_hw, channels, rows, layers)

    pool = [LayerRow("maxpool", 2, stride=2)]  # 20 M windows, 5 M out, 20 M reads
    assert budget((5000, 4000), 1, pool) is None  # exactly MLX_MAX_ELEMENTS numbers
    assert budget((5000, 4002), 1, pool).startswith("not checked with MLX: the 5000x4002x1 input")


def test_the_stack_that_crashed_mlx_now_answers_at_once():
    """Once a segfault (exit 139): MLX's check unfolded 12.7 G numbers. Now the kernel is
    refused by its limit, and a legal stack as heavy is described without running MLX."""
    script = (
        "from kernels_playground.shapes import describe_stack, layer_rows\n"
        "try:\n"
        "    describe_stack((64, 64), 3, layer_rows([['conv', 1000, 1, 500, 1, 8]]))\n"
        "except ValueError as error:\n"
        "    print(error)\n"
        "heavy = layer_rows([['conv', 255, 1, 127, 1, 8]])\n"
        "print(describe_stack((64, 64), 3, heavy).mlx_skipped)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "layer 1 (conv): kernel must be between 1 and 255, got 1000",
        "not checked with MLX: this stack needs 6.39 G multiply-adds, more than the 500 M this "
        "demo runs per request",
    ]


def test_table_rows_keep_every_count_sendable_as_json():
    # The largest legal conv: its multiply-adds pass 2**63 and once crashed the app's JSON.
    huge = describe_stack((8192, 8192), 4096, [LayerRow("conv", 255, out_channels=4096)])
    macs = 7938 * 7938 * 4096 * 255 * 255 * 4096
    assert huge.layers[0].multiply_adds == macs > 2**63
    with pytest.raises(TypeError, match="Integer exceeds 64-bit range"):
        orjson.dumps(macs)  # Gradio's encoder: why the table needs display cells
    rows = table_rows(huge)
    assert rows == [
        [
            "layer 1 (conv 255x255)",
            "7938x7938x4096",
            "not built",
            255 * 255 * 4096 * 4096 + 4096,  # 1.09e12: exact, an int
            "6.87e+19",
            "100.00%",  # its share of the parameters
            4 * (255 * 255 * 4096 * 4096 + 4096),  # float32 bytes
            "4.36 TB",
            255,
            "(8192 - 255 + 2*0) / 1 + 1 = 7938",
        ]
    ]
    assert len(rows[0]) == len(TABLE_COLUMNS)
    assert orjson.loads(orjson.dumps(rows)) == rows
    # 64 layers of stride 255: the receptive field reaches 1e+154, also shown as text.
    deep = describe_stack((8192, 8192), 3, [LayerRow("conv", 255, 255, 255, 1, 1)] * MAX_LAYERS)
    field = table_rows(deep)[-1][TABLE_COLUMNS.index("receptive field")]
    assert field == f"{deep.layers[-1].receptive_field:.3g}" == "1.04e+154"
    orjson.dumps(table_rows(deep))


def test_display_count_is_exact_below_2_to_the_53():
    assert display_count(2**53 - 1) == 9_007_199_254_740_991
    assert display_count(2**53) == "9.01e+15"
    assert display_count(0) == 0 and display_count(-(2**60)) == "-1.15e+18"
    assert display_count(10**400) == "1.00e+400"  # beyond any float: still no overflow
