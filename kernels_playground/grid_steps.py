"""One output cell of the grid lab explained: which input cells made it, and how.

`pin(lab, row, col)` gives the cells of `Lab.shown` the output reads (convolution and
pooling: the window, padding included; transposed convolution: the inputs that stamp onto
it) and the arithmetic in the learner's numbers: the products and their sum
(explain.step_at's, for convolution), the max or the mean of the window, or every stamp
x * kernel tap. Each is checked against the value the lab's core computed there, so the
explanation and the computation cannot drift apart. `position_of` numbers the output
cells in reading order, as the animation's frames do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels_playground.explain import markdown_table, short_number, step_at
from kernels_playground.grid_lab import Lab, conv_spec, transposed_of
from kernels_playground.transposed import stamps_at
from menny_base.numbers import whole


@dataclass(frozen=True)
class Pinned:
    """One output cell explained. cells: the (row, col) cells of `Lab.shown` it reads
    (transposed: the input cells that stamp onto it); value: the output there;
    markdown: the products (or the max, or the mean) and the sum, in the learner's numbers."""

    row: int
    col: int
    cells: list[tuple[int, int]]
    value: float
    markdown: str


def position_of(lab: Lab, index: int) -> tuple[int, int]:
    """The output (row, col) of the index-th cell in reading order (row by row)."""
    index = whole(index, "output position", 0, lab.positions - 1)
    return divmod(index, lab.output.shape[1])


def pin(lab: Lab, row: int, col: int) -> Pinned:
    """Explain output (row, col): which cells of `lab.shown` it reads and the arithmetic."""
    rows, cols = lab.output.shape
    row = whole(row, "output row", 0, rows - 1)
    col = whole(col, "output column", 0, cols - 1)
    value = float(lab.output[row, col])
    operation = lab.settings.operation
    if operation == "convolution":
        spec = conv_spec(lab.kernel, lab.settings)
        step = step_at(lab.grid.astype(np.float32), spec, row, col, feature_map=lab.output)
        w, (top, left) = step.window, lab.origin
        cells = [
            (top + w.top + u * w.dilation, left + w.left + v * w.dilation)
            for u in range(spec.kernel.shape[0])
            for v in range(spec.kernel.shape[1])
        ]
        return Pinned(row, col, cells, value, step.markdown())
    if operation == "transposed convolution":
        return _pin_transposed(lab, row, col, value)
    return _pin_pool(lab, row, col, value)


def _pin_pool(lab: Lab, row: int, col: int, value: float) -> Pinned:
    s, k = lab.settings.stride, lab.settings.window
    cells = [(row * s + u, col * s + v) for u in range(k) for v in range(k)]
    window = lab.shown[row * s : row * s + k, col * s : col * s + k]
    terms = ", ".join(cell_text(x) for x in window.ravel())
    if lab.settings.operation == "max pooling":
        total, text = float(window.max()), f"max({terms}) = {short_number(window.max())}"
    else:
        total = float(window.sum()) / window.size
        text = f"({terms.replace(', ', ' + ')}) / {window.size} = {short_number(total)}"
    if not np.isclose(total, value, rtol=1e-5, atol=1e-4):
        raise RuntimeError(
            f"the pooled map holds {value} at ({row}, {col}), the step gives {total}"
        )
    markdown = (
        f"**Output ({row}, {col})**: the {k}x{k} window at rows {row * s - lab.origin[0]}.."
        f"{row * s + k - 1 - lab.origin[0]}, columns {col * s - lab.origin[1]}.."
        f"{col * s + k - 1 - lab.origin[1]} of the input.\n\nWindow:\n\n"
        f"{markdown_table(np.where(np.isfinite(window), window, -np.inf))}\n\n`{text}`"
    )
    return Pinned(row, col, cells, value, markdown)


def _pin_transposed(lab: Lab, row: int, col: int, value: float) -> Pinned:
    stamps = stamps_at(lab.grid, lab.kernel, transposed_of(lab.settings), row, col)
    total = sum(s.x * s.k for s in stamps)
    if not np.isclose(total, value, rtol=1e-5, atol=1e-3):
        raise RuntimeError(f"the output holds {value} at ({row}, {col}), the stamps give {total}")
    if not stamps:
        what = (
            "no input stamps its kernel here (the stride leaves a gap, or this is output "
            "padding), so it stays 0"
        )
        return Pinned(row, col, [], value, f"**Output ({row}, {col})**: {what}.")
    lines = [
        f"- input ({s.i}, {s.j}) = {short_number(s.x)} times kernel tap ({s.u}, {s.v}) = "
        f"{short_number(s.k)}: {short_number(s.x * s.k)}"
        for s in stamps
    ]
    terms = " + ".join(f"{_paren(s.x)}*{_paren(s.k)}" for s in stamps)
    markdown = (
        f"**Output ({row}, {col})** gathers {len(stamps)} stamp(s): each input value x at "
        f"(i, j) adds x * kernel with tap (u, v) landing on (i*S + u*D - P, j*S + v*D - P).\n\n"
        + "\n".join(lines)
        + f"\n\n`{terms} = {short_number(total)}`"
    )
    return Pinned(row, col, [(s.i, s.j) for s in stamps], value, markdown)


def cell_text(value: float) -> str:
    """A grid cell as the lab writes it: 12 for 12.0, 0.1111 for 1/9, -inf (max pooling's
    padding) as -inf."""
    return "-inf" if value == -np.inf else short_number(value)


def _paren(value: float) -> str:
    text = short_number(value)
    return f"({text})" if text.startswith("-") else text
