"""The Learn text of the analysis panels, written with the measured numbers: the error
report, the effective receptive field and the shift experiment."""

from __future__ import annotations

import math

import numpy as np

from menny_core.error_analysis import ErrorReport
from menny_core.markdown import escape
from menny_core.receptive import ErfMap
from menny_core.translation import ShiftResult

GAUSSIAN_R2 = 0.5  # "roughly Gaussian": a fitted bump explains at least half the variation
SMALLER = 0.9  # "smaller than the square": half the mass within 90% of the even field's side


def _fit(erf: ErfMap) -> str:
    if math.isnan(erf.gaussian_r2):
        return "-"
    return f"{erf.sigma:.1f} px, {erf.gaussian_r2:.2f}"


def _share(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def errors_summary(report: ErrorReport, source: str) -> str:
    """One paragraph: how many test images, how many wrong (the surest mistake named),
    and the closest call among the right answers."""
    total, wrong = len(report.images), report.misclassified()
    lines = [f"**{len(wrong)} of {total} test images wrong** ({escape(source)})."]
    if wrong:
        worst = wrong[0]
        lines.append(
            f"The surest mistake: {escape(worst.file)}, a {escape(report.classes[worst.true])} "
            f"called {escape(report.classes[worst.predicted])} with {worst.confidence:.0%}."
        )
    right = sorted((r for r in report.images if r.correct), key=lambda r: r.p_true)
    if right:
        close = right[0]
        lines.append(
            f"The closest call among the right answers: {escape(close.file)} at "
            f"{close.p_true:.0%} for {escape(report.classes[close.true])}: the next mistake, "
            "if anything drifts."
        )
    lines.append(
        "Click a cell of the confusion matrix to see its images (red frame: wrong, green: "
        "right; under each, what Menny said and its probability for the true class)."
    )
    return " ".join(lines)


def erf_lesson(trained: ErfMap, untrained: ErfMap, untrained_is: str = "seed 0") -> str:
    """What the two ERF maps show, in their numbers, and whether the course's claim
    (smaller than the square, roughly Gaussian) holds here. untrained_is: what the
    untrained column is, for its heading."""
    field = trained.field
    r, stage = field.size, trained.stage
    side = trained.heat.shape[0]
    clipped = " (clipped to the picture)" if r > side else ""
    text = [
        f"**{stage}, channel {trained.channel}, centre unit {trained.unit}**, averaged over "
        f"{trained.images} test image(s). Theoretical receptive field (cyan square): "
        f"r = {r} pixels{clipped}, `{field.formula}`.",
        "",
        f"| | trained | untrained ({escape(untrained_is)}) |",
        "|---|---|---|",
        f"| gradient mass inside the square | {_share(trained.share)} | "
        f"{_share(untrained.share)} |",
        f"| centred square holding half the mass | {trained.half_side:.0f} px | "
        f"{untrained.half_side:.0f} px |",
        f"| the same if the square's pixels counted alike | {trained.even_side:.0f} px | "
        f"{untrained.even_side:.0f} px |",
        f"| Gaussian fitted inside the square: sigma, R^2 | {_fit(trained)} | {_fit(untrained)} |",
        "",
    ]
    even = trained.even_side
    if not math.isnan(trained.half_side) and trained.half_side < SMALLER * even:
        text.append(
            f"If every pixel of the square counted alike, half the mass would need a centred "
            f"square of {even:.0f} pixels; the trained unit's half fits in "
            f"{trained.half_side:.0f}. The effective field is smaller than the theoretical one "
            "and piles up in the middle, as the course says: pixels in the middle of the "
            "square reach the unit along many paths through the stacked kernels, those at "
            "its edge along few."
        )
    else:
        text.append(
            f"If every pixel of the square counted alike, half the mass would need a centred "
            f"square of {even:.0f} pixels; this unit needs {trained.half_side:.0f}, so the "
            "course's claim (a smaller, roughly Gaussian effective field) does not show for "
            "it: try another channel or a deeper layer."
        )
    if not math.isnan(trained.gaussian_r2):
        shape = "roughly Gaussian" if trained.gaussian_r2 >= GAUSSIAN_R2 else "not Gaussian"
        text.append(
            f"\nInside the square the trained field is {shape}: a Gaussian bump with sigma "
            f"{trained.sigma:.1f} pixels explains {trained.gaussian_r2:.0%} of how its gradient "
            f"varies (untrained: {untrained.gaussian_r2:.0%})."
        )
    text.append(
        "\nMenny standardises each picture first (its own mean and spread), so every pixel "
        "nudges every unit a little: that is the faint glow outside the square, and why the "
        "share is not 100%."
    )
    return "\n".join(text)


def shift_lesson(result: ShiftResult, classes: list[str]) -> str:
    """Equivariance and invariance told apart, with the experiment's numbers."""
    before, after = result.at(0), result.at(result.shift)
    top = int(np.argmax(before))
    now = int(np.argmax(after))
    name = escape(classes[top])
    lowest = float(result.probabilities[:, top].min())
    where = int(result.shifts[int(np.argmin(result.probabilities[:, top]))])
    return "\n".join(
        [
            f"**Shift {result.shift:+d} pixels.** {name}: {before[top]:.0%} unshifted, "
            f"{after[top]:.0%} shifted; Menny now says {escape(classes[now])} "
            f"({after[now]:.0%}).",
            "",
            f"**Equivariance: the maps move.** {result.stage} has a jump of {result.jump} "
            f"pixels, so its map should move {result.cells} cell(s). The shifted picture's map "
            f"against the original moved by {result.cells} cell(s): correlation "
            f"**{result.aligned:.3f}**; against the original where it was: "
            f"{result.unaligned:.3f}. Convolution slides one kernel everywhere, so what it "
            "finds moves with the face; it is not exactly 1 because the strip filled with the "
            "edge colour and the picture's new mean and spread are new input.",
            "",
            f"**Invariance: does the answer stay?** Over shifts of {int(result.shifts.min())} "
            f"to {int(result.shifts.max())} pixels, {name}'s probability falls as low as "
            f"{lowest:.0%} (at {where:+d}). Nothing in a CNN promises invariance: pooling and "
            "global averaging buy some, a face pushed off the frame or onto the padding is "
            "another picture, and training with crops and flips teaches the rest.",
        ]
    )
