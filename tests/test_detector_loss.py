"""The detector's loss: GIoU against a numpy oracle, and which pictures each term counts."""

import mlx.core as mx
import numpy as np
import pytest

from menny_core.model import MennyCNN
from menny_core.train_step import detector_loss, generalized_iou
from menny_core.verdicts import box_iou


def giou_oracle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU minus the share of the smallest enclosing box that neither box covers
    (Rezatofighi et al. 2019), from corners, with verdicts.box_iou for the IoU."""
    iou = box_iou(a, b)
    corners = lambda v: (v[:, :2] - v[:, 2:] / 2, v[:, :2] + v[:, 2:] / 2)  # noqa: E731
    (a0, a1), (b0, b1) = corners(a), corners(b)
    hull = (np.maximum(a1, b1) - np.minimum(a0, b0)).prod(axis=1)
    overlap = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod(axis=1)
    union = a[:, 2:].prod(axis=1) + b[:, 2:].prod(axis=1) - overlap
    return iou - (hull - union) / hull


def test_generalized_iou_matches_the_oracle_on_random_boxes():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0.2, 0.8, (200, 2)), rng.uniform(0.05, 0.6, (200, 2))], 1)
    b = np.concatenate([rng.uniform(0.2, 0.8, (200, 2)), rng.uniform(0.05, 0.6, (200, 2))], 1)
    got = np.array(generalized_iou(mx.array(a, mx.float32), mx.array(b, mx.float32)))
    np.testing.assert_allclose(got, giou_oracle(a, b), atol=1e-5)
    assert (got < 0).any() and (got > 0).any()  # disjoint and overlapping pairs both drawn


def test_generalized_iou_is_one_for_the_same_box_and_below_zero_when_far_apart():
    box = mx.array([[0.5, 0.5, 0.4, 0.3]])
    assert generalized_iou(box, box).item() == pytest.approx(1.0)
    # Two 0.2-wide squares 0.6 apart: no overlap, a hull of 0.8 x 0.2 of which 0.08 is covered.
    left, right = mx.array([[0.2, 0.5, 0.2, 0.2]]), mx.array([[0.8, 0.5, 0.2, 0.2]])
    assert generalized_iou(left, right).item() == pytest.approx(-(0.16 - 0.08) / 0.16, abs=1e-6)


def test_the_box_term_counts_only_faces_whose_box_is_known():
    """Moving the target box of a picture without a known box changes nothing; moving a
    known one changes the loss (the term is there, and only there)."""
    model = MennyCNN(3, "simple", detector=True)
    model.eval()
    images = mx.array(np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype(np.float32))
    labels, face = mx.array([0, 1]), mx.array([1.0, 1.0])
    has_box = mx.array([1.0, 0.0])
    box = mx.array([[0.5, 0.5, 0.3, 0.3], [0.5, 0.5, 0.3, 0.3]])
    moved_unknown = mx.array([[0.5, 0.5, 0.3, 0.3], [0.1, 0.9, 0.1, 0.1]])
    moved_known = mx.array([[0.1, 0.9, 0.1, 0.1], [0.5, 0.5, 0.3, 0.3]])
    base = detector_loss(model, images, labels, face, box, has_box)[0].item()
    assert detector_loss(model, images, labels, face, moved_unknown, has_box)[0].item() == base
    assert detector_loss(model, images, labels, face, moved_known, has_box)[0].item() > base


def test_faces_and_pictures_without_one_weigh_the_same_in_the_face_term():
    """One face and three pictures without one: the face term is the mean of the face's
    binary cross-entropy and the others' mean, so neither side wins by being more
    numerous (numpy oracle from the model's own logits)."""
    model = MennyCNN(3, "simple", detector=True)
    model.eval()
    images = mx.array(np.random.default_rng(2).normal(size=(4, 32, 32, 3)).astype(np.float32))
    labels, face = mx.array([1, 0, 0, 0]), mx.array([1.0, 0.0, 0.0, 0.0])
    box, has_box = mx.zeros((4, 4)), mx.zeros((4,))
    loss = detector_loss(model, images, labels, face, box, has_box)[0].item()
    logits, face_logit, _ = (np.array(a, np.float64) for a in model.detect(images))
    class_term = -(logits[0, 1] - np.log(np.exp(logits[0]).sum()))
    bce = np.log1p(np.exp(-face_logit[0])), np.log1p(np.exp(face_logit[1:])).mean()
    assert loss == pytest.approx(class_term + 0.5 * (bce[0] + bce[1]), rel=1e-5)


def test_a_batch_of_faces_only_gives_the_face_term_its_whole_weight():
    model = MennyCNN(3, "simple", detector=True)
    model.eval()
    images = mx.array(np.random.default_rng(3).normal(size=(2, 32, 32, 3)).astype(np.float32))
    labels, face = mx.array([1, 2]), mx.array([1.0, 1.0])
    loss = detector_loss(model, images, labels, face, mx.zeros((2, 4)), mx.zeros((2,)))[0]
    logits, face_logit, _ = (np.array(a, np.float64) for a in model.detect(images))
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    class_term = -(log_p[0, 1] + log_p[1, 2]) / 2
    assert loss.item() == pytest.approx(class_term + np.log1p(np.exp(-face_logit)).mean(), rel=1e-5)


def test_known_faces_strangers_and_no_faces_weigh_the_same_in_the_face_term():
    """Two known faces, one stranger (label 2) and one picture without a face: the face
    term is the mean of the three kinds' means; without a stranger label the stranger
    counts as one more face."""
    model = MennyCNN(3, "simple", detector=True)
    model.eval()
    images = mx.array(np.random.default_rng(4).normal(size=(4, 32, 32, 3)).astype(np.float32))
    labels, face = mx.array([0, 1, 2, 0]), mx.array([1.0, 1.0, 1.0, 0.0])
    box, has_box = mx.zeros((4, 4)), mx.zeros((4,))
    logits, face_logit, _ = (np.array(a, np.float64) for a in model.detect(images))
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    class_term = -(log_p[0, 0] + log_p[1, 1] + log_p[2, 2]) / 3
    said_face, said_none = np.log1p(np.exp(-face_logit)), np.log1p(np.exp(face_logit))
    kinds = said_face[:2].mean(), said_face[2], said_none[3]
    loss = detector_loss(model, images, labels, face, box, has_box, stranger_label=2)[0]
    assert loss.item() == pytest.approx(class_term + np.mean(kinds), rel=1e-5)
    two_sides = (said_face[:3].mean() + said_none[3]) / 2
    loss = detector_loss(model, images, labels, face, box, has_box)[0]
    assert loss.item() == pytest.approx(class_term + two_sides, rel=1e-5)
