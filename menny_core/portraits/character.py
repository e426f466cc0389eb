"""The four people of the bundled dataset: their traits, which the drawing modules read."""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Character:
    """One person's traits; the drawing code in `features`, `hair` and `clothes` reads them.

    head_width: head half-width as a fraction of the canvas; head_ratio: height/width;
    jaw: superellipse exponent of the lower face (2 oval, ~3.5 square jaw).
    """

    name: str
    description: str
    face_shape: str  # "square jaw" | "round" | "short oval" | "long oval"
    head_width: float
    head_ratio: float
    jaw: float
    hair_style: str  # "side-part" | "spiky" | "bob" | "long-wavy"
    hair_colour: RGB
    brow: RGB
    eye_style: str  # "narrow" | "round" | "medium" | "almond"
    eye_colour: RGB
    skin: RGB
    clothing: str  # "cardigan" | "hoodie" | "striped-tee" | "blouse"
    accessories: tuple[str, ...]
    mouth: str  # "thin" | "grin" | "smile" | "lips"
    nose_length: float
    shoulders: float  # half-width of the shoulders, in head half-widths
    favourites: tuple[int, ...] = ()
    lip_colour: RGB = (170, 90, 90)


CHARACTERS: dict[str, Character] = {
    c.name: c
    for c in (
        Character(
            "CWK", "older man, silver groomed side-part, brown eyes, glasses, cardigan",
            face_shape="square jaw", head_width=0.165, head_ratio=1.22, jaw=3.8,
            hair_style="side-part", hair_colour=(196, 198, 204), brow=(120, 118, 118),
            eye_style="narrow", eye_colour=(95, 55, 28), skin=(222, 178, 150),
            clothing="cardigan", accessories=("glasses",), mouth="thin", nose_length=1.25,
            shoulders=2.5, favourites=(1, 4, 6),
        ),
        Character(
            "Cody", "young boy, black spiky hair, big blue eyes, round face, hoodie",
            face_shape="round", head_width=0.18, head_ratio=1.0, jaw=2.0,
            hair_style="spiky", hair_colour=(28, 24, 26), brow=(30, 25, 25),
            eye_style="round", eye_colour=(50, 120, 215), skin=(238, 198, 168),
            clothing="hoodie", accessories=(), mouth="grin", nose_length=0.6,
            shoulders=1.7, favourites=(5, 10, 11),
        ),
        Character(
            "Pippa", "teenage girl, red bob with a fringe, green eyes, freckles, striped tee",
            face_shape="short oval", head_width=0.155, head_ratio=1.12, jaw=1.9,
            hair_style="bob", hair_colour=(178, 68, 32), brow=(140, 60, 35),
            eye_style="medium", eye_colour=(60, 135, 70), skin=(244, 204, 178),
            clothing="striped-tee", accessories=("freckles",), mouth="smile", nose_length=0.8,
            shoulders=1.95, favourites=(3, 7, 13),
        ),
        Character(
            "RJ", "woman, long wavy blonde hair, almond eyes, earrings, necklace, blouse",
            face_shape="long oval", head_width=0.142, head_ratio=1.42, jaw=1.7,
            hair_style="long-wavy", hair_colour=(222, 186, 112), brow=(140, 110, 65),
            eye_style="almond", eye_colour=(125, 105, 55), skin=(232, 192, 162),
            clothing="blouse", accessories=("earrings", "necklace"), mouth="lips",
            nose_length=1.0, shoulders=2.05, favourites=(2, 8, 12), lip_colour=(175, 45, 65),
        ),
    )
}  # fmt: skip
