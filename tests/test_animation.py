"""The sliding window drawn: each frame's highlights sit where grid_lab says, the output
fills in reading order, and the GIF holds one frame per output cell, capped with a note."""

import io

import numpy as np
import pytest
from PIL import Image

from kernels_playground.animation import (
    MAX_FRAMES,
    PADDED_WINDOW,
    WINDOW,
    WRITTEN,
    Sweep,
    animate,
    frame,
    layout,
)
from kernels_playground.grid_lab import Settings, run_lab
from kernels_playground.grid_lessons import EXAMPLES
from kernels_playground.grid_steps import pin, position_of
from menny_base.errors import MennyError


def colour_at(picture: np.ndarray, box) -> tuple[int, ...]:
    """The colour a few pixels inside a cell's top-left corner (clear of its number)."""
    x0, y0, _, _ = box
    return tuple(int(v) for v in picture[y0 + 3, x0 + 3])


def test_a_frame_highlights_the_window_on_the_input_and_the_cell_on_the_output():
    lab = run_lab("1 2 3\n4 5 6\n7 8 9", "1 1\n1 1", Settings(stride=1, padding=1))
    geometry, index = layout(lab), 5  # output (1, 1): the window over input rows/cols 0..1
    picture = frame(lab, index)
    assert picture.shape == (geometry.size[1], geometry.size[0], 3)
    row, col = position_of(lab, index)
    cells = set(pin(lab, row, col).cells)
    assert cells == {(1, 1), (1, 2), (2, 1), (2, 2)}
    for r, c in np.ndindex(lab.shown.shape):
        colour = colour_at(picture, geometry.box("input", r, c))
        assert (colour == WINDOW) == ((r, c) in cells)
    assert colour_at(picture, geometry.box("output", row, col)) == WRITTEN
    # Written before: shaded grey; not yet written: white.
    assert colour_at(picture, geometry.box("output", 0, 0)) not in (WRITTEN, (255, 255, 255))
    assert colour_at(picture, geometry.box("output", 3, 3)) == (255, 255, 255)
    corner = frame(lab, 0)  # output (0, 0) reads three padding cells: shown paler
    assert colour_at(corner, geometry.box("input", 0, 0)) == PADDED_WINDOW
    assert colour_at(corner, geometry.box("input", 1, 1)) == WINDOW


def test_the_panels_are_titled_input_and_output():
    lab = run_lab("1 2\n3 4", "1", Settings())
    geometry, picture = layout(lab), frame(lab, 0)
    for x in (geometry.input_at[0], geometry.output_at[0]):  # dark title text above each
        assert picture[16:40, x : x + 40].min() < 100
    assert geometry.output_at[0] > geometry.input_at[0] + lab.shown.shape[1] * geometry.input_cell


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_example_animates_one_frame_per_output_cell(name):
    chosen = EXAMPLES[name]
    lab = run_lab(chosen.grid, chosen.kernel, chosen.settings)
    animation = animate(lab)
    with Image.open(io.BytesIO(animation.gif)) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == animation.frames == lab.positions
        assert gif.info["duration"] > 0 and gif.info["loop"] == 0
        gif.seek(lab.positions - 1)
        last = np.asarray(gif.convert("RGB"))
    # The last frame, through the GIF's palette, is the last frame drawn.
    drawn = Sweep(lab).frame(lab.positions - 1)
    assert np.mean(np.abs(last.astype(int) - drawn.astype(int))) < 4
    assert animation.note == f"The sweep: all {lab.positions} output cells, one frame each."


def test_a_long_sweep_is_capped_and_says_so():
    lab = run_lab("\n".join(["1 2 3 4 5 6 7 8 9 10 11 12"] * 12), "1", Settings())
    assert lab.positions == 144 > MAX_FRAMES
    animation = animate(lab)
    with Image.open(io.BytesIO(animation.gif)) as gif:
        assert gif.n_frames == MAX_FRAMES
    assert animation.note.startswith(
        f"The sweep has 144 output cells, more than the {MAX_FRAMES} frames an animation may "
        f"have, so it shows the first {MAX_FRAMES}"
    )
    with pytest.raises(MennyError, match=r"^output position must be between 0 and 143, got 144$"):
        frame(lab, 144)


def test_big_outputs_still_fit_a_frame():
    lab = run_lab("1 2\n3 4", "1 1 1 1 1 1 1", Settings("transposed convolution", 8))
    assert lab.output.shape == (9, 15)
    picture = frame(lab, lab.positions - 1)
    assert picture.shape[1] < 1000 and picture.shape[0] < 600
