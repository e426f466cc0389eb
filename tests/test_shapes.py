"""Layer shapes: hand-worked numbers, real MLX layers as the oracle, clear errors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels_playground.shapes import (
    LAYER_COLUMNS,
    LayerRow,
    build_mlx_stack,
    describe_stack,
    layer_rows,
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
        (LayerRow("conv", 3, stride=0), "layer 1 (conv): stride must be >= 1, got 0"),
        (LayerRow("dense", 3), "layer 1: kind must be one of conv, maxpool, avgpool, got 'dense'"),
        (LayerRow("maxpool", 2, dilation=2), "layer 1 (maxpool): pooling has no dilation, got 2"),
        (LayerRow("conv", 3, out_channels=0), "layer 1 (conv): out_channels must be >= 1, got 0"),
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
        LayerRow("maxpool", 2, 2, 0, 1, 6),
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
