"""The bundled family-portrait dataset, drawn by code: four characters, seven views each.

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
`generate(out_dir, per_class=40, seed=0)` writes `out_dir/<Name>/<view>_<k>.png`, and the
same seed gives byte-identical files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.portraits import features as parts
from menny_core.portraits import hair as hair_parts
from menny_core.portraits.character import CHARACTERS, RGB, Character
from menny_core.portraits.clothes import Outfit, draw_body, draw_earrings
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




def _rng(rng_or_seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(whole(rng_or_seed, "seed", 0))


def _vary(colour: RGB, rng: np.random.Generator, spread: float) -> RGB:
    """`colour` with its brightness and each channel nudged by about `spread` (a fraction)."""
    factor = rng.uniform(1 - spread, 1 + spread) * (1 + rng.normal(0, spread / 3, 3))
    varied = np.clip(np.array(colour) * factor, 0, 255).round()
    return (int(varied[0]), int(varied[1]), int(varied[2]))


# -- one picture -----------------------------------------------------------------------


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32: dark to grey along a random vertical-to-diagonal direction."""
    dark = rng.uniform(10, 60) + rng.normal(0, 8, 3)
    light = rng.uniform(100, 180) + rng.normal(0, 12, 3)
    angle = rng.uniform(math.radians(45), math.radians(135)) * rng.choice([-1, 1])
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    t = np.clip(ramp[None, :] * math.cos(angle) + ramp[:, None] * math.sin(angle) + 0.5, 0, 1)
    return dark + (light - dark) * t[..., None]


def _light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, a directional shading gradient, white balance and a coloured cast."""
    size = image.shape[0]
    brightness = rng.uniform(*BRIGHTNESS)
    angle, strength = rng.integers(4) * math.pi / 2, rng.uniform(*SHADING)
    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    gradient = 1 + strength * (ramp[None, :] * math.cos(angle) + ramp[:, None] * math.sin(angle))
    warmth = rng.uniform(-WARMTH, WARMTH)  # > 0 warm (more red, less blue), < 0 cool
    balance = np.array([1 + warmth, 1 + 0.1 * warmth, 1 - warmth], dtype=np.float32)
    cast = rng.normal(0, CAST, 3).astype(np.float32)
    lit = image * (brightness * gradient)[..., None] * balance + cast
    return np.clip(lit, 0, 255).round().astype(np.uint8)


def render_portrait(
    name: str, view: str, rng_or_seed: int | np.random.Generator = 0, size: int = 512
) -> Image.Image:
    """One portrait of `name` (a CLASSES entry) seen from `view` (a VIEWS entry).

    Returns a size x size RGB image (no alpha), pixel values 0..255. The same int seed gives
    the same pixels; a Generator is drawn from (so consecutive calls differ).
    """
    if name not in CHARACTERS:
        raise MennyError(f"name must be one of {', '.join(CLASSES)}, got {name!r}")
    if view not in VIEW_ANGLES:
        raise MennyError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    size = whole(size, "size", 32)
    rng = _rng(rng_or_seed)
    who = CHARACTERS[name]
    big = 2 * size  # drawn at 2x, shrunk at the end for anti-aliasing
    lw = max(1, round(big / 320))

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
    tilt = rng.uniform(-12, 12)
    hair = _vary(who.hair_colour, rng, 0.15)
    skin = _vary(who.skin, rng, 0.08)
    favourite = rng.random() < FAVOURITE_SHARE
    main = rng.choice(who.favourites) if favourite else rng.integers(len(WARDROBE))
    second = (main + rng.integers(1, len(WARDROBE))) % len(WARDROBE)  # any other colour
    outfit = Outfit(_vary(WARDROBE[main], rng, 0.1), _vary(WARDROBE[second], rng, 0.1))
    if who.clothing == "cardigan":  # the shirt under it is always pale
        outfit = Outfit(outfit.main, _vary((225, 225, 215), rng, 0.05))
    background = _background(rng, big)

    figure = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(figure)
    hair_parts.draw_hair_back(draw, pose, who, hair)
    draw_body(draw, pose, who, skin, outfit, lw)
    if who.hair_style == "long-wavy":
        hair_parts.draw_locks(draw, pose, hair, lw)
    parts.draw_face(draw, pose, who, skin, lw)
    if "freckles" in who.accessories:
        parts.draw_freckles(draw, pose, skin, lw)
    parts.draw_nose(draw, pose, skin, who.nose_length, lw)
    parts.draw_mouth(draw, pose, who, skin, lw)
    parts.draw_eyes(draw, pose, who, _vary(who.eye_colour, rng, 0.1), lw)
    hair_parts.draw_hair_front(draw, pose, who, hair, lw)
    if "earrings" in who.accessories:
        draw_earrings(draw, pose)
    # Premultiplied alpha while rotating, so the edges do not blend toward black.
    figure = figure.convert("RGBa").rotate(
        tilt, resample=Image.Resampling.BICUBIC, center=(pose.cx, pose.cy)
    )
    canvas = Image.fromarray(np.clip(background, 0, 255).round().astype(np.uint8))
    canvas.paste(figure.convert("RGBA"), mask=figure.convert("RGBA"))
    small = canvas.resize((size, size), Image.Resampling.LANCZOS)
    return Image.fromarray(_light(np.asarray(small, dtype=np.float32), rng))


# -- the dataset -----------------------------------------------------------------------


# The most portraits generate() draws per class: file names number them with three digits
# (front_000 ... _999), and 1000 per class is already ~25x the bundled dataset.
MAX_PER_CLASS = 1000


def generate(
    out_dir: str | Path, per_class: int = 40, seed: int = 0, size: int = 512
) -> list[Path]:
    """Write per_class portraits of each character to out_dir/<Name>/<view>_<k>.png.

    Views go round VIEWS in order (k = 0 front, 1 left three-quarter, ...). Image k of
    class c is drawn from the seed sequence (seed, c, k), so it does not depend on
    per_class and the same seed rewrites identical bytes. PNGs of this naming left over
    from a larger earlier run are removed; other files are left alone. Returns the paths.
    per_class: 1..MAX_PER_CLASS (1000: the names' three-digit k).
    """
    per_class = whole(per_class, "per_class (portraits per class)", 1)
    if per_class > MAX_PER_CLASS:
        raise MennyError(
            f"per_class (portraits per class) must be at most {MAX_PER_CLASS}, got {per_class}"
        )
    seed = whole(seed, "seed", 0)
    size = whole(size, "size", 32)
    out = Path(out_dir)
    written: list[Path] = []
    for c, name in enumerate(CLASSES):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        mine = []
        for k in range(per_class):
            view = VIEWS[k % len(VIEWS)]
            rng = np.random.default_rng(np.random.SeedSequence([seed, c, k]))
            path = folder / f"{view}_{k:03d}.png"
            render_portrait(name, view, rng, size).save(path, optimize=True)
            mine.append(path)
        for stale in folder.glob("*_[0-9][0-9][0-9].png"):
            if stale not in mine and stale.stem.rsplit("_", 1)[0] in VIEW_ANGLES:
                stale.unlink()
        written += mine
    return written
