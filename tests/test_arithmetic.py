"""Conv arithmetic: the course's numbers, formula text, bad input; real MLX layers as oracle."""

import itertools

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels_playground.arithmetic import (
    LayerSpec,
    conv_output_formula,
    conv_output_size,
    pool_output_formula,
    pool_output_size,
    receptive_field,
    resolve_padding,
    same_padding,
    transposed_conv_output_formula,
    transposed_conv_output_size,
)
from menny_base.numbers import whole

# -- the seed chapter's worked numbers --------------------------------------


def test_chapter_256_with_3x3_and_no_padding_gives_254():
    assert conv_output_size(256, 3, stride=1, padding=0) == 254


def test_chapter_256_with_3x3_and_padding_1_gives_256():
    assert conv_output_size(256, 3, stride=1, padding=1) == 256


def test_chapter_2x2_max_pool_halves_256_to_128():
    assert pool_output_size(256, 2) == 128


def test_formula_shows_the_users_numbers():
    assert conv_output_formula(256, 3, stride=1, padding=1) == "(256 - 3 + 2*1) / 1 + 1 = 256"
    assert conv_output_formula(7, 3, stride=2, padding=0) == "(7 - 3 + 2*0) / 2 + 1 = 3"


def test_formula_shows_floor_when_the_stride_does_not_divide():
    expected = "floor((8 - 3 + 2*0) / 2) + 1 = floor(5 / 2) + 1 = 3"
    assert conv_output_formula(8, 3, stride=2) == expected


def test_formula_shows_effective_kernel_with_dilation():
    text = conv_output_formula(32, 3, dilation=2)
    assert text.startswith("K_eff = 2*(3 - 1) + 1 = 5; ")
    assert text.endswith("= 28")


def test_pool_and_transposed_formulas_end_in_their_sizes():
    assert pool_output_formula(256, 2) == "(256 - 2 + 2*0) / 2 + 1 = 128"
    assert pool_output_formula(5, 2, ceil_mode=True).startswith("ceil(")
    assert pool_output_formula(5, 2, ceil_mode=True).endswith("= 3")
    assert transposed_conv_output_formula(4, 3, stride=2, padding=1, output_padding=1) == (
        "(4 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 8"
    )


# -- padding modes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kernel", "dilation", "expected"),
    [
        (1, 1, (0, 0)),
        (3, 1, (1, 1)),
        (4, 1, (1, 2)),
        (5, 1, (2, 2)),
        (3, 2, (2, 2)),
        (2, 3, (1, 2)),
    ],
)
def test_same_padding_puts_the_odd_pixel_after(kernel, dilation, expected):
    assert same_padding(kernel, dilation) == expected


@pytest.mark.parametrize("size", [1, 2, 7, 64, 255])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_same_keeps_the_size_and_full_adds_the_kernel(size, kernel, dilation):
    assert conv_output_size(size, kernel, padding="same", dilation=dilation) == size
    span = dilation * (kernel - 1) + 1
    assert conv_output_size(size, kernel, padding="full", dilation=dilation) == size + span - 1


def test_same_with_stride_gives_ceil_of_size_over_stride():
    for size, stride in itertools.product(range(1, 40), range(1, 5)):
        assert conv_output_size(size, 3, stride=stride, padding="same") == -(-size // stride)


def test_padding_spellings():
    assert resolve_padding(2, 3) == (2, 2)
    assert resolve_padding((0, 1), 3) == (0, 1)
    assert resolve_padding("VALID", 3) == (0, 0)
    assert resolve_padding(3.0, 3) == (3, 3)  # a whole float from a UI number box


# -- ceil mode follows PyTorch's rule ----------------------------------------


@pytest.mark.parametrize(
    ("size", "window", "stride", "padding", "expected"),
    [
        (5, 2, 2, 0, 3),  # a partial last window is kept
        (6, 3, 2, 1, 4),
        (5, 2, 3, 1, 2),  # a last window starting in the right padding is dropped
        (4, 2, 2, 0, 2),  # divisible: same as floor
    ],
)
def test_ceil_mode(size, window, stride, padding, expected):
    assert pool_output_size(size, window, stride, padding, ceil_mode=True) == expected


# -- bad input: one sentence naming the parameter ----------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: conv_output_size(256, 3, stride=0), "stride must be >= 1, got 0"),
        (lambda: conv_output_size(256, 3, padding=-1), "padding must be >= 0, got -1"),
        (lambda: conv_output_size(256, 3, dilation=0), "dilation must be >= 1, got 0"),
        (lambda: conv_output_size(0, 3), "input size must be >= 1, got 0"),
        (lambda: conv_output_size(4, 5), "kernel (5) is larger than the padded input (4 + 0 = 4)"),
        (lambda: conv_output_size(4, 3, dilation=2), "dilated kernel (2*(3 - 1) + 1 = 5)"),
        (lambda: conv_output_size(8, 3, stride=1.5), "stride must be a whole number"),
        (lambda: conv_output_size(8, 3, padding="wide"), "padding mode must be one of"),
        (lambda: conv_output_size(8, 3, padding=(1, 2, 3)), "(before, after) pair"),
        (lambda: pool_output_size(3, 4), "pool window (4) is larger than the padded input"),
        (lambda: pool_output_size(8, 2, padding=2), "at most half the window"),
        (lambda: transposed_conv_output_size(4, 3, stride=2, output_padding=2), "output padding"),
        (lambda: transposed_conv_output_size(4, 3, padding=3), "at most D*(K - 1) = 2"),
        (lambda: transposed_conv_output_size(1, 2, padding=1), "crops away the whole output"),
        (lambda: receptive_field([(3, 0)]), "layer 1 stride must be >= 1, got 0"),
    ],
)
def test_impossible_combinations_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=None) as raised:
        call()
    assert message in str(raised.value)


def test_a_window_too_large_gets_advice_for_what_it_is():
    with pytest.raises(ValueError) as conv:
        conv_output_size(4, 5)
    assert str(conv.value) == (
        "the kernel (5) is larger than the padded input (4 + 0 = 4): use a smaller kernel or "
        "dilation, or more padding"
    )
    with pytest.raises(ValueError) as pooled:
        pool_output_size(6, 7)
    # Pooling has no dilation; padding helps, up to half the window: (6 + 2*3 - 7) // 7 + 1.
    assert str(pooled.value) == (
        "the pool window (7) is larger than the padded input (6 + 0 = 6): use a smaller pool "
        "window, or more padding (at most half the window)"
    )
    assert pool_output_size(6, 7, padding=3) == 1


def test_whole_with_a_range_names_it():
    assert whole(255, "kernel", 1, 255) == 255
    with pytest.raises(ValueError) as high:
        whole(256, "kernel", 1, 255)
    assert str(high.value) == "kernel must be between 1 and 255, got 256"
    with pytest.raises(ValueError) as low:
        whole(0, "kernel", 1, 255)
    assert str(low.value) == "kernel must be between 1 and 255, got 0"
    with pytest.raises(ValueError) as fraction:
        whole(2.5, "kernel", 1, 255)
    assert str(fraction.value) == "kernel must be a whole number between 1 and 255, got 2.5"
    with pytest.raises(ValueError, match=r"^kernel must be >= 1, got 0$"):
        whole(0, "kernel", 1)  # no maximum: as before


@pytest.mark.parametrize("value", ["3", None, True, [3]])
def test_non_numbers_are_type_errors(value):
    with pytest.raises(TypeError, match="kernel must be a whole number"):
        conv_output_size(8, value)


# -- real MLX layers agree (the oracle) --------------------------------------


def _mlx_conv_size(size, kernel, stride, padding, dilation):
    layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    return layer(mx.zeros((1, size, size, 1))).shape[1]


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 4),
    dilation=st.integers(1, 3),
)
def test_conv_size_matches_mlx_conv2d(size, kernel, stride, padding, dilation):
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding:
        with pytest.raises(ValueError):
            conv_output_size(size, kernel, stride, padding, dilation)
        return
    expected = _mlx_conv_size(size, kernel, stride, padding, dilation)
    assert conv_output_size(size, kernel, stride, padding, dilation) == expected


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 30),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 3),
    before=st.integers(0, 3),
    after=st.integers(0, 3),
)
def test_asymmetric_padding_matches_mlx_conv_general(size, kernel, stride, before, after):
    if kernel > size + before + after:
        return
    out = mx.conv_general(
        mx.zeros((1, size, 1)),
        mx.zeros((1, kernel, 1)),
        stride=stride,
        padding=([before], [after]),
    )
    assert conv_output_size(size, kernel, stride, (before, after)) == out.shape[1]


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 40),
    window=st.integers(1, 5),
    stride=st.integers(1, 4),
    padding=st.integers(0, 2),
    kind=st.sampled_from([nn.MaxPool2d, nn.AvgPool2d]),
)
def test_pool_size_matches_mlx_pooling(size, window, stride, padding, kind):
    if padding > window // 2 or window > size + 2 * padding:
        with pytest.raises(ValueError):
            pool_output_size(size, window, stride, padding)
        return
    out = kind(window, stride=stride, padding=padding)(mx.zeros((1, size, size, 1)))
    assert pool_output_size(size, window, stride, padding) == out.shape[1]


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 20),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    output_padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
)
def test_transposed_size_matches_mlx_conv_transpose2d(
    size, kernel, stride, padding, output_padding, dilation
):
    expected = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    too_much_padding = padding > dilation * (kernel - 1) or expected < 1
    if output_padding >= max(stride, dilation) or too_much_padding:
        with pytest.raises(ValueError):
            transposed_conv_output_size(size, kernel, stride, padding, output_padding, dilation)
        return
    layer = nn.ConvTranspose2d(
        1,
        1,
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
    )
    out = layer(mx.zeros((1, size, size, 1)))
    got = transposed_conv_output_size(size, kernel, stride, padding, output_padding, dilation)
    assert got == out.shape[1]


def test_transposed_conv_undoes_the_conv_size():
    for size, kernel, stride, padding in itertools.product(range(5, 20), (1, 3, 5), (1, 2), (0, 1)):
        if padding > kernel - 1:
            continue
        small = conv_output_size(size, kernel, stride, padding)
        back = transposed_conv_output_size(small, kernel, stride, padding)
        assert 0 <= size - back < stride


# -- receptive field: the recurrence, checked by MLX gradients ---------------


def test_receptive_field_of_the_classic_stacks():
    assert [f.size for f in receptive_field([(3, 1)] * 3)] == [3, 5, 7]
    fields = receptive_field([(3, 1), (2, 2), (3, 1)])
    assert [(f.size, f.jump) for f in fields] == [(3, 1), (4, 2), (8, 2)]
    assert fields[2].formula == "r = 4 + (3 - 1)*2 = 8"


def _measured_field(layers: list[LayerSpec], size: int = 64) -> tuple[int, float]:
    """Width and centre of the input region that changes output unit (0, 0): a gradient."""

    def first_unit(x):
        for layer in layers:
            if layer.name == "pool":
                x = nn.AvgPool2d(layer.kernel, layer.stride, layer.padding)(x)
            else:
                weight = mx.ones((1, layer.kernel, layer.kernel, 1))
                x = mx.conv2d(x, weight, layer.stride, layer.padding, layer.dilation)
        return x[0, 0, 0, 0]

    grad = mx.grad(first_unit)(mx.ones((1, size, size, 1)))
    touched = np.nonzero(np.array(grad)[0, 0, :, 0])[0]
    return int(touched.max()) + 1, float(touched.max()) + 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["conv", "pool"]),
            st.integers(1, 5),
            st.integers(1, 2),
            st.integers(1, 2),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_receptive_field_matches_an_mlx_gradient(raw_layers):
    layers = [
        LayerSpec(k, s, 0, d if kind == "conv" else 1, name=kind) for kind, k, s, d in raw_layers
    ]
    field = receptive_field(layers)[-1]
    # Without padding the input must be at least the field for unit (0, 0) to exist.
    width, _ = _measured_field(layers, size=max(64, field.size))
    # Without padding the first unit's field starts at pixel 0, so it covers 0 .. r-1.
    assert width == field.size
    assert field.start == (field.size - 1) / 2
