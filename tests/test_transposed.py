"""Transposed convolution (stamping, in MLX) against MLX's own mx.conv_transpose2d and a
numpy scatter loop; the sizes against arithmetic; the upsamplings against scipy and numpy."""

import itertools

import mlx.core as mx
import numpy as np
import pytest
from scipy import ndimage

from kernels_playground.arithmetic import transposed_conv_output_size
from kernels_playground.grid_lab import Settings, run_lab
from kernels_playground.grid_steps import pin, position_of
from kernels_playground.transposed import (
    Transposed,
    conv_transpose,
    output_size,
    pixel_shuffle,
    shuffle_channels,
    stamps_at,
    upsample,
)
from menny_base.errors import MennyError


def mlx_transposed(grid, kernel, t: Transposed) -> np.ndarray:
    """MLX's own layer op: NHWC input, (C_out, KH, KW, C_in) weights."""
    out = mx.conv_transpose2d(
        mx.array(grid, mx.float32)[None, :, :, None],
        mx.array(kernel, mx.float32)[None, :, :, None],
        stride=t.stride,
        padding=t.padding,
        dilation=t.dilation,
        output_padding=t.output_padding,
    )
    return np.array(out[0, :, :, 0])


def scatter(grid, kernel, t: Transposed) -> np.ndarray:
    """The textbook loop: every input value adds value * kernel at (i*S + u*D, j*S + v*D),
    then P cells are cropped from each side (output padding: zeros past the stamps)."""
    (h, w), (kh, kw) = grid.shape, kernel.shape
    s, d, p, op = t.stride, t.dilation, t.padding, t.output_padding
    full = np.zeros(((h - 1) * s + d * (kh - 1) + 1 + op, (w - 1) * s + d * (kw - 1) + 1 + op))
    for i, j, u, v in itertools.product(range(h), range(w), range(kh), range(kw)):
        full[i * s + u * d, j * s + v * d] += grid[i, j] * kernel[u, v]
    return full[p : full.shape[0] - p, p : full.shape[1] - p]


SETTINGS = list(itertools.product([1, 2, 3], [0, 1, 2, 3], [0, 1, 2], [1, 2]))


@pytest.mark.parametrize("kernel_shape", [(1, 1), (2, 3), (3, 3)])
def test_stamping_agrees_with_mlx_conv_transpose2d_and_a_loop(kernel_shape):
    rng = np.random.default_rng(sum(kernel_shape))
    checked = refused = 0
    for (stride, padding, output_padding, dilation), grid_shape in itertools.product(
        SETTINGS, [(1, 1), (2, 3), (4, 4)]
    ):
        grid = rng.integers(-9, 10, grid_shape).astype(np.float32)
        kernel = rng.integers(-3, 4, kernel_shape).astype(np.float32)
        t = Transposed(stride, padding, output_padding, dilation)
        try:
            ours = conv_transpose(grid, kernel, t)
        except MennyError as error:
            refused += 1  # only what the textbook formula itself cannot size
            assert "output padding must be smaller" in str(error) or "padding" in str(error)
            continue
        checked += 1
        expected = mlx_transposed(grid, kernel, t)
        assert ours.shape == expected.shape
        assert ours.shape == tuple(
            transposed_conv_output_size(n, k, stride, padding, output_padding, dilation)
            for n, k in zip(grid_shape, kernel_shape, strict=True)
        )
        np.testing.assert_allclose(ours, expected, atol=1e-4)
        np.testing.assert_allclose(ours, scatter(grid, kernel, t)[: ours.shape[0], : ours.shape[1]])
    assert checked > 30 and refused > 0


def test_where_mlx_and_the_formula_disagree_the_lab_refuses_with_a_sentence():
    # The design notes' case: I=31, K=3, S=4, P=3, OP=1. MLX gives 115, the formula 118.
    grid, kernel = np.ones((31, 31), np.float32), np.ones((3, 3), np.float32)
    assert mlx_transposed(grid, kernel, Transposed(4, 3, 1)).shape == (115, 115)
    assert (31 - 1) * 4 - 2 * 3 + (3 - 1) + 1 + 1 == 118
    with pytest.raises(MennyError, match=r"^height: transposed-convolution padding can be at most"):
        output_size((31, 31), (3, 3), Transposed(4, 3, 1))
    with pytest.raises(MennyError, match=r"D\*\(K - 1\) = 2 for this kernel, got 3$"):
        run_lab("1 2\n3 4", "1 1 1\n1 1 1\n1 1 1", Settings("transposed convolution", 4, 3, 1))


def test_every_output_cell_is_the_sum_of_its_stamps():
    grid = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    kernel = np.array([[1, -1, 2], [0, 3, 1]], np.float32)
    for t in (Transposed(2, 1, 1), Transposed(3, 0, 2), Transposed(1, 2, 0, 2)):
        out = conv_transpose(grid, kernel, t)
        for (row, col), value in np.ndenumerate(out):
            stamps = stamps_at(grid, kernel, t, row, col)
            assert sum(s.x * s.k for s in stamps) == pytest.approx(value)
            for s in stamps:  # each lands where the stamping rule says
                assert s.i * t.stride + s.u * t.dilation - t.padding == row
                assert s.j * t.stride + s.v * t.dilation - t.padding == col


def test_the_lab_pins_a_transposed_output_to_the_inputs_that_stamp_it():
    lab = run_lab(
        "1 2\n3 4", "1 1 1\n1 1 1\n1 1 1", Settings("transposed convolution", 2, 1, 0, 1, 1)
    )
    assert lab.output.tolist() == [[1, 3, 2, 2], [4, 10, 6, 6], [3, 7, 4, 4], [3, 7, 4, 4]]
    step = pin(lab, 1, 1)
    assert sorted(step.cells) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert "`1*1 + 2*1 + 3*1 + 4*1 = 10`" in step.markdown
    assert "input (1, 1) = 4 times kernel tap (0, 0) = 1" in step.markdown
    gap = run_lab("1 2", "5", Settings("transposed convolution", stride=3))
    assert gap.output.tolist() == [[5, 0, 0, 10]]
    empty = pin(gap, 0, 1)
    assert empty.cells == [] and "no input stamps its kernel here" in empty.markdown
    assert "`(1 - 1)*3 - 2*0 + 1*(1 - 1) + 0 + 1 = 1`" in gap.sizes
    for index in range(lab.positions):
        assert pin(lab, *position_of(lab, index)).value == lab.output.flat[index]


def test_nearest_and_bilinear_upsampling_against_numpy_and_scipy():
    grid = np.arange(12, dtype=np.float32).reshape(3, 4) ** 1.5
    for factor in (2, 3, 4):
        nearest = upsample(grid, factor, "nearest")
        np.testing.assert_array_equal(nearest, np.kron(grid, np.ones((factor, factor))))
        # align_corners=False is scipy's grid_mode=True; the edges repeat the border.
        zoomed = ndimage.zoom(grid, factor, order=1, grid_mode=True, mode="nearest")
        np.testing.assert_allclose(upsample(grid, factor, "linear"), zoomed, rtol=1e-5)
    with pytest.raises(MennyError, match=r"^upsampling must be 'nearest' or 'linear'"):
        upsample(grid, 2, "cubic")


def test_pixel_shuffle_lays_channels_out_as_blocks_and_equals_a_no_overlap_transposed_conv():
    channels = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    shuffled = pixel_shuffle(channels, 2)
    for i, j, a, b in itertools.product(range(2), range(3), range(2), range(2)):
        assert shuffled[i * 2 + a, j * 2 + b] == channels[i, j, a * 2 + b]
    grid = np.array([[1, -2, 3], [4, 5, -6]], np.float32)
    for r in (2, 3):
        kernel = np.arange(1, r * r + 1, dtype=np.float32).reshape(r, r)
        np.testing.assert_allclose(
            pixel_shuffle(shuffle_channels(grid, kernel, r), r),
            conv_transpose(grid, kernel, Transposed(stride=r)),
        )
    with pytest.raises(MennyError, match=r"^pixel shuffle by 2 needs 4 channels, got 3$"):
        pixel_shuffle(np.zeros((2, 2, 3)), 2)
