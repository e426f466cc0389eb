"""The Grid lab over HTTP, through gradio_client, with the cores as oracles: /grid_lab,
/grid_frame, /grid_animation and /grid_example compute what kernels_playground computes,
and say its sentences for bad input."""

from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from kernels_playground.animation import MAX_FRAMES, Sweep
from kernels_playground.grid_lab import Settings, picture_grid, run_lab
from kernels_playground.grid_lessons import EXAMPLES
from menny_base.images import load_rgb

STAR = Path(__file__).resolve().parents[1] / "demo_assets" / "siemens_star.png"

PATCH = "140 120 120\n225 220 205\n255 250 230"
LAPLACIAN = "0 -1 0\n-1 4 -1\n0 -1 0"
KNOBS = dict(
    operation="convolution",
    stride=1,
    padding=0,
    edge="zero",
    dilation=1,
    output_padding=0,
    pool_window=2,
)


def lab(client, grid=PATCH, kernel=LAPLACIAN, row=0, col=0, **changes):
    knobs = {**KNOBS, **changes}
    return client.predict(grid, kernel, *knobs.values(), row, col, api_name="/grid_lab")


def cells(table) -> list[list[str]]:
    return [[str(v) for v in row] for row in table["data"]]


def test_the_course_laplacian_over_the_api(client):
    shown, output, sizes, step, upsampling, learn = lab(client)
    assert cells(output) == [["80"]]
    assert cells(shown) == [["140", "120", "120"], ["225", "220", "205"], ["255", "250", "230"]]
    assert "`(3 - 3 + 2*0) / 1 + 1 = 1`" in sizes
    assert "4*220 + (-1)*205 + 0*255 + (-1)*250 + 0*230 = 80`" in step
    assert upsampling == "" and learn.startswith("Your 3x3 grid gives a 1x1 output.")
    example = client.predict("the course's Laplacian on a 3x3 patch", api_name="/grid_example")
    assert example[0] == EXAMPLES["the course's Laplacian on a 3x3 patch"].grid
    assert "The course prints **60**" in example[-1]
    assert "`4*220 - (120+225+205+250) = 880 - 800 = 80`" in example[-1]


def test_a_pinned_cell_with_padding_and_pasted_tabs(client):
    grid = "1\t2\t3\n4\t5\t6\n7\t8\t9"
    shown, output, sizes, step, _, _ = lab(client, grid, "1 1\n1 1", 0, 0, padding=1, stride=2)
    expected = run_lab(grid, "1 1\n1 1", Settings(stride=2, padding=1))
    assert np.array(cells(output), float).tolist() == expected.output.tolist()
    assert shown["headers"] == ["-1", "0", "1", "2", "3"]  # the padding column is -1
    assert cells(shown)[0] == ["0"] * 5
    assert "floor((3 - 2 + 2*1) / 2) + 1 = floor(3 / 2) + 1 = 2" in sizes
    assert "Sum = **1**" in step  # three padding zeros and the 1
    far = lab(client, grid, "1 1\n1 1", 5, 9, padding=1, stride=2)[3]
    assert far.startswith("Output (5, 9) is outside the 2x2 output: showing (1, 1).")


def test_pooling_and_transposed_over_the_api(client):
    pooled = lab(
        client, "1 1 2 4\n5 6 7 8\n3 2 1 0\n1 2 3 4", "1", 1, 0, operation="max pooling", stride=2
    )
    assert cells(pooled[1]) == [["6", "8"], ["3", "4"]]
    assert "`max(3, 2, 1, 2) = 3`" in pooled[3]
    stamped = lab(
        client,
        "1 2\n3 4",
        "1 1 1\n1 1 1\n1 1 1",
        1,
        1,
        operation="transposed convolution",
        stride=2,
        padding=1,
        output_padding=1,
    )
    assert np.array(cells(stamped[1]), float).tolist() == [
        [1, 3, 2, 2],
        [4, 10, 6, 6],
        [3, 7, 4, 4],
        [3, 7, 4, 4],
    ]
    assert "`(2 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 4`" in stamped[2]
    assert "`1*1 + 2*1 + 3*1 + 4*1 = 10`" in stamped[3]
    assert "*Nearest*" in stamped[4] and "*Pixel shuffle*" in stamped[4]


@pytest.mark.parametrize(
    ("grid", "kernel", "changes", "sentence"),
    [
        ("1 x 3", "1", {}, "row 1, column 2: 'x' is not a number"),
        ("1 2 3\n4 5", "1", {}, "the input grid must be rectangular: row 2 has 2 numbers"),
        ("\n".join(["1 " * 17] * 17), "1", {}, "input grid is 17x17; the largest allowed is 16x16"),
        ("1 2\n3 4", "1 1 1\n1 1 1\n1 1 1", {}, "grid height: the kernel (3) is larger than"),
        ("1e99 2", "1", {}, "row 1, column 1: '1e99' has the exponent 99; exponents must be"),
        ("NaN 2", "1", {}, "row 1, column 1: 'NaN' is not a finite number"),
        (
            "1 2",
            "1 1 1",
            {"operation": "transposed convolution", "padding": 3},
            "height: transposed-convolution padding can be at most D*(K - 1) = 0 for this kernel",
        ),
        ("1 2", "1", {"stride": 1e308}, "Value 1e+308 is greater than maximum value 8"),
        (
            "1 2",
            "1",
            {"operation": "blur"},
            "Value: 'blur' (type: <class 'str'>) is not in the list of choices",
        ),
    ],
)
def test_bad_input_is_one_sentence_over_the_api(client, grid, kernel, changes, sentence):
    with pytest.raises(AppError) as caught:
        lab(client, grid, kernel, **changes)
    assert str(caught.value).startswith(sentence) or sentence in str(caught.value)
    assert "something went wrong" not in str(caught.value)


def test_a_frame_and_the_animation_over_the_api(client):
    knobs = {**KNOBS, "stride": 2}
    grid = "\n".join(" ".join(str(r * 7 + c) for c in range(7)) for r in range(7))
    path = client.predict(grid, "1 1 1\n1 1 1\n1 1 1", *knobs.values(), 4, api_name="/grid_frame")
    expected = Sweep(run_lab(grid, "1 1 1\n1 1 1\n1 1 1", Settings(stride=2))).frame(4)
    with Image.open(path) as picture:
        np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), expected)
    gif, note = client.predict(
        grid, "1 1 1\n1 1 1\n1 1 1", *knobs.values(), api_name="/grid_animation"
    )
    with Image.open(gif) as sweep:
        assert sweep.format == "GIF" and sweep.n_frames == 9
    assert note == "The sweep: all 9 output cells, one frame each."
    big = "\n".join(["1 " * 16] * 16)
    _, note = client.predict(big, "1", *KNOBS.values(), api_name="/grid_animation")
    assert note.startswith(f"The sweep has 256 output cells, more than the {MAX_FRAMES} frames")


def test_an_uploaded_picture_becomes_the_input_grid(client):
    text = client.predict(handle_file(str(STAR)), api_name="/grid_from_picture")
    grid = np.array([row.split() for row in text.splitlines()], float)
    assert grid.shape == (16, 16)
    np.testing.assert_allclose(grid, picture_grid(load_rgb(STAR)), atol=1)
    with pytest.raises(AppError, match=r"test_grid_lab_api\.py is not an image Pillow can read"):
        client.predict(handle_file(__file__), api_name="/grid_from_picture")
