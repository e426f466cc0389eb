"""The detector's answer and its calibration: hand-worked cases and statistical oracles."""

import numpy as np
import pytest

from menny_core.verdicts import (
    NO_FACE,
    NOT_SURE,
    SOMEONE_ELSE,
    Thresholds,
    box_iou,
    calibration,
    choose_face_threshold,
    choose_sure_threshold,
    fit_temperature,
    softmax,
    verdict,
)

CLASSES = ["Cody", "RJ", SOMEONE_ELSE]
T = Thresholds(face=0.4, sure=0.7)


@pytest.mark.parametrize(
    ("face", "probabilities", "expected"),
    [
        (0.39, [0.98, 0.01, 0.01], NO_FACE),  # no face, however sure the class head is
        (0.9, [0.1, 0.2, 0.7], SOMEONE_ELSE),
        (0.9, [0.6, 0.3, 0.1], NOT_SURE),
        (0.9, [0.1, 0.8, 0.1], "RJ"),
        (0.4, [0.7, 0.2, 0.1], "Cody"),  # at the thresholds: accepted
    ],
)
def test_the_verdict(face, probabilities, expected):
    assert verdict(face, probabilities, CLASSES, T) == expected


def test_thresholds_round_trip_and_are_checked():
    assert Thresholds.from_dict(T.to_dict()) == T
    with pytest.raises(ValueError, match=r"face threshold must be in \[0, 1\], got 2"):
        Thresholds(face=2)


def test_the_face_threshold_separates_with_balanced_accuracy():
    # 90 faces scoring 0.6..0.99, 10 no-faces 0.05..0.5: any cut in (0.5, 0.6) is perfect.
    faces, others = np.linspace(0.6, 0.99, 90), np.linspace(0.05, 0.5, 10)
    scores = np.concatenate([faces, others])
    cut = choose_face_threshold(scores, np.r_[np.ones(90), np.zeros(10)])
    assert 0.5 < cut < 0.6
    assert choose_face_threshold(faces, np.ones(90)) == 0.5  # nothing to separate


def test_the_face_threshold_weighs_known_faces_strangers_and_no_faces_the_same():
    """60 known faces at 0.9, 20 strangers spread over 0.3..0.7, 20 no-faces over 0.05..0.5.
    Pooled with the known faces, the strangers are a quarter of the faces, so keeping
    every no-face out (a cut above 0.5) wins; weighed as a kind of their own, catching the
    strangers above 0.3 is worth letting the no-faces above it in."""
    known, strangers = np.full(60, 0.9), np.linspace(0.3, 0.7, 20)
    others = np.linspace(0.05, 0.5, 20)
    scores = np.concatenate([known, strangers, others])
    is_face = np.r_[np.ones(80), np.zeros(20)]
    pooled = choose_face_threshold(scores, is_face)
    assert 0.5 < pooled < 0.52  # just above the highest no-face
    three = choose_face_threshold(scores, is_face, np.r_[np.zeros(60), np.ones(20), np.zeros(20)])

    def caught(cut: float) -> float:  # strangers said to be a face + no-faces kept out
        return (strangers >= cut).mean() + (others < cut).mean()

    assert three < pooled and caught(three) > caught(pooled) == 1.5


def test_the_sure_threshold_trades_one_wrong_name_for_two_doubts():
    top = np.array([0.95, 0.9, 0.85, 0.6, 0.55, 0.5])
    right = np.array([1, 1, 1, 0, 1, 0], bool)
    # Above 0.6: 3 right, 0 wrong = 3; all: 4 right, 2 wrong = 0; from 0.55: 4 - 2 = 2. The
    # cut goes halfway between the wrong 0.6 and the right 0.85.
    assert choose_sure_threshold(top, right) == pytest.approx(0.725)


def test_temperature_scaling_undoes_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 4)) * 1.5
    labels = np.array([rng.choice(4, p=p) for p in softmax(true_logits)])
    assert fit_temperature(3.0 * true_logits, labels) == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(true_logits, labels) == pytest.approx(1.0, rel=0.1)


def test_calibration_error_by_hand_and_for_a_calibrated_model():
    # Bin 0.9-1.0: 4 answers at 0.95, 2 right (0.5): |0.5 - 0.95| * 4/5; bin 0.5-0.6: one
    # answer at 0.55, right: |1 - 0.55| * 1/5.
    result = calibration([0.95] * 4 + [0.55], [1, 1, 0, 0, 1])
    assert result.ece == pytest.approx(0.45 * 0.8 + 0.45 * 0.2)
    assert [r[2] for r in result.rows] == [1, 4]
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0, 1, 20000)
    assert calibration(confidence, rng.random(20000) < confidence).ece < 0.02


def test_box_iou():
    a = np.array([[0.5, 0.5, 0.2, 0.2]])
    assert box_iou(a, a) == pytest.approx([1.0])
    # Shifted by half a width: overlap 0.1 x 0.2 = 0.02 of a union 0.04 + 0.04 - 0.02.
    assert box_iou(a, [[0.6, 0.5, 0.2, 0.2]]) == pytest.approx([1 / 3])
    assert box_iou(a, [[0.9, 0.9, 0.1, 0.1]]) == pytest.approx([0.0])


def test_the_reliability_picture_draws_a_bar_per_bin_at_its_accuracy():
    from menny_core.verdicts import reliability_picture

    picture = reliability_picture([(0.0, 0.5, 3, 0.3, 1.0), (0.5, 1.0, 7, 0.9, 0.5)], size=240)
    assert picture.shape == (240, 240, 3) and picture.dtype == np.uint8
    blue = np.all(picture == (90, 140, 220), axis=2)
    columns = blue.any(axis=0).nonzero()[0]
    left, right = blue[:, columns[5]].sum(), blue[:, columns[-5]].sum()
    assert left > 1.8 * right  # accuracy 1.0 on the left, 0.5 on the right
