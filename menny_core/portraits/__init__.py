"""The portrait generator: the bundled dataset's four people, drawn from code (CC0).

    character  who they are (traits)         features  head, eyes, nose, mouth, the pose
    hair       the four hair styles           clothes   bodies, clothes, jewellery
    draw       one portrait (render_portrait), and the dataset (generate)

Imports go one way: draw -> hair, clothes -> features -> character.
"""

from menny_core.portraits.character import CHARACTERS, Character
from menny_core.portraits.draw import (
    CLASSES,
    MAX_PER_CLASS,
    VIEWS,
    generate,
    render_portrait,
)

__all__ = [
    "CHARACTERS",
    "CLASSES",
    "MAX_PER_CLASS",
    "VIEWS",
    "Character",
    "generate",
    "render_portrait",
]
