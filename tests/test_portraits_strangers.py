"""Strangers: never a near-copy of one of the four, varied in every trait, and drawable in
every view and size by the same code that draws the four (whose pixels stay the same)."""

import dataclasses
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from menny_core.portraits import CHARACTERS, CLASSES, VIEWS, draw_portrait, random_stranger
from menny_core.portraits import strangers as module
from menny_core.portraits.clothes import STRANGERS_CLOTHES
from menny_core.portraits.hair import HAIRLINES

PORTRAITS = Path(__file__).resolve().parents[1] / "portraits"
SHAPE_TRAITS = ("face_shape", "hair_style", "eye_style", "clothing", "mouth")


def crowd(count: int = 500):
    return [random_stranger(np.random.default_rng(seed)) for seed in range(count)]


def differing_traits(one, two) -> int:
    """Counted here, not with the module's own helper: an independent oracle."""
    shapes = sum(getattr(one, trait) != getattr(two, trait) for trait in SHAPE_TRAITS)
    return shapes + (math.dist(one.hair_colour, two.hair_colour) > 60)


def test_a_stranger_differs_from_every_family_member_in_at_least_three_traits():
    for index, stranger in enumerate(crowd()):
        for member in CHARACTERS.values():
            assert differing_traits(stranger, member) >= 3, (index, member.name, stranger)


def test_strangers_are_called_someone_else_and_described():
    for stranger in crowd(20):
        assert stranger.name == "someone else" == module.STRANGER
        assert stranger.description.startswith("stranger: ")
        assert stranger.face_shape in stranger.description


def test_the_same_seed_gives_the_same_stranger():
    assert random_stranger(np.random.default_rng(9)) == random_stranger(np.random.default_rng(9))
    assert random_stranger(np.random.default_rng(9)) != random_stranger(np.random.default_rng(10))


def test_strangers_cover_the_vocabularies():
    people = crowd()
    for trait, vocabulary in (
        ("face_shape", module.FACE_SHAPES),
        ("hair_style", module.HAIR_STYLES),
        ("eye_style", module.EYE_STYLES),
        ("clothing", module.CLOTHING),
        ("mouth", module.MOUTHS),
    ):
        seen = Counter(getattr(p, trait) for p in people)
        assert set(seen) == set(vocabulary), trait
    accessories = Counter(a for p in people for a in p.accessories)
    assert set(accessories) == set(module.ACCESSORIES)
    # Hair from black through brown, grey and white to dyed colours; skin from very light
    # to very dark (luma, 0..255).
    assert len({p.hair_colour for p in people}) > 200
    luma = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in (p.skin for p in people)]
    assert min(luma) < 60 and max(luma) > 215
    assert sum(v < 120 for v in luma) > 100  # many dark skins, not a token few
    assert len({p.head_width for p in people}) == 500 and len({p.head_ratio for p in people}) == 500
    assert {len(p.favourites) for p in people} == {3}


def test_the_new_styles_have_drawing_code():
    assert set(module.HAIR_STYLES) - {"bald"} <= set(HAIRLINES)
    assert set(module.CLOTHING) - set(STRANGERS_CLOTHES) == {
        CHARACTERS[name].clothing for name in CLASSES
    }


@pytest.mark.parametrize("size", [32, 64, 160])
def test_every_stranger_trait_draws_in_every_view(size):
    base = random_stranger(np.random.default_rng(0))
    variants = [dataclasses.replace(base, hair_style=s) for s in module.HAIR_STYLES]
    variants += [dataclasses.replace(base, clothing=c) for c in module.CLOTHING]
    variants += [dataclasses.replace(base, mouth=m) for m in module.MOUTHS]
    variants += [dataclasses.replace(base, eye_style=e) for e in module.EYE_STYLES]
    variants += [dataclasses.replace(base, accessories=tuple(module.ACCESSORIES))]
    for k, who in enumerate(variants):
        view = VIEWS[k % len(VIEWS)]
        image, (x, y, w, h) = draw_portrait(who, view, k, size)
        assert (image.size, image.mode) == ((size, size), "RGB")
        assert w > 0 and h > 0 and x + w <= size and y + h <= size


def test_strangers_look_different_from_each_other():
    one, two = (
        np.asarray(draw_portrait(random_stranger(rng), "front", rng, 96)[0], dtype=np.int16)
        for rng in (np.random.default_rng(1), np.random.default_rng(2))
    )
    assert np.abs(one - two).mean() > 10


def test_the_four_are_drawn_pixel_for_pixel_as_the_bundled_dataset():
    # Strangers share the drawing code; the four's pictures must not move by a single level.
    # Image k (view k mod 7) of class c is drawn from the seed sequence (0, c, k).
    for k, view in enumerate(VIEWS):
        c = k % len(CLASSES)
        name = CLASSES[c]
        rng = np.random.default_rng(np.random.SeedSequence([0, c, k]))
        drawn = np.asarray(draw_portrait(CHARACTERS[name], view, rng, 512)[0])
        with Image.open(PORTRAITS / name / f"{view}_{k:03d}.png") as bundled:
            assert np.array_equal(drawn, np.asarray(bundled)), (name, view)
