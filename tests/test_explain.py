"""step_at: the worked example by hand, and agreement with apply_kernel everywhere."""

import numpy as np
import pytest

from kernels_playground.convolve import apply_kernel
from kernels_playground.explain import input_window, markdown_table, step_at

LAPLACE = [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]
PATCH = np.array([[140, 120, 120], [225, 220, 205], [255, 250, 230]], dtype=np.uint8)
# By hand: 4*220 - (120 + 225 + 205 + 250) = 880 - 800 = 80. (The course text states 60,
# an arithmetic slip: no reading of these nine numbers and this kernel gives 60.)
WORKED_TEXT = (
    "0*140 + (-1)*120 + 0*120 + (-1)*225 + 4*220 + (-1)*205 + 0*255 + (-1)*250 + 0*230 = 80"
)


def test_worked_example_on_its_own_patch():
    step = step_at(PATCH, LAPLACE, 0, 0, padding="valid")
    assert step.total == step.value == 80
    assert step.text == WORKED_TEXT
    np.testing.assert_array_equal(step.patch, PATCH)
    np.testing.assert_array_equal(step.products, [[0, -120, 0], [-225, 880, -205], [0, -250, 0]])
    assert apply_kernel(PATCH, LAPLACE).shape == (1, 1)


def test_worked_example_inside_a_bigger_image():
    image = np.random.default_rng(0).integers(0, 256, size=(20, 30)).astype(np.uint8)
    image[7:10, 11:14] = PATCH
    # Output (row, col) looks at input rows row..row+2 with valid padding, rows-1.. with pad 1.
    assert step_at(image, LAPLACE, 7, 11).text == WORKED_TEXT
    step = step_at(image, LAPLACE, 8, 12, padding=1)
    assert step.text == WORKED_TEXT and step.value == 80
    assert input_window(image, LAPLACE, 8, 12, padding=1).top == 7


def test_padding_shows_padded_values_and_window_starts_in_padding():
    image = np.arange(1, 17, dtype=np.uint8).reshape(4, 4)
    zero = step_at(image, np.ones((3, 3)), 0, 0, padding=1)
    np.testing.assert_array_equal(zero.patch, [[0, 0, 0], [0, 1, 2], [0, 5, 6]])
    replicate = step_at(image, np.ones((3, 3)), 0, 0, padding=1, edge="replicate")
    np.testing.assert_array_equal(replicate.patch, [[1, 1, 2], [1, 1, 2], [5, 5, 6]])
    reflect = step_at(image, np.ones((3, 3)), 0, 0, padding=1, edge="reflect")
    np.testing.assert_array_equal(reflect.patch, [[6, 5, 6], [2, 1, 2], [6, 5, 6]])
    window = input_window(image, np.ones((3, 3)), 0, 0, padding=1)
    assert (window.top, window.left, window.height, window.width) == (-1, -1, 3, 3)


def test_dilation_takes_only_the_taps():
    image = np.arange(49, dtype=np.float32).reshape(7, 7)
    step = step_at(image, np.ones((3, 3)), 0, 0, dilation=3)
    np.testing.assert_array_equal(step.patch, image[::3, ::3])
    window = input_window(image, np.ones((3, 3)), 0, 0, dilation=3)
    assert (window.height, window.width, window.dilation) == (7, 7, 3)


def test_step_equals_apply_kernel_at_random_positions():
    rng = np.random.default_rng(42)
    checked = 0
    for _ in range(60):
        image = rng.integers(0, 256, size=(int(rng.integers(6, 14)), 11, 3)).astype(np.uint8)
        kernel = rng.integers(-3, 4, size=tuple(int(v) for v in rng.integers(1, 5, size=2)))
        options = {
            "stride": int(rng.integers(1, 4)),
            "dilation": int(rng.integers(1, 3)),
            "edge": ["zero", "valid", "replicate", "reflect"][int(rng.integers(4))],
            "mode": ["luminance", "per_channel"][int(rng.integers(2))],
        }
        options["padding"] = 0 if options["edge"] == "valid" else int(rng.integers(0, 3))
        feature_map = apply_kernel(image, kernel, **options)
        for _ in range(4):
            row = int(rng.integers(feature_map.shape[0]))
            col = int(rng.integers(feature_map.shape[1]))
            channel = int(rng.integers(3))
            step = step_at(image, kernel, row, col, channel=channel, **options)
            expected = (
                feature_map[row, col]
                if options["mode"] == "luminance"
                else (feature_map[row, col, channel])
            )
            assert step.value == expected
            assert step.total == pytest.approx(expected, rel=1e-5, abs=1e-3)
            assert step.patch.shape == step.kernel.shape == step.products.shape
            checked += 1
    assert checked == 240


def test_flip_explains_the_flipped_kernel():
    image = np.arange(9, dtype=np.uint8).reshape(3, 3)
    step = step_at(image, [[1, 2, 3], [0, 0, 0], [0, 0, 0]], 0, 0, flip=True)
    np.testing.assert_array_equal(step.kernel[2], [3, 2, 1])
    assert step.total == step.value == 3 * 6 + 2 * 7 + 1 * 8


def test_fractions_and_luminance_are_written_compactly():
    image = np.full((3, 3, 3), [255, 0, 0], dtype=np.uint8)
    step = step_at(image, np.full((3, 3), 1 / 9), 0, 0)
    assert step.text.startswith("0.1111*76.245 + ")
    assert step.text.endswith(" = 76.245")


def test_out_of_range_positions_name_the_allowed_range():
    image = np.zeros((256, 256), np.uint8)
    with pytest.raises(ValueError, match="row must be between 0 and 253, got 300"):
        step_at(image, LAPLACE, 300, 0)
    with pytest.raises(ValueError, match="column must be between 0 and 127, got -1"):
        step_at(image, LAPLACE, 0, -1, stride=2, padding=1)
    with pytest.raises(TypeError, match="row"):
        step_at(image, LAPLACE, 1.5, 0)
    with pytest.raises(ValueError, match="channel must be between 0 and 2"):
        step_at(np.zeros((5, 5, 3)), LAPLACE, 0, 0, mode="per_channel", channel=3)


def test_markdown_table_has_an_empty_header_and_no_negative_zero():
    table = markdown_table(np.array([[1.23456, -0.0], [1000.0, -2.5]]))
    assert table.splitlines() == ["| | |", "|---|---|", "| 1.23 | 0 |", "| 1e+03 | -2.5 |"]


def test_step_markdown_shows_the_worked_example():
    text = step_at(PATCH, LAPLACE, 0, 0, padding="valid").markdown()
    assert text.startswith("**Output (0, 0)**: the patch under the kernel")
    assert markdown_table(PATCH) in text and markdown_table(np.array(LAPLACE)) in text
    assert "| 0 | -120 | 0 |" in text and "| -225 | 880 | -205 |" in text  # the products
    assert f"`{WORKED_TEXT}`" in text
    assert text.endswith("Sum = **80**, the feature map holds **80** there.")
    assert "flipped" not in text and "channel" not in text


def test_step_markdown_names_channel_flip_and_relu():
    image = np.zeros((5, 5, 3), np.uint8)
    image[..., 1] = 10
    step = step_at(image, LAPLACE, 2, 1, mode="per_channel", channel=1, flip=True)
    text = step.markdown(before_relu=True)
    assert text.startswith("**Output (2, 1)** of the green channel:")
    assert "Kernel (flipped: true convolution):" in text
    assert text.endswith("there before ReLU.")
    assert step_at(image, LAPLACE, 0, 0, mode="per_channel").markdown().count("red channel") == 1
