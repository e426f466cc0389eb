"""Strangers: people who are none of the four, so that a detector learns "a face" and a
classifier can learn "someone else" rather than "the nearest of the four".

A stranger mixes the four's traits with new ones (more face shapes, hair styles and colours,
skin tones from very light to very dark, eye styles and colours, garments, mouths,
accessories), under one rule: a stranger differs from EVERY family member in at least
MIN_DIFFERENCES of the six traits in `differences`, so it is never a near-copy of one of
them with, say, a new shirt. `draw_portrait(random_stranger(rng), view, rng)` draws one.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from menny_core.portraits.character import CHARACTERS, RGB, Character
from menny_core.portraits.draw import WARDROBE
from menny_core.portraits.features import shade

STRANGER = "someone else"  # every stranger's name
MIN_DIFFERENCES = 3
HAIR_COLOUR_DISTANCE = 60  # RGB distance from which two hair colours count as different

# Face shape -> (head_ratio range, jaw exponent range): the four's shapes and new ones.
FACE_SHAPES = {
    "square jaw": ((1.15, 1.28), (3.3, 4.0)),
    "round": ((0.95, 1.05), (1.9, 2.2)),
    "short oval": ((1.05, 1.15), (1.8, 2.0)),
    "long oval": ((1.35, 1.48), (1.6, 1.8)),
    "heart": ((1.12, 1.3), (1.35, 1.55)),
    "wide": ((0.86, 0.96), (2.4, 3.0)),
    "long square": ((1.32, 1.48), (2.9, 3.5)),
    "oval": ((1.18, 1.32), (2.0, 2.4)),
}
HAIR_STYLES = (
    "side-part", "spiky", "bob", "long-wavy", "crop", "bald", "ponytail", "bun", "curly",
)  # fmt: skip
HAIR_COLOURS: dict[str, RGB] = {
    "black": (25, 22, 24), "dark brown": (58, 40, 30), "brown": (100, 68, 42),
    "light brown": (150, 110, 70), "auburn": (135, 55, 35), "ginger": (205, 105, 45),
    "blonde": (225, 190, 120), "platinum": (235, 228, 205), "grey": (140, 140, 145),
    "silver": (196, 198, 204), "white": (235, 235, 232), "dyed blue": (45, 85, 200),
    "dyed pink": (225, 95, 165), "dyed purple": (115, 55, 165), "dyed green": (55, 150, 90),
    "dyed teal": (30, 140, 150),
}  # fmt: skip
EYE_STYLES = ("narrow", "round", "medium", "almond", "small", "wide", "hooded")
EYE_COLOURS: dict[str, RGB] = {
    "dark brown": (60, 35, 20), "brown": (95, 55, 28), "hazel": (120, 95, 45),
    "green": (60, 135, 70), "blue": (50, 120, 215), "grey": (120, 130, 140),
    "light blue": (110, 160, 210),
}  # fmt: skip
# Skin tones from very light to very dark; a stranger's lies between two neighbours.
SKIN_TONES: tuple[RGB, ...] = (
    (255, 226, 204), (244, 204, 178), (232, 188, 155), (214, 165, 125), (190, 135, 95),
    (160, 105, 70), (130, 82, 55), (100, 62, 42), (72, 46, 33), (52, 34, 26),
)  # fmt: skip
CLOTHING = (
    "cardigan", "hoodie", "striped-tee", "blouse", "t-shirt", "turtleneck", "shirt-tie", "jacket",
)  # fmt: skip
MOUTHS = ("thin", "grin", "smile", "lips", "neutral", "frown", "open")
# Accessory -> how often a stranger wears it.
ACCESSORIES = {
    "glasses": 0.25, "earrings": 0.2, "necklace": 0.15, "freckles": 0.15,
    "beard": 0.15, "moustache": 0.12,
}  # fmt: skip
LIPSTICKS: tuple[RGB, ...] = ((175, 45, 65), (150, 60, 80), (200, 80, 90), (120, 40, 60))

FAMILY = tuple(CHARACTERS.values())
_FAMILY_VALUES = {
    trait: {getattr(c, trait) for c in FAMILY}
    for trait in ("face_shape", "hair_style", "eye_style", "clothing", "mouth")
}
# What the four never have: choices that always make a stranger differ from all of them.
_NEW = {
    "face_shape": tuple(s for s in FACE_SHAPES if s not in _FAMILY_VALUES["face_shape"]),
    "hair_style": tuple(s for s in HAIR_STYLES if s not in _FAMILY_VALUES["hair_style"]),
    "eye_style": tuple(s for s in EYE_STYLES if s not in _FAMILY_VALUES["eye_style"]),
    "clothing": tuple(s for s in CLOTHING if s not in _FAMILY_VALUES["clothing"]),
    "mouth": tuple(s for s in MOUTHS if s not in _FAMILY_VALUES["mouth"]),
}


_FAR_HAIR = tuple(
    name
    for name, colour in HAIR_COLOURS.items()
    if all(math.dist(colour, c.hair_colour) > HAIR_COLOUR_DISTANCE for c in FAMILY)
)


def differences(one: Character, two: Character) -> int:
    """In how many of face shape, hair style, hair colour (RGB distance > 60), eye style,
    clothing and mouth the two differ (0..6)."""
    same_kind = sum(getattr(one, t) != getattr(two, t) for t in _NEW)
    far = math.dist(one.hair_colour, two.hair_colour) > HAIR_COLOUR_DISTANCE
    return same_kind + int(far)


def random_stranger(rng: np.random.Generator) -> Character:
    """A person who is none of the four (named STRANGER), drawn from `rng`.

    Traits are drawn independently from the vocabularies above; then, while the stranger
    is too close to a family member (fewer than MIN_DIFFERENCES different traits), one of
    the traits they share is replaced by a value none of the four has.
    """
    hair_name = str(rng.choice(list(HAIR_COLOURS)))
    traits = {
        "face_shape": str(rng.choice(list(FACE_SHAPES))),
        "hair_style": str(rng.choice(HAIR_STYLES)),
        "eye_style": str(rng.choice(EYE_STYLES)),
        "clothing": str(rng.choice(CLOTHING)),
        "mouth": str(rng.choice(MOUTHS)),
    }
    hair = _jitter(HAIR_COLOURS[hair_name], rng, 12)
    for member in FAMILY:
        while differences(_sketch(traits, hair), member) < MIN_DIFFERENCES:
            shared = [t for t in _NEW if traits[t] == getattr(member, t)]
            if math.dist(hair, member.hair_colour) <= HAIR_COLOUR_DISTANCE:
                shared.append("hair_colour")
            trait = shared[rng.integers(len(shared))]
            if trait == "hair_colour":
                hair_name = str(rng.choice(_FAR_HAIR))
                hair = HAIR_COLOURS[hair_name]
            else:
                traits[trait] = str(rng.choice(_NEW[trait]))
    # Replacing a trait only ever picks what none of the four has, so a repair for one
    # member never undoes another's: one pass over the family is enough.
    (ratio_low, ratio_high), (jaw_low, jaw_high) = FACE_SHAPES[traits["face_shape"]]
    skin = random_skin(rng)
    eye_name = str(rng.choice(list(EYE_COLOURS)))
    accessories = tuple(a for a, share in ACCESSORIES.items() if rng.random() < share)
    return Character(
        STRANGER,
        _describe(traits, hair_name, eye_name, accessories),
        face_shape=traits["face_shape"],
        head_width=float(rng.uniform(0.13, 0.185)),
        head_ratio=float(rng.uniform(ratio_low, ratio_high)),
        jaw=float(rng.uniform(jaw_low, jaw_high)),
        hair_style=traits["hair_style"],
        hair_colour=hair,
        brow=shade(hair, 0.7),
        eye_style=traits["eye_style"],
        eye_colour=EYE_COLOURS[eye_name],
        skin=skin,
        clothing=traits["clothing"],
        accessories=accessories,
        mouth=traits["mouth"],
        nose_length=float(rng.uniform(0.5, 1.35)),
        shoulders=float(rng.uniform(1.6, 2.6)),
        favourites=tuple(int(i) for i in rng.choice(len(WARDROBE), 3, replace=False)),
        lip_colour=LIPSTICKS[rng.integers(len(LIPSTICKS))],
    )


def _sketch(traits: dict[str, str], hair: RGB) -> Character:
    """Just enough of a Character for `differences`."""
    return dataclasses.replace(FAMILY[0], **traits, hair_colour=hair)


def _jitter(colour: RGB, rng: np.random.Generator, spread: float) -> RGB:
    varied = np.clip(np.array(colour) + rng.normal(0, spread, 3), 0, 255).round()
    return (int(varied[0]), int(varied[1]), int(varied[2]))


def random_skin(rng: np.random.Generator) -> RGB:
    """A skin colour anywhere from very light to very dark: between two neighbouring
    SKIN_TONES, nudged a little."""
    tone = rng.uniform(0, len(SKIN_TONES) - 1)
    low = np.array(SKIN_TONES[int(tone)], dtype=np.float64)
    high = np.array(SKIN_TONES[min(int(tone) + 1, len(SKIN_TONES) - 1)], dtype=np.float64)
    c = np.clip(low + (high - low) * (tone - int(tone)) + rng.normal(0, 6, 3), 0, 255).round()
    return (int(c[0]), int(c[1]), int(c[2]))


def _describe(traits: dict[str, str], hair: str, eyes: str, accessories: tuple[str, ...]) -> str:
    hair_words = "bald" if traits["hair_style"] == "bald" else f"{hair} {traits['hair_style']} hair"
    words = [
        f"{traits['face_shape']} face",
        hair_words,
        f"{eyes} {traits['eye_style']} eyes",
        f"{traits['mouth']} mouth",
        traits["clothing"],
        *accessories,
    ]
    return "stranger: " + ", ".join(words)
