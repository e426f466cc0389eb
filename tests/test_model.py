"""MennyCNN: shapes for both variants, parameter counts by formula, logits, the 2x2 pool."""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from menny_core.model import (
    BOX_BLOCK,
    CONTEXT_BLOCK,
    SIZE_HIDDEN,
    VARIANTS,
    ConvBlock,
    MennyCNN,
    max_pool_2x2,
    min_input_size,
    num_parameters,
    spread,
)


def _expected_parameters(variant: str, num_classes: int) -> int:
    """Count by hand: a 3x3 conv has 9*C_in*C_out weights + C_out biases, BatchNorm a
    scale and a shift per channel, the linear layer C*K weights + K biases."""
    widths, batch_norm = VARIANTS[variant]
    total, c_in = 0, 3
    for c_out in widths:
        total += 9 * c_in * c_out + c_out + (2 * c_out if batch_norm else 0)
        c_in = c_out
    return total + c_in * num_classes + num_classes


@pytest.mark.parametrize("variant", ["simple", "complex"])
@pytest.mark.parametrize("size", [32, 37, 64, 96])
def test_logits_shape_for_any_size_above_the_minimum(variant, size):
    model = MennyCNN(4, variant)
    model.eval()
    out = model(mx.random.normal((2, size, size + 3, 3)))
    assert out.shape == (2, 4)
    assert out.dtype == mx.float32


@pytest.mark.parametrize("variant", ["simple", "complex"])
def test_parameter_count_matches_the_formula_and_stays_small(variant):
    model = MennyCNN(4, variant)
    assert num_parameters(model) == _expected_parameters(variant, 4)
    assert num_parameters(model) < 1_000_000


def test_the_minimum_size_is_one_pixel_after_the_last_pool():
    assert min_input_size("simple") == 8
    assert min_input_size("complex") == 32
    model = MennyCNN(3, "simple")
    model.eval()
    assert model(mx.zeros((1, 8, 8, 3))).shape == (1, 3)
    with pytest.raises(ValueError, match="at least 8x8 pixels, got 7x9"):
        model(mx.zeros((1, 7, 9, 3)))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        model(mx.zeros((1, 3, 32, 32)))  # channels-first by mistake


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="variant must be one of simple, complex"):
        MennyCNN(4, "huge")
    with pytest.raises(ValueError, match="num_classes must be >= 2, got 1"):
        MennyCNN(1)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        MennyCNN(4, dropout=1.0)


def test_output_is_logits_not_probabilities():
    """With a zero classifier weight the output IS the bias: a softmax inside would turn
    (5, -3, 0) into probabilities summing to 1."""
    model = MennyCNN(3, "simple")
    model.eval()
    model.classifier.weight = mx.zeros_like(model.classifier.weight)
    model.classifier.bias = mx.array([5.0, -3.0, 0.0])
    out = np.array(model(mx.random.normal((2, 32, 32, 3))))
    np.testing.assert_allclose(out, [[5.0, -3.0, 0.0]] * 2)


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 9, 7, 5)])
def test_reshape_max_pool_equals_mlx_maxpool2d_forward_and_backward(shape):
    x = mx.random.normal(shape)
    reference = nn.MaxPool2d(kernel_size=2, stride=2)
    np.testing.assert_array_equal(np.array(max_pool_2x2(x)), np.array(reference(x)))
    weights = mx.random.normal(max_pool_2x2(x).shape)
    ours = mx.grad(lambda v: (max_pool_2x2(v) * weights).sum())(x)
    theirs = mx.grad(lambda v: (reference(v) * weights).sum())(x)
    np.testing.assert_allclose(np.array(ours), np.array(theirs))


@pytest.mark.parametrize("variant", ["simple", "complex"])
def test_feature_maps_lead_to_the_logits(variant):
    model = MennyCNN(4, variant)
    model.eval()
    x = mx.random.normal((1, 64, 64, 3))
    maps = model.feature_maps(x)
    blocks = len(VARIANTS[variant][0])
    stages = 4 if VARIANTS[variant][1] else 3
    assert len(maps) == blocks * stages
    assert maps[0][0] == "block 1 conv" and maps[-1][0] == f"block {blocks} pool"
    assert maps[0][1].shape == (1, 64, 64, 16)
    assert maps[-1][1].shape == (1, 64 >> blocks, 64 >> blocks, VARIANTS[variant][0][-1])
    assert [name for name, _ in model.conv_layers()] == [
        f"block {i} conv" for i in range(1, blocks + 1)
    ]
    # Global average pooling of the last map, then the linear layer, is the model's output.
    pooled = maps[-1][1].mean(axis=(1, 2))
    np.testing.assert_allclose(
        np.array(model.classifier(pooled)), np.array(model(x)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("batch_norm", [False, True])
def test_block_pools_before_relu_with_the_textbook_result(batch_norm):
    """The block computes relu(pool(x)) for speed; it must equal pool(relu(x)), forward
    and backward."""
    block = ConvBlock(3, 8, batch_norm)
    block.eval()
    x = mx.random.normal((2, 10, 10, 3))

    def textbook(v):
        return block.stages(v)[-1][1]

    np.testing.assert_array_equal(np.array(block(x)), np.array(textbook(x)))
    weights = mx.random.normal((2, 5, 5, 8))
    ours = mx.grad(lambda v: (block(v) * weights).sum())(x)
    theirs = mx.grad(lambda v: (textbook(v) * weights).sum())(x)
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, atol=1e-6)


def test_brightness_and_colour_cast_do_not_change_the_logits():
    """standardize() removes a per-channel gain and offset (exposure, white balance)."""
    model = MennyCNN(4, "complex")
    model.eval()
    x = mx.random.normal((2, 32, 32, 3))
    cast = x * mx.array([1.7, 0.6, 1.2]) + mx.array([0.3, -0.5, 0.1])
    np.testing.assert_allclose(np.array(model(cast)), np.array(model(x)), rtol=1e-3, atol=1e-3)


# -- the detector's heads ----------------------------------------------------------


@pytest.mark.parametrize("variant", ["simple", "complex"])
def test_detector_heads_add_a_face_score_and_a_box(variant):
    model = MennyCNN(5, variant, detector=True)
    model.eval()
    x = mx.array(np.random.default_rng(0).normal(size=(3, 64, 64, 3)).astype(np.float32))
    logits, face, box = model.detect(x)
    assert (logits.shape, face.shape, box.shape) == ((3, 5), (3,), (3, 4))
    np.testing.assert_allclose(np.array(model(x)), np.array(logits), rtol=1e-6)
    assert np.all((np.array(box) > 0) & (np.array(box) < 1))
    widths = VARIANTS[variant][0]
    face = 2 * widths[-1] + 1  # reads the attended and the mean features
    context = min(CONTEXT_BLOCK, len(widths))
    heat = 9 * widths[BOX_BLOCK - 1] + 1 + widths[context - 1] + 1  # fine + coarse scores
    size = (2 * widths[-1] + 1) * SIZE_HIDDEN + (SIZE_HIDDEN + 1) * 2  # a hidden layer
    extra = face + heat + size
    assert num_parameters(model) == _expected_parameters(variant, 5) + extra
    with pytest.raises(ValueError, match="without detector heads"):
        MennyCNN(5, variant).detect(x)


def test_the_box_centre_is_a_soft_argmax_over_the_middle_map():
    model = MennyCNN(3, "simple", detector=True)
    model.eval()
    x = mx.zeros((1, 64, 64, 3))
    for conv in (model.box_heat, model.box_context):
        conv.weight = mx.zeros_like(conv.weight)
    assert np.array(model.detect(x)[2])[0, :2] == pytest.approx([0.5, 0.5])  # uniform
    _, h, w, _ = model.body(x)[BOX_BLOCK - 1].shape
    peak = np.zeros((1, h, w), np.float32)
    row, col = (3 * h) // 4, w // 8
    peak[0, row, col] = 50.0  # all the weight on one cell
    object.__setattr__(model, "heat", lambda _maps: mx.array(peak))
    expected = [(col + 0.5) / w, (row + 0.5) / h]
    assert np.array(model.detect(x)[2])[0, :2] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("fine", [16, 18])  # 18: fine cells not in whole blocks of 4
def test_spread_copies_each_coarse_value_onto_the_fine_cells_it_covers(fine):
    coarse = np.arange(2 * 16, dtype=np.float32).reshape(2, 4, 4)
    cover = np.arange(fine) * 4 // fine  # the coarse cell each fine cell lies in
    expected = coarse[:, cover][:, :, cover]
    np.testing.assert_array_equal(np.array(spread(mx.array(coarse), fine, fine)), expected)


@pytest.mark.parametrize("side", [64, 72])
def test_the_centre_heat_is_the_fine_score_plus_the_coarse_score_spread(side):
    """The oracle runs the layers as MLX's own convolutions (heat computes the 1x1 one as
    a matrix product)."""
    model = MennyCNN(3, "complex", detector=True)
    model.eval()
    x = mx.array(np.random.default_rng(5).normal(size=(2, side, side, 3)).astype(np.float32))
    maps = model.body(x)
    fine = model.box_heat(maps[BOX_BLOCK - 1])[..., 0]
    coarse = model.box_context(maps[CONTEXT_BLOCK - 1])[..., 0]
    expected = fine + spread(coarse, fine.shape[1], fine.shape[2])
    np.testing.assert_allclose(np.array(model.heat(maps)), np.array(expected), atol=1e-5)


def test_the_detectors_class_head_looks_where_its_box_head_looks():
    """Attention pooling: with all the box weight on one cell of the middle map, the class
    head reads the 2x2 cell of the last map that covers it, not the mean of all four."""
    from menny_core.insight import look

    model = MennyCNN(3, "complex", detector=True)
    model.eval()
    x = mx.array(np.random.default_rng(1).normal(size=(1, 64, 64, 3)).astype(np.float32))
    np.testing.assert_allclose(np.array(look(model, x)[0]), np.array(model(x)), rtol=1e-5)
    maps = model.body(x)
    _, h, w, _ = maps[BOX_BLOCK - 1].shape
    last = maps[-1]
    peak = np.full((1, h, w), -50.0, np.float32)
    peak[0, (3 * h) // 4, w // 8] = 50.0  # a cell in the bottom-left quarter: 2x2 cell (1, 0)
    object.__setattr__(model, "heat", lambda _maps: mx.array(peak))
    expected = model.classifier(last[:, 1, 0, :])
    np.testing.assert_allclose(np.array(model(x)), np.array(expected), rtol=1e-4, atol=1e-5)
