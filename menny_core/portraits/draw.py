"""One portrait, drawn by code: four characters (and strangers), seven views each.

The seed chapter trained Menny on photos of four people that cannot be shared, so this
module draws stand-ins with Pillow. The four characters differ in face shape, hair shape,
eyes, mouth and clothing, not only in hair colour; a classifier has to learn shapes:

    CWK    older man: square jaw, silver side-parted hair, narrow brown eyes, glasses, cardigan
    Cody   young boy: round face, black spiky hair, big round blue eyes, grin, hoodie
    Pippa  teenage girl: short oval face, red bob with a fringe, green eyes, freckles, striped tee
    RJ     woman: long oval face, long wavy blonde hair, almond eyes with eyeliner, blouse

Every image gets its own seeded jitter: position, size, tilt, a little extra head turn,
hair/skin colour, clothing colour (favourites, but from ONE wardrobe shared by everybody),
background, and then lighting: brightness x0.8..1.2 times a shading gradient from a key
light left, right, above or below (up to x0.5..1.5 across the picture), a warm/cool white
balance and a coloured cast. Colour alone is therefore unreliable (red and blonde hair
overlap once tinted; see `colour_baseline`), while shapes stay learnable.

Drawing happens at twice the output size and is shrunk with LANCZOS, for smooth edges.
`draw_portrait` also returns where the face is (its box, from the drawing's geometry);
`render_portrait` is the picture alone. The same seed gives the same pixels.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.portraits import face_marks
from menny_core.portraits import features as parts
from menny_core.portraits import hair as hair_parts
from menny_core.portraits.character import CHARACTERS, RGB, Character
from menny_core.portraits.clothes import Outfit, draw_body, draw_earrings
from menny_core.portraits.face_box import Box, face_box
from menny_core.portraits.features import Pose

CLASSES = ("CWK", "Cody", "Pippa", "RJ")
# View name -> (yaw in degrees, pitch). Yaw < 0 turns the nose toward the image's left;
# pitch +1 lifts the chin. "left" and "right" are as seen in the picture.
VIEW_ANGLES = {
    "front": (0.0, 0.0),
    "left_three_quarter": (-38.0, 0.0),
    "right_three_quarter": (38.0, 0.0),
    "left_side": (-88.0, 0.0),
    "right_side": (88.0, 0.0),
    "chin_up": (0.0, 1.0),
    "chin_down": (0.0, -1.0),
}
VIEWS = tuple(VIEW_ANGLES)

# One wardrobe for everybody. Each character has favourite colours (`Character.favourites`,
# indices into WARDROBE), worn with probability FAVOURITE_SHARE, else any colour: as in real
# family photos, clothing colour hints at who it is without ever settling it.
FAVOURITE_SHARE = 0.6
WARDROBE: tuple[RGB, ...] = (
    (40, 55, 95), (120, 30, 40), (45, 90, 60), (190, 150, 50), (110, 110, 115),
    (30, 110, 120), (100, 70, 45), (80, 45, 100), (200, 195, 180), (35, 35, 40),
    (180, 70, 50), (70, 120, 180), (150, 160, 100), (210, 120, 140),
)  # fmt: skip

# Lighting jitter, strong on purpose so that colour alone is unreliable: brightness factor
# range, strength range of the directional shading (1 + s at the lit edge, 1 - s at the
# other), white-balance shift (red x(1 + w), blue x(1 - w)) and the coloured cast's
# standard deviation in 0..255 levels per channel.
BRIGHTNESS = (0.8, 1.2)
SHADING = (0.1, 0.5)
WARMTH = 0.3
CAST = 6.0


def seeded(rng_or_seed: int | np.random.Generator) -> np.random.Generator:
    """A Generator as given (drawn from, so consecutive calls differ), or a new one from an
    int seed >= 0 (the same seed, the same numbers)."""
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(whole(rng_or_seed, "seed", 0))


def _vary(colour: RGB, rng: np.random.Generator, spread: float) -> RGB:
    """`colour` with its brightness and each channel nudged by about `spread` (a fraction)."""
    factor = rng.uniform(1 - spread, 1 + spread) * (1 + rng.normal(0, spread / 3, 3))
    varied = np.clip(np.array(colour) * factor, 0, 255).round()
    return (int(varied[0]), int(varied[1]), int(varied[2]))


# -- one picture -----------------------------------------------------------------------


def backdrop(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8: dark to grey along a random vertical-to-diagonal direction."""
    dark = rng.uniform(10, 60) + rng.normal(0, 8, 3)
    light = rng.uniform(100, 180) + rng.normal(0, 12, 3)
    angle = rng.uniform(math.radians(45), math.radians(135)) * rng.choice([-1, 1])
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    t = np.clip(ramp[None, :] * math.cos(angle) + ramp[:, None] * math.sin(angle) + 0.5, 0, 1)
    t = t.astype(np.float64)
    # One channel at a time: numpy is ~4x slower on an (H, W, 3) array's 3-long rows.
    span = light - dark
    planes = [np.clip(dark[c] + span[c] * t, 0, 255).round().astype(np.uint8) for c in range(3)]
    return np.stack(planes, axis=-1)


def relight(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 -> uint8: brightness, a directional shading gradient, white balance
    and a coloured cast, each drawn from `rng`."""
    size = image.shape[0]
    brightness = rng.uniform(*BRIGHTNESS)
    angle, strength = rng.integers(4) * math.pi / 2, rng.uniform(*SHADING)
    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    gradient = 1 + strength * (ramp[None, :] * math.cos(angle) + ramp[:, None] * math.sin(angle))
    warmth = rng.uniform(-WARMTH, WARMTH)  # > 0 warm (more red, less blue), < 0 cool
    balance = np.array([1 + warmth, 1 + 0.1 * warmth, 1 - warmth], dtype=np.float32)
    cast = rng.normal(0, CAST, 3).astype(np.float32)
    factor = brightness * gradient
    lit = np.empty(image.shape, np.uint8)
    for c in range(3):  # float32, in the same order as over the whole (H, W, 3) array
        plane = image[..., c].astype(np.float32) * factor * balance[c] + cast[c]
        lit[..., c] = np.clip(plane, 0, 255).round()
    return lit


def finish(canvas: Image.Image, rng: np.random.Generator, size: int) -> Image.Image:
    """A picture drawn at 2x, shrunk to size x size with LANCZOS and relit: every picture of
    the generator (portraits, strangers, pictures without a face) ends here, so none of them
    can be told apart by its edges or its light."""
    small = canvas.resize((size, size), Image.Resampling.LANCZOS)
    return Image.fromarray(relight(np.asarray(small), rng))


def place(who: Character, view: str, rng: np.random.Generator, big: int) -> tuple[Pose, float]:
    """The head's Pose on a big x big canvas and the picture's tilt (degrees, counter-
    clockwise about the head centre): the first numbers a portrait draws from `rng`."""
    yaw_deg, pitch = VIEW_ANGLES[view]
    scale = rng.uniform(0.86, 1.1)
    a = big * who.head_width * scale
    pose = Pose(
        cx=big * (0.5 + rng.uniform(-0.07, 0.07)),
        cy=big * (0.4 + rng.uniform(-0.05, 0.04)),
        a=a,
        b=a * who.head_ratio,
        yaw=math.radians(yaw_deg + rng.normal(0, 4)),
        pitch=pitch + rng.normal(0, 0.08),
    )
    return pose, rng.uniform(-12, 12)


def _colours(who: Character, rng: np.random.Generator) -> tuple[RGB, RGB, Outfit]:
    """Hair, skin and clothes colours for one picture, jittered around the character's."""
    hair = _vary(who.hair_colour, rng, 0.15)
    skin = _vary(who.skin, rng, 0.08)
    favourite = rng.random() < FAVOURITE_SHARE
    main = rng.choice(who.favourites) if favourite else rng.integers(len(WARDROBE))
    second = (main + rng.integers(1, len(WARDROBE))) % len(WARDROBE)  # any other colour
    outfit = Outfit(_vary(WARDROBE[main], rng, 0.1), _vary(WARDROBE[second], rng, 0.1))
    if who.clothing == "cardigan":  # the shirt under it is always pale
        outfit = Outfit(outfit.main, _vary((225, 225, 215), rng, 0.05))
    return hair, skin, outfit


def _figure(
    who: Character, pose: Pose, colours: tuple[RGB, RGB, Outfit, RGB], big: int
) -> Image.Image:
    """The person on a transparent big x big RGBa canvas, back to front."""
    hair, skin, outfit, eyes = colours
    lw = max(1, round(big / 320))
    # Premultiplied alpha (RGBa), so that rotating does not blend the edges toward black.
    # Every drawn pixel is opaque, so drawing straight into RGBa equals converting RGBA.
    figure = Image.new("RGBa", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(figure)
    hair_parts.draw_hair_back(draw, pose, who, hair)
    draw_body(draw, pose, who, skin, outfit, lw)
    if who.hair_style == "long-wavy":
        hair_parts.draw_locks(draw, pose, hair, lw)
    parts.draw_face(draw, pose, who, skin, lw)
    if "freckles" in who.accessories:
        face_marks.draw_freckles(draw, pose, skin, lw)
    face_marks.draw_facial_hair(draw, pose, who, hair, lw)
    parts.draw_nose(draw, pose, skin, who.nose_length, lw)
    parts.draw_mouth(draw, pose, who, skin, lw)
    parts.draw_eyes(draw, pose, who, eyes, lw, skin)
    hair_parts.draw_hair_front(draw, pose, who, hair, lw)
    if "earrings" in who.accessories:
        draw_earrings(draw, pose)
    return figure


def draw_portrait(
    who: Character, view: str, rng_or_seed: int | np.random.Generator = 0, size: int = 512
) -> tuple[Image.Image, Box]:
    """One portrait of `who` (one of CHARACTERS, or a `random_stranger`) seen from `view`
    (a VIEWS entry), and where its face is.

    Returns a size x size RGB image (no alpha, 0..255) and the face box (x, y, w, h) in its
    pixels, (x, y) its top-left corner: the extent of the skin-coloured head oval, top of
    the head to the chin, as far round as the camera sees it (ear to nose tip in a profile;
    never the ears, hair or body), after the tilt; computed from the drawing's geometry
    (`face_box`). The same int seed gives the same pixels; a Generator is drawn from.
    """
    if not isinstance(who, Character):
        raise MennyError(f"who must be a Character, got {type(who).__name__}")
    if view not in VIEW_ANGLES:
        raise MennyError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    size = whole(size, "size", 32)
    rng = seeded(rng_or_seed)
    big = 2 * size  # drawn at 2x, shrunk at the end for anti-aliasing
    # The order of the draws from rng is the bundled dataset's: do not reorder them.
    pose, tilt = place(who, view, rng, big)
    hair, skin, outfit = _colours(who, rng)
    canvas = Image.fromarray(backdrop(rng, big))
    eyes = _vary(who.eye_colour, rng, 0.1)
    figure = _figure(who, pose, (hair, skin, outfit, eyes), big)
    figure = figure.rotate(tilt, resample=Image.Resampling.BICUBIC, center=(pose.cx, pose.cy))
    figure = figure.convert("RGBA")
    canvas.paste(figure, mask=figure)
    return finish(canvas, rng, size), face_box(pose, who, tilt, size)


def render_portrait(
    name: str, view: str, rng_or_seed: int | np.random.Generator = 0, size: int = 512
) -> Image.Image:
    """One portrait of `name` (a CLASSES entry) seen from `view` (a VIEWS entry).

    Returns a size x size RGB image (no alpha), pixel values 0..255. The same int seed gives
    the same pixels; a Generator is drawn from (so consecutive calls differ).
    """
    if name not in CHARACTERS:
        raise MennyError(f"name must be one of {', '.join(CLASSES)}, got {name!r}")
    return draw_portrait(CHARACTERS[name], view, rng_or_seed, size)[0]
