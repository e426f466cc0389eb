"""The portrait generator: the bundled dataset's four people, strangers, pictures without a
face, and where each face is, all drawn from code (CC0).

    character   who the four are (traits)      features    head, eyes, nose, mouth, the pose
    face_marks  freckles, beard, moustache     hair        hair styles
    clothes     bodies, clothes, jewellery     face_box    where the face is (its box)
    draw        one portrait (draw_portrait: the picture and its face box)
    strangers   people who are none of the four (random_stranger)
    palette     colours for pictures without a face
    patterns    noise, gradients, stripes ...  clutter     shapes, text, scenes, backdrops
    near_faces  skin ovals, bodies, heads from behind (no face, but nearly)
    negatives   pictures without a face (render_negative)
    boxes       the face-box sidecar boxes.json (read_boxes, write_boxes)
    generation  a dataset folder (generate)

Imports go one way: generation -> negatives -> near_faces -> clutter -> patterns -> palette
-> strangers -> draw -> hair, clothes, face_marks, face_box -> features -> character;
boxes stands alone.
"""

from menny_core.portraits.boxes import read_boxes, write_boxes
from menny_core.portraits.character import CHARACTERS, Character
from menny_core.portraits.draw import CLASSES, VIEWS, draw_portrait, render_portrait
from menny_core.portraits.generation import MAX_EXTRA, MAX_PER_CLASS, generate
from menny_core.portraits.negatives import NEGATIVE_KINDS, render_negative
from menny_core.portraits.strangers import STRANGER, random_stranger

__all__ = [
    "CHARACTERS",
    "CLASSES",
    "MAX_EXTRA",
    "MAX_PER_CLASS",
    "NEGATIVE_KINDS",
    "STRANGER",
    "VIEWS",
    "Character",
    "draw_portrait",
    "generate",
    "random_stranger",
    "read_boxes",
    "render_negative",
    "render_portrait",
    "write_boxes",
]
