"""Grids of numbers as people type or paste them: text, a spreadsheet's cells, a table.

`read_grid` turns what a learner gave into a float64 (rows, columns) array, or one sentence
saying what is wrong. It serves every grid the app reads: a kernel (kernels.parse_kernel)
and the grid lab's input (grid_lab.parse_grid), so both accept the same things:

- text, one row per line; numbers separated by spaces, tabs or commas, so a block copied
  from a spreadsheet (tab-separated rows) pastes as it is; brackets as in "[[1, 2], [3, 4]]"
  and ";" between rows also work;
- a list of rows as gr.Dataframe gives (cells are numbers, strings or None; empty trailing
  rows and columns are ignored), a numpy array or a pandas DataFrame.

Numbers may be integers, decimals, fractions like 1/9, negative, or in exponent form; text
cells are read by `numbers.parse_number` (at most 32 characters, exponents -45..38), and the
size is checked before any cell is read, so the work is bounded whatever was sent.
"""

from __future__ import annotations

import math
import re

import numpy as np

from menny_base.errors import MennyError, WrongType
from menny_base.numbers import NumberError, parse_number


def read_grid(grid: object, name: str, max_side: int, too_large: str) -> np.ndarray:
    """`grid` (text or rows, see the module docstring) as a float64 (rows, columns) array.

    name: what the grid is, for the sentences ("kernel", "input grid"); max_side: the
    largest number of rows or columns; too_large: the advice for a Python integer beyond
    float64 ("kernel weights must be between -1,000,000 and 1,000,000").
    Values are only checked to be numbers here; their range is the caller's rule.
    """
    if isinstance(grid, str):
        return np.array(_numbers(_text_rows(grid), name, max_side, too_large), np.float64)
    if hasattr(grid, "to_numpy"):  # a pandas DataFrame from gr.Dataframe
        grid = grid.to_numpy(dtype=object).tolist()
    elif isinstance(grid, np.ndarray) and grid.dtype != object:
        if grid.ndim == 2 and grid.size:
            check_sides(*grid.shape, name, max_side)
        return grid
    elif isinstance(grid, np.ndarray):
        grid = grid.tolist()
    if not isinstance(grid, (list, tuple)):
        raise WrongType(f"the {name} must be text or a list of rows, got {type(grid).__name__}")
    return np.array(_numbers(_table_rows(grid), name, max_side, too_large), np.float64)


def check_sides(rows: int, cols: int, name: str, max_side: int) -> None:
    """A sentence if a grid of rows x cols is larger than max_side x max_side."""
    if max(rows, cols) > max_side:
        raise MennyError(f"{name} is {rows}x{cols}; the largest allowed is {max_side}x{max_side}")


def _text_rows(text: str) -> list[list[str]]:
    # Brackets become row breaks so "[[1, 2], [3, 4]]" reads as two rows.
    text = text.replace("\u2212", "-").replace("[", " ").replace("]", "\n").replace(";", "\n")
    lines = [line for line in text.splitlines() if line.strip(" ,\t")]
    return [[t for t in re.split(r"[,\s]+", line) if t] for line in lines]


def _blank(cell: object) -> bool:
    if cell is None:
        return True
    if isinstance(cell, float) and math.isnan(cell):
        return True  # pandas shows an empty Dataframe cell as NaN; typed "nan" is a string
    return isinstance(cell, str) and not cell.strip()


def _table_rows(grid: list | tuple) -> list[list[object]]:
    rows = []
    for index, row in enumerate(grid, start=1):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__iter__"):
            raise WrongType(f"row {index} must be a list of cells, got {row!r}")
        rows.append(list(row))
    while rows and all(_blank(c) for c in rows[-1]):
        rows.pop()  # trailing empty rows of a table
    for row in rows:
        while row and _blank(row[-1]):
            row.pop()  # trailing empty columns
    for r, row in enumerate(rows, start=1):
        for c, cell in enumerate(row, start=1):
            if _blank(cell):
                raise MennyError(f"row {r}, column {c} is empty: every cell needs a number")
    return rows


def _numbers(rows: list[list[object]], name: str, max_side: int, too_large: str):
    if not rows:
        raise MennyError(f"empty {name}: give at least one number")
    # The size first: a grid of a million cells is refused before any of them is read.
    check_sides(len(rows), max(len(row) for row in rows), name, max_side)
    values = [
        [_number(cell, r, c, too_large) for c, cell in enumerate(row, 1)]
        for r, row in enumerate(rows, 1)
    ]
    width = len(values[0])
    for r, row in enumerate(values, start=1):
        if len(row) != width:
            raise MennyError(
                f"the {name} must be rectangular: row {r} has {len(row)} numbers, row 1 has {width}"
            )
    return values


def _number(cell: object, row: int, col: int, too_large: str) -> float:
    if isinstance(cell, bool):
        raise MennyError(f"row {row}, column {col}: {cell!r} is not a number")
    if isinstance(cell, (int, float, np.integer, np.floating)):
        try:
            value = float(cell)
        except OverflowError:  # a Python int beyond float64 (JSON allows any length)
            raise MennyError(
                f"row {row}, column {col}: the integer is too large; {too_large}"
            ) from None
        if not math.isfinite(value):
            raise MennyError(f"row {row}, column {col}: {cell!r} is not a finite number")
        return value
    try:
        return parse_number(str(cell))
    except NumberError as error:
        raise NumberError(f"row {row}, column {col}: {error}") from None
