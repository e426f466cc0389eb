"""MLP vs CNN in the Shapes engine: dense, flatten, gap, dropout and batchnorm rows, counted
by hand and against real MLX modules; the presets' seed numbers; the order rules' sentences."""

import itertools
import re

import mlx.core as mx
import mlx.nn as nn
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlx.utils import tree_flatten

from kernels_playground.lessons import TABLE_COLUMNS, shapes_lesson, stack_summary, table_rows
from kernels_playground.shapes import LayerRow, build_mlx_stack, describe_stack, layer_rows
from kernels_playground.shapes_lessons import memory_text, share_text
from kernels_playground.stack_presets import (
    COMPLEX_FACE_DETECTOR,
    MNIST_MLP,
    PRESETS,
    SIMPLE_FACE_DETECTOR,
    SMALL_CNN,
    menny_preset,
)


def mlx_count(module: nn.Module) -> int:
    """Trainable numbers as MLX counts them: the oracle for every count below."""
    return sum(int(v.size) for _, v in tree_flatten(module.trainable_parameters()))


def stack_of(preset):
    return describe_stack(preset.input_hw, preset.channels, layer_rows(preset.rows))


def cells(stack, column):
    index = TABLE_COLUMNS.index(column)
    return [row[index] for row in table_rows(stack)]


# -- the seed numbers ----------------------------------------------------------------------


def test_mnist_mlp_has_478410_parameters():
    stack = stack_of(MNIST_MLP)
    assert [layer.output for layer in stack.layers] == [(784,), (400,), (400,), (10,)]
    assert [layer.parameters for layer in stack.layers] == [0, 314_000, 160_400, 4_010]
    assert stack.total_parameters == 478_410 == 784 * 400 + 400 + 400 * 400 + 400 + 400 * 10 + 10
    mlp = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 400), nn.ReLU(),
                        nn.Linear(400, 10))  # fmt: skip
    assert mlx_count(mlp) == 478_410
    assert stack.mlx_skipped is None and stack.disagreements == []
    assert stack.mlx_parameters == [0, 314_000, 160_400, 4_010]
    assert cells(stack, "share of parameters") == ["0%", "65.63%", "33.53%", "0.84%"]
    assert stack.total_parameter_bytes == 4 * 478_410 == 1_913_640
    assert "**478,410** parameters (1,913,640 bytes in float32: **1.91 MB**)" in (
        stack_summary(stack)
    )


def test_the_small_cnn_is_a_fraction_of_the_mlp():
    stack = stack_of(SMALL_CNN)
    assert [layer.output for layer in stack.layers] == [
        (26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (1600,), (1600,), (10,)
    ]  # fmt: skip
    assert stack.total_parameters == 34_826 == 320 + 18_496 + 16_010
    assert stack.disagreements == [] and stack.mlx_skipped is None
    assert round(100 * 34_826 / 478_410) == 7  # what the description says
    assert "**34,826**" in SMALL_CNN.description and "7%" in SMALL_CNN.description


def test_complex_face_detector_has_268531268_parameters_by_arithmetic_only():
    stack = stack_of(COMPLEX_FACE_DETECTOR)
    total = 268_531_268
    assert stack.total_parameters == total
    big = stack.layers[8]
    assert big.name == "layer 9 (dense 512)" and big.parameters == 128 * 64 * 64 * 512 + 512
    assert stack.layers[7].output == (524_288,)
    assert stack.share(big) == pytest.approx(0.99964, abs=1e-5)
    assert cells(stack, "share of parameters")[8] == "99.96%"
    assert cells(stack, "memory")[8] == "1.07 GB"
    assert stack.total_parameter_bytes == 1_074_125_072  # about 1.07 GB
    assert memory_text(stack.total_parameter_bytes) == "1.07 GB"
    # Too big to build: the table says so and why, and nothing was allocated.
    assert stack.mlx_outputs == [None] * 11 and stack.mlx_parameters == []
    assert cells(stack, "MLX output") == ["not built"] * 11
    summary = stack_summary(stack)
    assert summary.startswith("Shapes from arithmetic only. Not checked with MLX: this stack ")
    assert "so the MLX model was not built" in summary
    assert "Layer 9 (dense 512) holds 99.96% of the parameters" in summary
    for number in ("268,531,268", "1.07 GB", "99.96%", "268,435,968", "2,052"):
        assert number in COMPLEX_FACE_DETECTOR.description


def test_complex_face_detector_counted_by_mlx_layer_by_layer():
    """The 268 M stack's layers, counted by real MLX modules one at a time (the big dense
    layer's count from its shape: building it would allocate 1.07 GB)."""
    convs = [nn.Conv2d(3, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1),
             nn.Conv2d(64, 128, 3, padding=1)]  # fmt: skip
    small = sum(mlx_count(conv) for conv in convs) + mlx_count(nn.Linear(512, 4))
    big = (128 * 64 * 64) * 512 + 512  # nn.Linear(524288, 512): weight (512, 524288) + bias
    assert small + big == 268_531_268
    assert [layer.parameters for layer in stack_of(COMPLEX_FACE_DETECTOR).layers if
            layer.parameters] == [mlx_count(c) for c in convs] + [big, 2_052]  # fmt: skip


def test_simple_face_detector():
    stack = stack_of(SIMPLE_FACE_DETECTOR)
    assert stack.total_parameters == 67_114_596 == 448 + 4_640 + 524_288 * 128 + 128 + 516
    assert cells(stack, "share of parameters")[5] == "99.99%"
    assert stack.mlx_skipped == (
        "not checked with MLX: layer 6 (dense 128) needs 67.1 M numbers for its weights, "
        "more than the 20 M this demo allocates per array"
    )
    assert "**67,114,596**" in SIMPLE_FACE_DETECTOR.description


def test_every_preset_description_quotes_its_total():
    for preset in PRESETS.values():
        stack = stack_of(preset)
        assert f"**{stack.total_parameters:,}**" in preset.description, preset.name
        assert preset.input_hw[0] >= 1 and len(preset.rows) == len(stack.layers)


def test_menny_preset_matches_a_menny_shaped_mlx_model():
    """A Menny-like model assembled from MLX modules (blocks of conv-BN-pool, gap,
    dropout, linear) has exactly the preset's count."""
    preset = menny_preset((16, 32, 64, 128, 128), True, ["a", "b", "c", "d", "e"], 64)
    stack = stack_of(preset)
    widths = (3, 16, 32, 64, 128, 128)
    model = [m for c_in, c_out in itertools.pairwise(widths) for m in
             (nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm(c_out))]  # fmt: skip
    assert stack.total_parameters == sum(map(mlx_count, model)) + mlx_count(nn.Linear(128, 5))
    assert stack.total_parameters == 246_405 and stack.disagreements == []
    assert stack.layers[-1].output == (5,) and stack.layers[-3].output == (128,)
    simple = stack_of(menny_preset((16, 32, 64), False, ["a", "b"], 64))
    assert [layer.kind for layer in simple.layers][:3] == ["conv", "maxpool", "conv"]


# -- random small stacks against a real nn.Sequential ---------------------------------------

spatial_row = st.one_of(
    st.builds(LayerRow, kind=st.just("conv"), kernel=st.integers(1, 3),
              stride=st.integers(1, 2), padding=st.integers(0, 1),
              out_channels=st.integers(1, 6)),
    st.builds(LayerRow, kind=st.sampled_from(["maxpool", "avgpool"]), kernel=st.just(2),
              stride=st.integers(1, 2)),
    st.builds(LayerRow, kind=st.sampled_from(["batchnorm", "dropout"])),
)  # fmt: skip
flat_row = st.one_of(
    st.builds(LayerRow, kind=st.just("dense"), out_channels=st.integers(1, 12)),
    st.builds(LayerRow, kind=st.sampled_from(["batchnorm", "dropout"])),
)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(6, 20),
    channels=st.integers(1, 3),
    head=st.lists(spatial_row, max_size=4),
    bridge=st.sampled_from(["flatten", "gap"]),
    tail=st.lists(flat_row, min_size=1, max_size=3),
)
def test_random_stacks_count_what_mlx_counts(size, channels, head, bridge, tail):
    rows = [*head, LayerRow(bridge), *tail]
    try:
        stack = describe_stack((size, size + 1), channels, rows)
    except ValueError as error:
        assert re.match(r"layer \d+ \((conv|maxpool|avgpool) ", str(error))  # too small
        return
    model = nn.Sequential(*build_mlx_stack(channels, rows, (size, size + 1)))
    out = model(mx.zeros((2, size, size + 1, channels)))
    assert tuple(out.shape[1:]) == stack.layers[-1].output
    assert mlx_count(model) == stack.total_parameters
    assert stack.mlx_parameters == [layer.parameters for layer in stack.layers]
    assert stack.disagreements == [] and stack.mlx_outputs == [x.output for x in stack.layers]


def test_a_dense_layer_straight_on_the_input():
    stack = describe_stack((1, 1), 5, [LayerRow("flatten"), LayerRow("dense", out_channels=3)])
    assert stack.total_parameters == 5 * 3 + 3 == mlx_count(nn.Linear(5, 3))
    assert describe_stack((4, 4), 2, [LayerRow("gap"), LayerRow("flatten")]).layers[1].output == (
        2,
    )  # flattening a vector changes nothing


def test_build_mlx_stack_needs_the_input_size_after_a_flatten():
    with pytest.raises(ValueError, match=r"needs the input's \(H, W\)"):
        build_mlx_stack(1, [LayerRow("flatten"), LayerRow("dense", out_channels=2)])


# -- bad input: one sentence naming the layer ----------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            [["conv", 3, 1, 1, 1, 8], ["dense", None, None, None, None, 10]],
            "layer 2 (dense 10): a dense layer reads a flat vector, but layer 1 (conv 3x3) "
            "gives a 28x28x8 map: add a flatten (or gap) row before it",
        ),
        (
            [["dense", None, None, None, None, 10]],
            "layer 1 (dense 10): a dense layer reads a flat vector, but the 28x28x1 input gives "
            "a 28x28x1 map: add a flatten (or gap) row before it",
        ),
        (
            [["flatten"], ["conv", 3, 1, 0, 1, 4]],
            "layer 2 (conv 3x3): a kernel slides over an HxWxC map, but layer 1 (flatten) "
            "gives a flat vector of 784 numbers: put conv, pool and gap layers before any "
            "flatten or dense layer",
        ),
        (
            [["flatten"], ["dense", 0, 0, 0, 0, 5], ["maxpool", 2, 2, 0, 1]],
            "layer 3 (maxpool 2x2): a pooling window slides over an HxWxC map, but layer 2 "
            "(dense 5) gives a flat vector of 5 numbers: put conv, pool and gap layers before any "
            "flatten or dense layer",
        ),
        (
            [["gap"], ["gap"]],
            "layer 2 (gap): a global average pool averages an HxWxC map, but layer 1 (gap) gives "
            "a flat vector of 1 number: put conv, pool and gap layers before any flatten or "
            "dense layer",
        ),
        (
            [["flatten"], ["dense", 1, 1, 1, 1, -5]],
            "layer 2 (dense): units (the out_channels column) must be between 1 and 65536, got -5",
        ),
        (
            [["flatten"], ["dense", 1, 1, 1, 1, 10**6]],
            "layer 2 (dense): units (the out_channels column) must be between 1 and 65536, "
            "got 1000000",
        ),
        (
            [["flatten"], ["dense", 1, 1, 1, 1, "ten"]],
            "layer 2 (dense): its units (the out_channels column) must be a whole number, "
            "got 'ten'",
        ),
        (
            [["flatten"], ["dense", None, None, None, None, None]],
            "layer 2 (dense): its units (the out_channels column) must be a whole number, got None",
        ),
        (
            [["softmax", 1, 1, 1, 1, 10]],
            "layer 1: kind must be one of conv, maxpool, avgpool, flatten, gap, dense, dropout, "
            "batchnorm, got 'softmax'",
        ),
        (
            [["maxpool", "two", 2, 0, 1, None]],
            "layer 1: kernel, stride, padding and dilation must be whole numbers, got "
            "['two', 2, 0, 1]",
        ),
    ],
)
def test_bad_input_gets_one_sentence(table, message):
    with pytest.raises(ValueError) as caught:
        describe_stack((28, 28), 1, layer_rows(table))
    assert str(caught.value) == message


def test_ignored_cells_may_hold_anything():
    rows = layer_rows([
        ["Flatten", "", None, float("nan"), "x", "y"],
        ["Linear", "3.5", "abc", None, None, "400"],  # only out_channels is read
        ["dropout"], ["BN"], ["fc", None, None, None, None, 10.0],
    ])  # fmt: skip
    assert [(row.kind, row.out_channels) for row in rows] == [
        ("flatten", 1), ("dense", 400), ("dropout", 1), ("batchnorm", 1), ("dense", 10)
    ]  # fmt: skip
    assert describe_stack((28, 28), 1, rows).total_parameters == 314_000 + 2 * 400 + 4_010


# -- the Learn text quotes the table ---------------------------------------------------------


def test_the_lesson_explains_weight_sharing_with_the_tables_numbers():
    mlp = shapes_lesson(stack_of(MNIST_MLP), (28, 28), 1)
    assert "Layer 2 (dense 400) connects each of its 784 inputs to each of its 400 units: " \
        "`784*400 = 313,600` weights plus 400 biases" in mlp  # fmt: skip
    assert "A 3x3 conv with 32 filters on the same 28x28x1 input has `3*3*1*32 + 32 = 320` " \
        "parameters, wherever it looks" in mlp  # fmt: skip
    cnn = shapes_lesson(stack_of(SMALL_CNN), (28, 28), 1)
    assert "**Weight sharing.** Layer 1 (conv 3x3) has 320 parameters wherever it looks" in cnn
    assert "676 output positions" in cnn  # 26*26
    assert f"`784*21,632 + 21,632 = {784 * 21632 + 21632:,}`" in cnn  # the dense equivalent
    assert "**Locality.** Each unit of layer 1 (conv 3x3) reads only a 3x3 patch" in cnn
    assert "by layer 4 (maxpool 2x2) the patch has grown to 10x10" in cnn
    assert "**Translation equivariance.**" in cnn and "a shift of 4 pixel(s)" in cnn
    assert "flattens to 4x the inputs" in cnn
    menny = shapes_lesson(stack_of(menny_preset((16, 32), True, ["a", "b"], 64)), (64, 64), 3)
    assert "The gap before it averages each channel away" in menny


def test_share_and_memory_texts():
    assert share_text(0) == "0%" and share_text(1) == "100.00%"
    assert share_text(0.99964) == "99.96%" and share_text(0.00004) == "<0.01%"
    assert memory_text(0) == "0 B" and memory_text(999) == "999 B"
    assert memory_text(1_280) == "1.28 kB" and memory_text(1_074_125_072) == "1.07 GB"
    assert memory_text(4 * 10**12) == "4 TB" and memory_text(16_040) == "16 kB"


def test_the_largest_dense_layer_stays_sendable_and_unbuilt():
    rows = [LayerRow("flatten"), LayerRow("dense", out_channels=65536)]
    stack = describe_stack((8192, 8192), 4096, rows)
    inputs = 8192 * 8192 * 4096
    assert stack.total_parameters == inputs * 65536 + 65536 > 2**53
    assert stack.mlx_skipped.startswith("not checked with MLX: the 8192x8192x4096 input holds")
    cells = table_rows(stack)
    assert orjson.loads(orjson.dumps(cells)) == cells  # big counts as text, never an overflow
    assert cells[1][TABLE_COLUMNS.index("parameters")] == "1.80e+16"
    assert cells[1][TABLE_COLUMNS.index("memory")] == "72.1 PB"
    assert "**18,014,398,509,547,520** parameters" in stack_summary(stack)
    assert "`274,877,906,944*65,536 = " in shapes_lesson(stack, (8192, 8192), 4096)
