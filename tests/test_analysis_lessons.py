"""The analysis panels' Learn text says the measured numbers, and says honestly when the
course's claim does not show."""

import numpy as np

from kernels_playground.arithmetic import receptive_field
from menny_core.analysis_lessons import erf_lesson, errors_summary, shift_lesson
from menny_core.error_analysis import ErrorReport, ImageResult
from menny_core.receptive import ErfMap
from menny_core.translation import ShiftResult


def erf_map(half_side: float, share: float = 0.9) -> ErfMap:
    field = receptive_field([(3, 1, 1), (2, 2, 0), (3, 1, 1)])[-1]  # r = 8
    heat = np.zeros((16, 16), np.float32)
    return ErfMap(
        "block 2 conv", 3, heat, (4, 4), (5, 5, 13, 13), field, share, half_side, 6.0, 5, 1.5, 0.8
    )


def test_erf_lesson_with_a_concentrated_field():
    text = erf_lesson(erf_map(3.0, 0.93), erf_map(5.0, 0.81), "the weights it started from")
    assert "| | trained | untrained (the weights it started from) |" in text
    assert "**block 2 conv, channel 3, centre unit (4, 4)**, averaged over 5 test image(s)" in text
    assert "r = 8 pixels, `r = 4 + (3 - 1)*2 = 8`" in text
    assert "| gradient mass inside the square | 93% | 81% |" in text
    assert "| centred square holding half the mass | 3 px | 5 px |" in text
    assert "the trained unit's half fits in 3. The effective field is smaller" in text
    assert "| Gaussian fitted inside the square: sigma, R^2 | 1.5 px, 0.80 | 1.5 px, 0.80 |" in text
    assert "roughly Gaussian: a Gaussian bump with sigma 1.5 pixels explains 80%" in text


def test_erf_lesson_says_when_the_claim_does_not_show():
    text = erf_lesson(erf_map(7.0), erf_map(5.0))
    assert "this unit needs 7, so the course's claim" in text and "does not show" in text


def test_errors_summary_names_the_surest_mistake_and_the_closest_call():
    rows = [
        ImageResult("a/1.png", "a1", 0, 1, (0.2, 0.8)),
        ImageResult("a/2.png", "a2", 0, 0, (0.55, 0.45)),
        ImageResult("b/1.png", "b1", 1, 1, (0.1, 0.9)),
    ]
    text = errors_summary(ErrorReport(["a", "b"], rows), "a test")
    assert text.startswith("**1 of 3 test images wrong** (a test).")
    assert "a/1\\.png, a a called b with 80%" in text  # markdown-escaped: shown as typed
    assert "a/2\\.png at 55% for a" in text


def test_shift_lesson_tells_equivariance_from_invariance():
    shifts = np.array([-8, 0, 8])
    probabilities = np.array([[0.3, 0.7], [0.9, 0.1], [0.6, 0.4]])
    maps = np.zeros((4, 4, 1), np.float32)
    result = ShiftResult(["a", "b"], shifts, probabilities, 8, np.zeros((4, 4, 3), np.uint8),
                         "block 2 conv", 2, 4, maps, maps, 0.987, 0.321)  # fmt: skip
    text = shift_lesson(result, ["a", "b"])
    assert "a: 90% unshifted, 60% shifted; Menny now says a (60%)" in text
    assert "move 4 cell(s)" in text and "correlation **0.987**" in text
    assert "where it was: 0.321" in text
    assert "a's probability falls as low as 30% (at -8)" in text
