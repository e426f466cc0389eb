"""The playground's and Shapes tab's texts quote the sizes the computation really produces:
apply_kernel, pool and describe_stack are the oracles."""

import re

import numpy as np

from kernels_playground.arithmetic import conv_output_formula, pool_output_formula
from kernels_playground.convolve import apply_kernel
from kernels_playground.lessons import (
    mlx_output_cells,
    playground_lesson,
    shapes_lesson,
    size_sums,
    stack_summary,
)
from kernels_playground.pooling import pool
from kernels_playground.shapes import LayerRow, StackShapes, describe_stack
from kernels_playground.spec import ConvSpec


def conv(kernel_hw, **settings) -> ConvSpec:
    """A spec of a kernel of ones (the lessons read only its shape) with these settings."""
    return ConvSpec(np.ones(kernel_hw, np.float32), **settings)


SOBEL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)


def test_same_padding_keeps_a_256_image_256():
    lesson = playground_lesson((256, 256), conv((3, 3), stride=1, padding=1))
    assert apply_kernel(np.zeros((256, 256)), SOBEL, padding=1).shape == (256, 256)
    assert "A 3x3 kernel slides over the 256x256 image 1 pixel(s) at a time." in lesson
    assert "(256 - 3 + 2*1) / 1 + 1 = 256 times down: the feature map is 256x256." in lesson
    assert "covers 3x3 pixels with only 9 weights" in lesson
    assert "(flipped now)" not in lesson and "Pooling" not in lesson


def test_stride_dilation_and_a_rectangle():
    image = np.zeros((100, 61))
    out = apply_kernel(image, SOBEL, stride=2, padding=1, dilation=2).shape
    lesson = playground_lesson((100, 61), conv((3, 3), stride=2, padding=1, dilation=2, flip=True))
    assert f"the feature map is {out[0]}x{out[1]}." in lesson  # 49x30
    assert "floor((100 - 5 + 2*1) / 2) + 1 = floor(97 / 2) + 1 = 49 times down" in lesson
    assert "Dilation 2 spreads the taps 2 pixel(s) apart: the kernel covers 5x5 pixels" in lesson
    assert "(flipped now)" in lesson


def test_a_stride_that_does_not_divide_is_floored():
    out = apply_kernel(np.zeros((256, 256)), SOBEL, stride=2, padding=1).shape
    assert out == (128, 128)  # 255 / 2 = 127.5: the floor is what happens
    lesson = playground_lesson((256, 256), conv((3, 3), stride=2, padding=1))
    assert (
        "so it fits floor((256 - 3 + 2*1) / 2) + 1 = floor(255 / 2) + 1 = 128 times down: "
        "the feature map is 128x128." in lesson
    )
    # Stride 3, dilation 2: the 3x3 kernel spans 5 pixels; 97 / 3 and 58 / 3 are not whole.
    out = apply_kernel(np.zeros((100, 61)), SOBEL, stride=3, padding=1, dilation=2).shape
    lesson = playground_lesson((100, 61), conv((3, 3), stride=3, padding=1, dilation=2))
    assert out == (33, 20)
    assert (
        "so it fits floor((100 - 5 + 2*1) / 3) + 1 = floor(97 / 3) + 1 = 33 times down: "
        "the feature map is 33x20." in lesson
    )
    # An exact division needs no floor: (64 - 5 + 2*2) / 3 = 21.
    assert "so it fits (64 - 5 + 2*2) / 3 + 1 = 22 times down" in playground_lesson(
        (64, 64), conv((5, 5), stride=3, padding=2)
    )


def test_a_rectangular_kernel_is_described_as_it_is():
    kernel = np.ones((3, 5), np.float32)
    out = apply_kernel(np.zeros((40, 50)), kernel, padding=0, dilation=2).shape  # (36, 42)
    lesson = playground_lesson((40, 50), conv((3, 5), stride=1, padding=0, dilation=2))
    assert "A 3x5 kernel slides" in lesson
    assert f"the feature map is {out[0]}x{out[1]}." in lesson
    assert "covers 5x9 pixels with only 15 weights" in lesson


def test_uneven_same_padding_is_written_side_by_side():
    spec = ConvSpec(np.ones((4, 2), np.float32), padding="same")  # 1+2 rows, 0+1 columns
    out = apply_kernel(np.zeros((30, 20)), spec).shape
    lesson = playground_lesson((30, 20), spec)
    assert out == (30, 20) and "the feature map is 30x20." in lesson
    assert "1 pixel(s) on top, 2 below, 0 on the left and 1 on the right" in lesson
    assert f"- height: `{conv_output_formula(30, 4, 1, (1, 2))}`" in size_sums((30, 20), spec)


def test_pooled_sizes_are_the_pooled_maps():
    feature = apply_kernel(np.zeros((256, 200)), SOBEL, padding=1)
    pooled = pool(feature, "max", 3, 2)
    lesson = playground_lesson((256, 200), conv((3, 3), padding=1), pool=(3, 2))
    assert (
        f"Pooling takes one number per 3x3 window every 2 pixels: 256x200 becomes "
        f"{pooled.shape[0]}x{pooled.shape[1]}, with no weights to learn." in lesson
    )


def test_size_sums_write_both_axes_and_the_pooling():
    sums = size_sums((256, 128), conv((3, 5), stride=2, padding=1), pool=(2, 2))
    height, width = apply_kernel(np.zeros((256, 128)), np.ones((3, 5)), stride=2, padding=1).shape
    assert f"- height: `{conv_output_formula(256, 3, 2, 1)}`" in sums
    assert f"- width: `{conv_output_formula(128, 5, 2, 1)}`" in sums
    assert "**2x2 pooling, stride 2:**" in sums
    assert f"- height: `{pool_output_formula(height, 2, 2)}`" in sums  # 128 -> 64
    assert f"- width: `{pool_output_formula(width, 2, 2)}`" in sums  # 63 -> 31
    assert "pooling" not in size_sums((256, 128), conv((3, 5), stride=2, padding=1))


def test_shapes_lesson_and_summary_quote_the_stack():
    rows = [LayerRow("conv", 3, padding=1, out_channels=8), LayerRow("maxpool", 2, stride=2),
            LayerRow("conv", 3, padding=1, out_channels=16)]  # fmt: skip
    stack = describe_stack((32, 48), 3, rows)
    lesson = shapes_lesson(stack, (32, 48), 3)
    # Receptive field by hand: 3, then 3 + (2-1)*1 = 4, then 4 + (3-1)*2 = 8; jump 1*2 = 2.
    assert "sees a 8x8 patch of the input, and neighbouring units are 2 pixel(s) apart" in lesson
    assert "a single 32x48 image must become (1, 32, 48, 3) first" in lesson
    summary = stack_summary(stack)
    total = (3 * 3 * 3 * 8 + 8) + (3 * 3 * 8 * 16 + 16)  # 1,392
    assert summary.startswith(
        "Arithmetic and a real MLX model of this stack agree on every shape and every "
        "parameter count."
    )
    assert f"Total: **{total:,}** parameters" in summary and "**1,392**" in summary
    macs = int(re.search(r"\*\*([\d,]+)\*\* multiply-adds", summary).group(1).replace(",", ""))
    assert macs == 32 * 48 * 8 * 27 + 16 * 24 * 16 * 72


def test_a_disagreement_is_shown_not_hidden():
    stack = describe_stack((8, 8), 1, [LayerRow("conv", 3)], check_with_mlx=False)
    broken = StackShapes(stack.layers, [(5, 5, 1)], ["layer 1 (conv 3x3): arithmetic says ..."])
    assert stack_summary(broken).startswith(
        "**Arithmetic and MLX disagree:** layer 1 (conv 3x3): arithmetic says ..."
    )
    assert mlx_output_cells(broken) == ["5x5x1"]


def test_a_stack_mlx_did_not_run_says_why_instead_of_agree():
    stack = describe_stack((64, 64), 3, [LayerRow("conv", 255, padding=127, out_channels=8)])
    summary = stack_summary(stack)
    assert summary.startswith(
        "Shapes from arithmetic only. Not checked with MLX: this stack needs 6.39 G "
        "multiply-adds, more than the 500 M this demo runs per request, so the MLX model was "
        "not built.\n\n"
    )
    assert "agree" not in summary and "**6,392,217,600** multiply-adds" in summary
    assert mlx_output_cells(stack) == ["not built"]
    ran = describe_stack(
        (32, 32), 1, [LayerRow("conv", 5, out_channels=6), LayerRow("maxpool", 2, 2)]
    )
    assert mlx_output_cells(ran) == ["28x28x6", "14x14x6"]
    arithmetic_only = describe_stack((8, 8), 1, [LayerRow("conv", 3)], check_with_mlx=False)
    assert arithmetic_only.mlx_outputs == [None]
    assert arithmetic_only.mlx_skipped == "not checked with MLX: only the arithmetic was asked for"
    assert mlx_output_cells(StackShapes(ran.layers)) == ["not built", "not built"]
