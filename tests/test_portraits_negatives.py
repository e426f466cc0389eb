"""Pictures without a face: every kind draws at any size, as RGB uint8, the same for the same
seed and different for another, with some structure in it (not a flat colour)."""

import re

import numpy as np
import pytest

from menny_base.errors import MennyError
from menny_core.portraits import NEGATIVE_KINDS, render_negative


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_there_are_many_kinds_from_noise_to_near_faces():
    assert len(NEGATIVE_KINDS) == len(set(NEGATIVE_KINDS)) >= 15
    for kind in ("pink_noise", "shapes", "text", "scene", "backdrop", "skin_ovals", "stripes"):
        assert kind in NEGATIVE_KINDS


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_every_kind_draws_at_several_sizes_as_rgb_uint8(kind):
    for size in (32, 57, 128, 200):
        image = render_negative(size, size, kind)
        array = np.asarray(image)
        assert (image.size, image.mode, array.dtype) == ((size, size), "RGB", np.uint8), size


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_every_kind_is_deterministic_per_seed_and_varies_between_seeds(kind):
    first = pixels(render_negative(5, 96, kind))
    again = pixels(render_negative(np.random.default_rng(5), 96, kind))  # same numbers
    other = pixels(render_negative(6, 96, kind))
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 3


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_every_kind_has_structure_not_one_flat_colour(kind):
    for seed in range(4):
        image = pixels(render_negative(seed, 96, kind))
        assert image.std(axis=(0, 1)).max() > 2, seed


def test_a_generator_is_drawn_from_so_consecutive_pictures_differ():
    rng = np.random.default_rng(0)
    one, two = pixels(render_negative(rng, 64)), pixels(render_negative(rng, 64))
    assert not np.array_equal(one, two)


def test_no_kind_given_means_any_kind():
    # Without a kind, the seed picks one: over many seeds the pictures are of many kinds,
    # so they differ in their colour statistics far more than one kind's do.
    means = [pixels(render_negative(seed, 48)).mean(axis=(0, 1)) for seed in range(40)]
    assert len({tuple(m.round()) for m in means}) == 40
    assert np.std(means, axis=0).max() > 20


def test_pictures_are_lit_like_portraits_so_light_tells_nothing():
    # The same shading gradient as a portrait's: over many pictures, one side is brighter
    # than the other about as often as not, and by up to ~x1.5.
    ratios = []
    for seed in range(30):
        image = pixels(render_negative(seed, 64, "backdrop")).astype(np.float64) + 1
        ratios.append(image[:, :32].mean() / image[:, 32:].mean())
    assert min(ratios) < 0.9 and max(ratios) > 1.1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: render_negative(0, 64, "faces"), "kind must be None or one of pink_noise, "),
        (lambda: render_negative(0, 16), "size must be >= 32, got 16"),
        (lambda: render_negative(-3), "seed must be >= 0, got -3"),
    ],
)
def test_bad_arguments_say_what_is_allowed(call, message):
    with pytest.raises(MennyError, match=re.escape(message)):
        call()
