"""Detector scenes: the box says where the face really landed, no-face scenes have none,
and a stream is reproducible whatever its threads."""

import numpy as np
import pytest

from menny_core.scenes import (
    FACE_SHARE,
    NO_FACE,
    Picture,
    SceneAugment,
    compose,
    scene_arrays,
    scene_stream,
)

STILL = SceneAugment(flip_prob=0.0, grey_prob=0.0, rotation_degrees=0.0)
GREEN = (0, 255, 0)


def photo_with_a_green_face(width=150, height=120, box=(40, 30, 50, 60)) -> Picture:
    """A red photo whose face box is painted green: where the green lands is the truth."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 0] = 255
    x, y, w, h = box
    pixels[y : y + h, x : x + w] = GREEN
    return Picture(pixels, 2, box)


BLUE = Picture(np.full((80, 100, 3), (0, 0, 255), np.uint8), NO_FACE)


def green_share(pixels: np.ndarray, box: np.ndarray) -> float:
    size = pixels.shape[0]
    cx, cy, w, h = box * size
    x0, y0, x1, y1 = (round(v) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    inside = pixels[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].reshape(-1, 3)
    return float(np.mean(np.all(np.abs(inside.astype(int) - GREEN) < 60, axis=1)))


@pytest.mark.parametrize("seed", range(12))
def test_the_box_is_where_the_face_landed(seed):
    pixels, box, has_box = compose(
        photo_with_a_green_face(), BLUE, 64, np.random.default_rng(seed), STILL
    )
    assert has_box and pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    assert green_share(pixels, box) > 0.95
    # The whole face is in the frame, its longer side 35-100% of the frame's.
    cx, cy, w, h = box
    assert 0 <= cx - w / 2 <= cx + w / 2 <= 1 and 0 <= cy - h / 2 <= cy + h / 2 <= 1
    assert FACE_SHARE[0] - 0.03 <= max(w, h) <= FACE_SHARE[1] + 1e-6
    # Nothing green outside the box (a little at its rounded border).
    assert np.mean(np.all(pixels == GREEN, axis=2)) <= w * h + 4 * (w + h) / 64


def test_a_mirrored_scene_mirrors_its_box():
    flip = SceneAugment(flip_prob=1.0, grey_prob=0.0, rotation_degrees=0.0)
    still = compose(photo_with_a_green_face(), BLUE, 64, np.random.default_rng(3), STILL)
    mirrored = compose(photo_with_a_green_face(), BLUE, 64, np.random.default_rng(3), flip)
    np.testing.assert_array_equal(mirrored[0], still[0][:, ::-1])
    assert mirrored[1][0] == pytest.approx(1 - still[1][0])
    assert green_share(mirrored[0], mirrored[1]) > 0.95


def test_no_face_scenes_have_no_box_and_an_unknown_box_is_not_trained():
    pixels, box, has_box = compose(BLUE, BLUE, 32, np.random.default_rng(0), STILL)
    assert not has_box and not box.any() and pixels.shape == (32, 32, 3)
    unboxed = Picture(photo_with_a_green_face().pixels, 1, None)
    _, box, has_box = compose(unboxed, BLUE, 32, np.random.default_rng(0), STILL)
    assert not has_box and not box.any()


def test_scene_batches_carry_every_target():
    pictures = [photo_with_a_green_face(), BLUE] * 5
    arrays = scene_arrays(pictures, [BLUE], 32, seed=0)
    assert arrays["image"].shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(np.sort(arrays["face"]), [0] * 5 + [1] * 5)
    assert set(arrays["label"][arrays["face"] == 1]) == {2}
    np.testing.assert_array_equal(arrays["has_box"], arrays["face"])


def test_a_stream_is_the_same_for_a_seed_whatever_its_threads():
    pictures = [photo_with_a_green_face(), BLUE] * 6

    def epoch(seed, threads):
        return list(scene_stream(pictures, [BLUE], 32, 5, seed, threads=threads))

    one, two = epoch(4, 1), epoch(4, 2)
    assert [b["image"].shape[0] for b in one] == [5, 5, 2]
    for a, b in zip(one, two, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(one[0]["image"], epoch(5, 1)[0]["image"])
    assert one[0]["image"].dtype == np.float32  # normalised for the model


@pytest.mark.parametrize("seed", range(8))
def test_a_whole_photo_scene_carries_its_box_through_the_crop(seed):
    whole = SceneAugment(0.0, 0.0, 0.0, zoom=(1.0, 1.6), whole_photo=1.0)
    pixels, box, has_box = compose(
        photo_with_a_green_face(), BLUE, 48, np.random.default_rng(seed), whole
    )
    if not has_box:  # the zoomed crop missed the face entirely: no green in the frame
        assert not np.all(pixels == GREEN, axis=2).any() and not box.any()
        return
    assert green_share(pixels, box) > 0.9
    # All the green in the frame is inside the box (give or take its rounded border).
    assert np.mean(np.all(np.abs(pixels.astype(int) - GREEN) < 60, axis=2)) <= (
        box[2] * box[3] + 4 * (box[2] + box[3]) / 48
    )


def test_a_stream_is_one_epoch_and_an_exhausted_one_yields_nothing():
    """The chapter's loop stopped learning after epoch 1: it reused a spent stream."""
    stream = scene_stream([photo_with_a_green_face(), BLUE] * 3, [BLUE], 32, 4, seed=0)
    assert sum(len(b["label"]) for b in stream) == 6
    assert list(stream) == []  # spent: the trainer builds a new stream every epoch


@pytest.mark.parametrize("seed", range(6))
def test_a_view_resamples_only_its_crop_and_matches_scaling_the_whole_picture(seed):
    """`_view` resizes just the region it keeps (Pillow's resize box): the oracle scales
    the whole picture and then crops, as the textbook does. The two agree to rounding."""
    from PIL import Image

    from menny_core.scenes import _view

    rng = np.random.default_rng(100 + seed)
    pixels = rng.integers(0, 256, (90, 130, 3)).astype(np.uint8)
    pixels = np.asarray(Image.fromarray(pixels).resize((130, 90), Image.Resampling.BOX))
    view, scale_x, scale_y, left, top = _view(Picture(pixels, NO_FACE).image, 64, rng)
    new = (round(130 * scale_x), round(90 * scale_y))
    whole = Image.fromarray(pixels).resize(new, Image.Resampling.BILINEAR)
    oracle = np.asarray(whole.crop((left, top, left + 64, top + 64)), np.int16)
    assert np.abs(view.astype(np.int16) - oracle).max() <= 2


@pytest.mark.parametrize("seed", range(6))
def test_a_pasted_face_is_the_scaled_photo_cropped_to_the_frame(seed):
    """`_place` resamples only the part of the photo inside the frame; the oracle pastes the
    whole scaled photo. Same pixels to rounding, same box."""
    from PIL import Image

    from menny_core.scenes import _place

    face = photo_with_a_green_face()
    face = Picture(
        np.random.default_rng(seed).integers(0, 256, (120, 150, 3), np.uint8), 2, face.box
    )
    canvas = np.zeros((64, 64, 3), np.uint8)
    scene, box = _place(face, canvas, 64, np.random.default_rng(seed), (0.35, 1.0))
    rng = np.random.default_rng(seed)  # the same draws, done the textbook way
    bx, by, bw, bh = face.box
    scale = rng.uniform(0.35, 1.0) * 64 / max(bw, bh)
    left, top = rng.uniform(0, max(0.0, 64 - bw * scale)), rng.uniform(0, max(0.0, 64 - bh * scale))
    new = (round(150 * scale), round(120 * scale))
    oracle = Image.fromarray(canvas)
    oracle.paste(
        face.image.resize(new, Image.Resampling.BILINEAR),
        (round(left - bx * scale), round(top - by * scale)),
    )
    assert np.abs(scene.astype(np.int16) - np.asarray(oracle, np.int16)).max() <= 2
    assert 0 < box[2] <= 1 and 0 < box[3] <= 1
