"""Kernels: the classic presets, a parser for the grids learners type, and its inverse.

A kernel here is a float32 array of shape (rows, columns), at most 15x15. It is applied
by cross-correlation (see convolve.py): kernel[0, 0] multiplies the top-left input pixel
of each window, exactly as written, the way every CNN framework does it. So "Sobel x"
below gives positive values where the image gets brighter to the right.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from kernels_playground.number_grids import check_sides, read_grid
from menny_base.errors import MennyError, WrongType

MAX_KERNEL_SIDE = 15
# The largest |weight|. A feature map value sums at most 15*15 = 225 products of a weight and
# a pixel (one channel, or a luminance mix whose weights sum to 1), so with pixels up to
# 65535 (16-bit) it stays below 225 * 1e6 * 65535 = 1.5e16, far from float32's 3.4e38.
MAX_KERNEL_WEIGHT = 1e6
_TOO_LARGE = (
    f"kernel weights must be between -{MAX_KERNEL_WEIGHT:,.0f} and {MAX_KERNEL_WEIGHT:,.0f}"
)


def _grid(rows: list[list[float]], scale: float = 1.0) -> np.ndarray:
    return (np.array(rows, dtype=np.float64) * scale).astype(np.float32)


_BINOMIAL_3 = np.outer([1, 2, 1], [1, 2, 1])
_BINOMIAL_5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])

# Keys are shown to learners as dropdown labels.
PRESETS: dict[str, np.ndarray] = {
    "identity": _grid([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "box blur 3x3": _grid(np.ones((3, 3)).tolist(), 1 / 9),
    "box blur 5x5": _grid(np.ones((5, 5)).tolist(), 1 / 25),
    "Gaussian blur 3x3": _grid(_BINOMIAL_3.tolist(), 1 / 16),
    "Gaussian blur 5x5": _grid(_BINOMIAL_5.tolist(), 1 / 256),
    "sharpen": _grid([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "Sobel x": _grid([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "Sobel y": _grid([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "Prewitt x": _grid([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "Prewitt y": _grid([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "Laplacian (4-neighbour)": _grid([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "Laplacian (8-neighbour)": _grid([[1, 1, 1], [1, -8, 1], [1, 1, 1]]),
    "emboss": _grid([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "outline": _grid([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "horizontal edges (chapter)": _grid([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
    "vertical edges (chapter)": _grid([[1, 0, -1]] * 3),
}

DESCRIPTIONS: dict[str, str] = {
    "identity": "Copies the image: 1 at the centre, 0 elsewhere.",
    "box blur 3x3": "Averages each 3x3 neighbourhood (every weight 1/9): a soft blur.",
    "box blur 5x5": "Averages each 5x5 neighbourhood (every weight 1/25): a stronger blur.",
    "Gaussian blur 3x3": "Weighted average, centre counts most ([1,2,1] x [1,2,1] / 16).",
    "Gaussian blur 5x5": "Weighted average from binomial weights (/256): a wider smooth blur.",
    "sharpen": "The pixel minus its 4 neighbours, plus itself: boosts local contrast.",
    "Sobel x": "Gradient along x: positive where it gets brighter to the right (vertical edges).",
    "Sobel y": "Vertical gradient: positive where it gets brighter downward (horizontal edges).",
    "Prewitt x": "Like Sobel x without the extra centre-row weight: vertical edges.",
    "Prewitt y": "Like Sobel y without the extra centre-column weight: horizontal edges.",
    "Laplacian (4-neighbour)": "Second derivative: dots and thin lines light up, flat areas are 0.",
    "Laplacian (8-neighbour)": "Second derivative including diagonals: edges in every direction.",
    "emboss": "Gradient along the diagonal: a raised, lit-from-the-top-left relief.",
    "outline": "The pixel against all 8 neighbours: outlines of shapes, 0 on flat areas.",
    "horizontal edges (chapter)": "Top row minus bottom row: horizontal edges (the chapter's).",
    "vertical edges (chapter)": "Left column minus right column: vertical edges (the chapter's).",
}


def validate_kernel(array: object) -> np.ndarray:
    """`array` as a C-contiguous float32 (rows, columns) kernel, or an error for a person.

    Rules: 2-D, not empty, each side at most MAX_KERNEL_SIDE, every entry finite and
    between -MAX_KERNEL_WEIGHT and MAX_KERNEL_WEIGHT (so feature maps cannot overflow).
    """
    try:
        values = np.asarray(array, dtype=np.float64)
    except OverflowError:  # a Python int beyond float64, e.g. 10**400 sent through an API
        raise MennyError(
            f"kernel weights must be between -{MAX_KERNEL_WEIGHT:,.0f} and "
            f"{MAX_KERNEL_WEIGHT:,.0f}, got an integer too large for a float"
        ) from None
    except (TypeError, ValueError):
        raise WrongType(
            f"the kernel must be a 2-D grid of numbers, got {type(array).__name__}"
        ) from None
    if values.ndim != 2:
        raise MennyError(f"the kernel must be 2-D (rows x columns), got shape {values.shape}")
    if values.size == 0:
        raise MennyError("empty kernel: give at least one number")
    check_sides(*values.shape, "kernel", MAX_KERNEL_SIDE)
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, col = bad[0]
        raise MennyError(
            f"row {row + 1}, column {col + 1}: {values[row, col]:g} is not a finite number; "
            "every entry must be finite"
        )
    bad = np.argwhere(np.abs(values) > MAX_KERNEL_WEIGHT)
    if len(bad):
        row, col = bad[0]
        raise MennyError(
            f"kernel weights must be between -{MAX_KERNEL_WEIGHT:,.0f} and "
            f"{MAX_KERNEL_WEIGHT:,.0f}, got {values[row, col]:g} at row {row + 1}, column {col + 1}"
        )
    return np.ascontiguousarray(values, dtype=np.float32)


def parse_kernel(grid: object) -> np.ndarray:
    """A kernel from text or a table, as a float32 (rows, columns) array.

    grid: text with one row per line ("1 0 -1\\n2 0 -2\\n1 0 -1"; numbers separated by
    spaces, tabs or commas; brackets as in "[[1, 0], [0, 1]]" are fine), or a list of rows
    as a gr.Dataframe gives, or a numpy array / pandas DataFrame: what
    `number_grids.read_grid` reads. Numbers may be integers, decimals, fractions like 1/9,
    negative, or in exponent form, so the work is bounded by 15x15 short numbers whatever
    was sent.
    """
    return validate_kernel(read_grid(grid, "kernel", MAX_KERNEL_SIDE, _TOO_LARGE))


def format_kernel(kernel: object) -> str:
    """A kernel as editable text, one row per line, that `parse_kernel` reads back.

    Weights that are simple fractions are written as such ("1/9" reads better than
    0.111111, and parses back to the same float32); others with 6 significant digits.
    """
    weights = validate_kernel(kernel)
    return "\n".join("  ".join(_cell(value) for value in row) for row in weights.tolist())


def _cell(value: float) -> str:
    exact = Fraction(value).limit_denominator(256)
    return str(exact) if abs(float(exact) - value) < 1e-6 else f"{value:g}"
