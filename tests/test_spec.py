"""ConvSpec: a convolution's settings checked once, then trusted by every function."""

import numpy as np
import pytest

from kernels_playground.convolve import apply_kernel
from kernels_playground.explain import input_window, step_at
from kernels_playground.spec import ConvSpec
from menny_base.errors import MennyError


def test_the_settings_are_checked_once_and_kept():
    spec = ConvSpec([[0, 1, 0], [1, -4, 1], [0, 1, 0]], stride=2.0, padding="same", flip=True)
    assert spec.kernel.dtype == np.float32 and spec.stride == 2 and isinstance(spec.stride, int)
    assert ConvSpec.of(spec) is spec
    np.testing.assert_array_equal(spec.weights, spec.kernel[::-1, ::-1])
    with pytest.raises(MennyError, match="either a ConvSpec or options"):
        ConvSpec.of(spec, stride=1)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"stride": 0}, "stride must be >= 1, got 0"),
        ({"edge": "mirror"}, "edge must be one of zero, valid, replicate, reflect"),
        ({"mode": "rgb"}, "mode must be one of luminance, per_channel"),
        ({"flip": "no"}, "flip must be true or false, got 'no'"),
    ],
)
def test_bad_settings_are_refused_before_any_image(settings, message):
    with pytest.raises(MennyError, match=message):
        ConvSpec(np.ones((3, 3)), **settings)


def test_a_spec_and_loose_settings_give_the_same_map_and_steps():
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3)).astype(np.uint8)
    spec = ConvSpec(np.arange(9.0).reshape(3, 3), stride=2, padding=1, edge="reflect")
    loose = dict(stride=2, padding=1, edge="reflect")
    feature = apply_kernel(image, spec)
    np.testing.assert_array_equal(
        feature, apply_kernel(image, np.arange(9.0).reshape(3, 3), **loose)
    )
    reused = step_at(image, spec, 4, 7, feature_map=feature)  # the map is not computed again
    fresh = step_at(image, np.arange(9.0).reshape(3, 3), 4, 7, **loose)
    assert reused.value == fresh.value == pytest.approx(reused.total, rel=1e-5)
    assert input_window(image, spec, 4, 7) == fresh.window
