"""The number-grid lab's core: every course example's numbers, convolution and pooling of
small grids against scipy and a direct numpy loop, the pinned step, and one sentence for
every kind of bad input."""

import itertools

import numpy as np
import pytest
from scipy import ndimage, signal

from kernels_playground.grid_lab import (
    MAX_GRID_SIDE,
    Settings,
    grid_text,
    parse_grid,
    parse_lab_kernel,
    picture_grid,
    run_lab,
)
from kernels_playground.grid_lessons import EXAMPLES, lab_lesson, upsampling_markdown
from kernels_playground.grid_steps import pin, position_of
from menny_base.errors import MennyError

LAPLACIAN = "0 -1 0\n-1 4 -1\n0 -1 0"
PATCH = "140 120 120\n225 220 205\n255 250 230"
STEP_EDGE = "\n".join(["255\t255\t255\t0\t0\t0"] * 6)  # pasted from a spreadsheet: tabs
POOL_GRID = "1 1 2 4\n5 6 7 8\n3 2 1 0\n1 2 3 4"


def example(name: str):
    chosen = EXAMPLES[name]
    return chosen, run_lab(chosen.grid, chosen.kernel, chosen.settings)


# -- the course's examples -----------------------------------------------------


def test_the_course_laplacian_sums_to_80_not_the_printed_60():
    lab = run_lab(PATCH, LAPLACIAN, Settings())
    assert lab.output.tolist() == [[80.0]]
    step = pin(lab, 0, 0)
    assert step.value == 80
    assert "(-1)*120 + 0*120 + (-1)*225 + 4*220 + (-1)*205" in step.markdown
    assert "= 80`" in step.markdown
    chosen, lab = example("the course's Laplacian on a 3x3 patch")
    assert lab.output.tolist() == [[80.0]]
    assert "The course prints **60**" in chosen.note
    assert "`4*220 - (120+225+205+250) = 880 - 800 = 80`" in chosen.note
    assert 4 * 220 - (120 + 225 + 205 + 250) == 80


def test_edge_kernels_on_a_step_edge_give_765_and_0():
    vertical = run_lab(STEP_EDGE, "1 0 -1\n1 0 -1\n1 0 -1", Settings())
    assert vertical.output.tolist() == [[0, 765, 765, 0]] * 4
    horizontal = run_lab(STEP_EDGE, "1 1 1\n0 0 0\n-1 -1 -1", Settings())
    assert horizontal.output.tolist() == [[0, 0, 0, 0]] * 4
    for name, value in (
        ("vertical edge kernel on a step edge", 765),
        ("horizontal edge kernel on the same step edge", 0),
    ):
        chosen, lab = example(name)
        assert lab.output[chosen.pinned] == value
        assert pin(lab, *chosen.pinned).value == value


def test_a_3x3_kernel_on_a_3x3_image_without_padding_gives_one_number():
    _, lab = example("3x3 kernel on a 3x3 image, no padding")
    assert lab.output.shape == (1, 1)
    assert lab.output[0, 0] == (3 - 1) + 2 * (6 - 4) + (9 - 7) == 8
    assert "`(3 - 3 + 2*0) / 1 + 1 = 1`" in lab.sizes


def test_2x2_max_and_average_pooling_of_a_4x4_grid():
    _, pooled = example("2x2 max pooling of a 4x4 grid")
    assert pooled.output.tolist() == [[6, 8], [3, 4]]
    _, averaged = example("2x2 average pooling of a 4x4 grid")
    assert averaged.output.tolist() == [[3.25, 5.25], [2, 2]]
    assert "`max(1, 1, 5, 6) = 6`" in pin(pooled, 0, 0).markdown
    assert "`(1 + 1 + 5 + 6) / 4 = 3.25`" in pin(averaged, 0, 0).markdown
    assert "(4 - 2 + 2*0) / 2 + 1 = 2" in pooled.sizes


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_example_runs_and_its_pinned_cell_is_explained(name):
    chosen, lab = example(name)
    step = pin(lab, *chosen.pinned)
    assert step.value == lab.output[chosen.pinned]
    assert step.markdown.startswith(f"**Output {chosen.pinned}".replace(" ", " "))
    assert lab_lesson(lab).startswith(f"Your {lab.grid.shape[0]}x{lab.grid.shape[1]} grid")


def test_the_small_picture_lights_up_its_edges():
    chosen, lab = example("a small picture: a bright square, Sobel x")
    assert lab.output[chosen.pinned] == 720  # (200 - 20) * (1 + 2 + 1)
    assert lab.output.max() == 720 and lab.output.min() == -720


# -- against independent references -------------------------------------------


def direct(grid, kernel, stride, padding, dilation, mode="constant"):
    """The textbook loop: out[i, j] = sum kernel[u, v] * padded[i*S + u*D, j*S + v*D]."""
    padded = np.pad(grid, padding, mode=mode)
    kh, kw = kernel.shape
    rows = (padded.shape[0] - dilation * (kh - 1) - 1) // stride + 1
    cols = (padded.shape[1] - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((rows, cols))
    for i, j, u, v in itertools.product(range(rows), range(cols), range(kh), range(kw)):
        out[i, j] += kernel[u, v] * padded[i * stride + u * dilation, j * stride + v * dilation]
    return out


def as_text(array) -> str:
    return "\n".join(" ".join(f"{v:g}" for v in row) for row in array)


@pytest.mark.parametrize("seed", range(12))
def test_convolution_matches_scipy_and_a_direct_loop(seed):
    rng = np.random.default_rng(seed)
    grid = rng.integers(-50, 50, rng.integers(6, MAX_GRID_SIDE + 1, 2)).astype(float)
    kernel = rng.integers(-3, 4, rng.integers(1, 4, 2)).astype(float)
    stride, padding, dilation = rng.integers(1, 4), rng.integers(0, 3), rng.integers(1, 3)
    edge = ["zero", "replicate", "reflect"][seed % 3]
    settings = Settings("convolution", stride, padding, edge, dilation)
    lab = run_lab(as_text(grid), as_text(kernel), settings)
    mode = {"zero": "constant", "replicate": "edge", "reflect": "reflect"}[edge]
    np.testing.assert_allclose(lab.output, direct(grid, kernel, stride, padding, dilation, mode))
    # scipy: correlate with the dilated kernel over the padded grid, then keep every S-th.
    dilated = np.zeros(((kernel.shape[0] - 1) * dilation + 1, (kernel.shape[1] - 1) * dilation + 1))
    dilated[::dilation, ::dilation] = kernel
    full = signal.correlate2d(np.pad(grid, padding, mode=mode), dilated, mode="valid")
    np.testing.assert_allclose(lab.output, full[::stride, ::stride])
    for index in range(lab.positions):  # every pinned sum is the map's value there
        assert pin(lab, *position_of(lab, index)).value == lab.output.flat[index]


@pytest.mark.parametrize(
    ("window", "stride", "padding"), [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 1)]
)
def test_pooling_matches_scipy_and_a_direct_loop(window, stride, padding):
    grid = np.random.default_rng(window * 10 + stride).integers(-9, 10, (7, 6)).astype(float)
    kinds = (("max pooling", -np.inf, np.max), ("average pooling", 0, np.mean))
    for operation, fill, reduce in kinds:
        lab = run_lab(as_text(grid), "1", Settings(operation, stride, padding, window=window))
        padded = np.pad(grid, padding, constant_values=fill)
        rows = (padded.shape[0] - window) // stride + 1
        cols = (padded.shape[1] - window) // stride + 1
        loop = [
            [
                reduce(padded[i * stride : i * stride + window, j * stride : j * stride + window])
                for j in range(cols)
            ]
            for i in range(rows)
        ]
        np.testing.assert_allclose(lab.output, loop, rtol=1e-6)
        # scipy's filter of size k at p covers p - k//2 .. p - k//2 + k - 1: a window's
        # corner p is the filter's value at p + k//2.
        scipy_filter = ndimage.maximum_filter if reduce is np.max else ndimage.uniform_filter
        filtered = scipy_filter(padded, size=window, mode="constant", cval=fill)
        corner = filtered[window // 2 :: stride, window // 2 :: stride][:rows, :cols]
        np.testing.assert_allclose(lab.output, corner, rtol=1e-5, atol=1e-6)
        for index in range(lab.positions):
            assert pin(lab, *position_of(lab, index)).value == pytest.approx(lab.output.flat[index])


def test_the_pinned_window_covers_padding_cells_marked_as_such():
    lab = run_lab("1 2 3\n4 5 6\n7 8 9", "1 1 1\n1 1 1\n1 1 1", Settings(padding=1))
    assert lab.shown.shape == (5, 5) and lab.origin == (1, 1)
    assert lab.is_padding.sum() == 25 - 9
    step = pin(lab, 0, 0)
    assert step.cells == [(r, c) for r in range(3) for c in range(3)]
    assert [bool(lab.is_padding[c]) for c in step.cells].count(True) == 5
    assert step.value == 1 + 2 + 4 + 5
    dilated = pin(run_lab("\n".join(["1 2 3 4 5"] * 5), "1 1\n1 1", Settings(dilation=2)), 1, 2)
    assert dilated.cells == [(1, 2), (1, 4), (3, 2), (3, 4)]


def test_max_pooling_shows_its_padding_as_minus_infinity():
    lab = run_lab("1 2\n3 4", "1", Settings("max pooling", stride=2, padding=1, window=2))
    assert lab.output.tolist() == [[1, 2], [3, 4]]
    assert (
        np.isneginf(lab.shown[0, 0]) and "max(-inf, -inf, -inf, 1) = 1" in pin(lab, 0, 0).markdown
    )


def test_pasted_spreadsheet_cells_and_other_spellings_read_the_same():
    expected = [[1, 2.5, -3], [4, 0.25, 6]]
    for text in (
        "1\t2.5\t-3\n4\t0.25\t6\n",
        "1, 2.5, -3\n4, 1/4, 6",
        "[[1, 2.5, -3], [4, .25, 6]]",
        "1 2.5 \u22123\r\n4 2.5e-1 6",
    ):
        assert parse_grid(text).tolist() == expected
    assert parse_grid([[1, "2.5", -3], ["4", 0.25, 6], [None, None, None]]).tolist() == expected
    assert parse_grid(np.array(expected)).tolist() == expected


def test_upsampling_beside_the_transposed_convolution():
    _, lab = example("transposed convolution, stride 2: 2x2 to 4x4")
    text = upsampling_markdown(lab)
    assert "*Nearest*" in text and "*Bilinear*" in text and "*Pixel shuffle*" in text
    assert "| 1 | 1.25 | 1.75 | 2 |" in text  # bilinear's first row for [[1, 2], [3, 4]]
    wide = run_lab("\n".join(["1 " * 16] * 16), "1", Settings("transposed convolution", 4))
    assert "too wide to show as numbers here" in upsampling_markdown(wide)


# -- one sentence for each bad input -------------------------------------------

BAD = [
    ("1 two 3", LAPLACIAN, Settings(), "row 1, column 2: 'two' is not a number; write a number"),
    (
        "1 2 3\n4 5",
        "1",
        Settings(),
        "the input grid must be rectangular: row 2 has 2 numbers, row 1",
    ),
    ("\n".join(["1 " * 17] * 2), "1", Settings(), "input grid is 2x17; the largest allowed is 16x"),
    ("\n".join(["1"] * 20), "1", Settings(), "input grid is 20x1; the largest allowed is 16x16"),
    ("1 2", "\n".join(["1 " * 8] * 8), Settings(), "kernel is 8x8; the largest allowed is 7x7"),
    (
        "1 2 3\n4 5 6\n7 8 9",
        "\n".join(["1 " * 5] * 5),
        Settings(),
        "grid height: the kernel (5) is larger than the padded input (3 + 0 = 3)",
    ),
    (
        "1 2 3\n4 5 6\n7 8 9",
        "1 1 1",
        Settings(dilation=2, edge="valid"),
        "grid width: the dilated kernel (2*(3 - 1) + 1 = 5) is larger than the 3-pixel grid width",
    ),
    ("1e400 2", "1", Settings(), "row 1, column 1: '1e400' has the exponent 400; exponents"),
    ("1e30 2", "1", Settings(), "row 1, column 1: 1e+30 is too large: numbers must be between"),
    ("nan 2", "1", Settings(), "row 1, column 1: 'nan' is not a finite number"),
    ("1 -inf", "1", Settings(), "row 1, column 2: '-inf' is not a finite number"),
    ("", "1", Settings(), "empty input grid: give at least one number"),
    ("1 2", "", Settings(), "empty kernel: give at least one number"),
    (
        "1 2\n3 4",
        "1",
        Settings("max pooling", window=3),
        "grid height: the pool window (3) is larger than the padded input (2 + 0 = 2)",
    ),
    (
        "1 2\n3 4",
        "1",
        Settings("max pooling", padding=2, window=2),
        "grid height: pool padding must be at most half the window (1 for a window of 2)",
    ),
    (
        "1 2\n3 4",
        "1 1 1\n1 1 1\n1 1 1",
        Settings("transposed convolution", 4, 3, 1),
        "height: transposed-convolution padding can be at most D*(K - 1) = 2 for this kernel",
    ),
    (
        "1 2\n3 4",
        "1 2\n3 4",
        Settings("convolution", padding=1, edge="valid"),
        "edge 'valid' means no padding, so padding must be 0, got 1",
    ),
]


@pytest.mark.parametrize(("grid", "kernel", "settings", "sentence"), BAD)
def test_bad_input_gets_one_sentence(grid, kernel, settings, sentence):
    with pytest.raises(MennyError) as caught:
        run_lab(grid, kernel, settings)
    message = str(caught.value)
    assert message.startswith(sentence), message
    assert "\n" not in message


def test_bad_settings_and_positions_get_one_sentence():
    for options, sentence in (
        ({"operation": "blur"}, "operation must be one of convolution, max pooling"),
        ({"stride": 0}, "stride must be between 1 and 8, got 0"),
        ({"padding": 99}, "padding must be between 0 and 8, got 99"),
        ({"dilation": 1.5}, "dilation must be a whole number between 1 and 4, got 1.5"),
        ({"window": 8}, "pool window must be between 1 and 7, got 8"),
    ):
        with pytest.raises(MennyError, match=f"^{sentence}"):
            Settings(**options)
    lab = run_lab(PATCH, "1", Settings())
    with pytest.raises(MennyError, match=r"^output row must be between 0 and 2, got 3$"):
        pin(lab, 3, 0)
    with pytest.raises(MennyError, match=r"^output position must be between 0 and 8, got 9$"):
        position_of(lab, 9)
    with pytest.raises(MennyError, match=r"^row 1, column 1: nan is not a finite number$"):
        parse_grid(np.array([[np.nan]]))
    with pytest.raises(MennyError, match=r"^the kernel must be text or a list of rows"):
        parse_lab_kernel(3)


def test_a_picture_becomes_a_grid_of_grey_levels():
    picture = np.zeros((32, 64, 3), np.uint8)
    picture[:, 32:] = 255  # dark left half, white right half
    picture[:16, :16] = (255, 0, 0)  # a red corner: BT.601 grey 0.299 * 255 = 76
    grid = picture_grid(picture)
    assert grid.shape == (8, 16)  # the longer side shrunk to 16, the aspect kept
    assert grid[6, 1] == 0 and grid[6, 14] == 255 and grid[1, 1] == 76
    assert parse_grid(grid_text(grid)).tolist() == grid.tolist()
    assert picture_grid(picture, side=4).shape == (2, 4)
    with pytest.raises(MennyError, match=r"^grid side must be between 1 and 16, got 17$"):
        picture_grid(picture, side=17)
