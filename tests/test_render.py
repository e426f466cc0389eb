"""render_feature_map: exact pixel values."""

import numpy as np
import pytest

from kernels_playground.render import render_feature_map


def test_signed_map_is_blue_white_red_around_zero():
    rendered = render_feature_map(np.array([[-412.0, 0.0], [389.0, 206.0]]))
    assert rendered.signed and (rendered.low, rendered.high) == (-412.0, 389.0)
    image = rendered.image
    assert image.dtype == np.uint8 and image.shape == (2, 2, 3)
    assert image[0, 0].tolist() == [0, 0, 255]  # -412 is the scale: pure blue
    assert image[0, 1].tolist() == [255, 255, 255]  # 0 is white
    fade = round((1 - 389 / 412) * 255)  # 14
    assert image[1, 0].tolist() == [255, fade, fade]
    assert image[1, 1].tolist() == [255, 128, 128]  # half the scale: halfway to red
    assert rendered.note == (
        "values -412 .. 389 shown as blue (negative) .. white (0) .. red (positive), scaled by 412"
    )


def test_scale_is_the_larger_magnitude():
    image = render_feature_map(np.array([[-1.0, 4.0]])).image
    assert image[0, 1].tolist() == [255, 0, 0]
    assert image[0, 0].tolist() == [191, 191, 255]  # 1 - 1/4 = 0.75 -> 191


def test_non_negative_map_is_grey_from_zero():
    rendered = render_feature_map(np.array([[0.0, 50.0], [100.0, 200.0]]))
    assert not rendered.signed
    np.testing.assert_array_equal(rendered.image[..., 0], [[0, 64], [128, 255]])
    np.testing.assert_array_equal(rendered.image[..., 0], rendered.image[..., 2])
    assert rendered.note == "values 0 .. 200 shown as black .. white (divided by 200)"


@pytest.mark.parametrize("value,expected", [(0.0, 0), (7.5, 255)])
def test_constant_maps_do_not_divide_by_zero(value, expected):
    rendered = render_feature_map(np.full((3, 4), value, np.float32))
    assert rendered.image.shape == (3, 4, 3)
    assert (rendered.image == expected).all()


def test_per_channel_maps():
    rgb = np.zeros((1, 2, 3), np.float32)
    rgb[0, 0] = [10, 5, 0]
    rendered = render_feature_map(rgb)
    assert rendered.image[0, 0].tolist() == [255, 128, 0]
    assert rendered.note.startswith("3 channels shown as RGB")
    signed = render_feature_map(-rgb)
    assert signed.signed and signed.image[0, 0].tolist() == [255, 128, 0]
    assert "|value|" in signed.note
    single = render_feature_map(np.array([[[-2.0], [2.0]]]))
    assert single.image[0, 0].tolist() == [0, 0, 255]


def test_bad_maps():
    with pytest.raises(ValueError, match="NaN"):
        render_feature_map(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="shape"):
        render_feature_map(np.zeros(4))


def test_notes_write_extreme_values_compactly():
    huge = render_feature_map(np.array([[-5.1e32, 0.0], [1e30, 2.0]], np.float32))
    assert huge.note == (
        "values -5.1e+32 .. 1e+30 shown as blue (negative) .. white (0) .. red (positive), "
        "scaled by 5.1e+32"
    )
    assert huge.image[0, 0].tolist() == [0, 0, 255]
    third = render_feature_map(np.array([[1 / 9, 1 / 3]], np.float32))
    assert third.note == "values 0 .. 0.3333 shown as black .. white (divided by 0.3333)"
    box = render_feature_map(np.array([[0.0, 57375.0]]))  # a 15x15 box of ones on white uint8
    assert box.note == "values 0 .. 57375 shown as black .. white (divided by 57375)"
    signed = render_feature_map(np.array([[[-1020.0, 0.5, 0.0]]]))
    assert "(values -1020 .. 0.5; the sign is not shown)" in signed.note


def test_a_tiny_maximum_is_still_a_scale():
    rendered = render_feature_map(np.array([[1e-40, 0.0], [0.0, 0.0]], np.float32))  # subnormal
    assert rendered.note == "values 0 .. 1e-40 shown as black .. white (divided by 1e-40)"
    np.testing.assert_array_equal(rendered.image[..., 0], [[255, 0], [0, 0]])
    signed = render_feature_map(np.array([[-1e-40, 1e-40]], np.float32))
    assert signed.image.tolist() == [[[0, 0, 255], [255, 0, 0]]]
    assert signed.note.endswith("scaled by 1e-40")
