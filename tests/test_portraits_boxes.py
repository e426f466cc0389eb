"""Face boxes: where draw_portrait says the face is, checked against the pixels it drew
(with the lighting switched off, so colours are the characters' own), against Pillow's own
rotation, and against the eyes' positions; and the boxes.json sidecar's reader."""

import json
import re

import numpy as np
import pytest

from menny_base.errors import MennyError
from menny_core.portraits import (
    CHARACTERS,
    VIEWS,
    draw_portrait,
    random_stranger,
    read_boxes,
    write_boxes,
)
from menny_core.portraits import draw as draw_module
from menny_core.portraits.boxes import MAX_BOXES_BYTES
from menny_core.portraits.face_box import tilted
from menny_core.portraits.features import Pose

FAMILY = list(CHARACTERS.values())
SIZE = 128


@pytest.fixture
def unlit(monkeypatch):
    """No relighting: a pixel keeps the colour it was drawn in (skin +-8% jitter)."""
    monkeypatch.setattr(draw_module, "relight", lambda image, rng: image)


@pytest.fixture
def bare_heads(unlit, monkeypatch):
    """No hair, no body, and a green background (a light grey one can pass for pale skin):
    what is skin-coloured is the head oval, the ears and the nose."""
    for name in ("draw_hair_back", "draw_hair_front", "draw_locks"):
        monkeypatch.setattr(draw_module.hair_parts, name, lambda *args: None)
    monkeypatch.setattr(draw_module, "draw_body", lambda *args: None)
    green = lambda rng, size: np.full((size, size, 3), (20, 110, 30), np.uint8)  # noqa: E731
    monkeypatch.setattr(draw_module, "backdrop", green)


def skin_mask(image, who, tolerance=45.0) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float32)
    return np.linalg.norm(pixels - np.array(who.skin, np.float32), axis=-1) < tolerance


def centre_share(image, box, who, share=0.3) -> float:
    """The share of skin-coloured pixels in the box's middle `share` x `share`."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    mask = skin_mask(image, who)
    rows = slice(round(cy - share * h / 2), round(cy + share * h / 2) + 1)
    cols = slice(round(cx - share * w / 2), round(cx + share * w / 2) + 1)
    return float(mask[rows, cols].mean())


def strangers(count: int):
    for seed in range(count):
        rng = np.random.default_rng(seed)
        yield random_stranger(rng), VIEWS[seed % len(VIEWS)], rng


def test_the_box_is_inside_the_picture_and_face_sized():
    for who in FAMILY:
        for view in VIEWS:
            for seed in range(3):
                image, (x, y, w, h) = draw_portrait(who, view, seed, SIZE)
                assert image.size == (SIZE, SIZE)
                assert min(x, y) >= 0 and x + w <= SIZE and y + h <= SIZE, (who.name, view)
                assert 0.15 <= w / SIZE <= 0.45, (who.name, view, w)
                assert 0.8 <= h / w <= 2.6, (who.name, view, w, h)


def test_a_profile_box_runs_from_the_ear_to_the_nose_not_over_the_back_of_the_head():
    who = CHARACTERS["Cody"]
    front = draw_portrait(who, "front", 4, SIZE)[1]
    left, right = (draw_portrait(who, view, 4, SIZE)[1] for view in ("left_side", "right_side"))
    assert 0.5 < left[2] / front[2] < 0.85 and 0.5 < right[2] / front[2] < 0.85
    # Same seed, same head centre: the nose side is where the box lies.
    assert left[0] < front[0] + front[2] / 2 - left[2] * 0.4
    assert right[0] + right[2] > front[0] + front[2] / 2 + right[2] * 0.4


def test_the_box_centre_is_skin_in_every_view_once_the_hair_is_hidden(bare_heads):
    for who in FAMILY:
        for view in VIEWS:
            for seed in range(4):
                image, box = draw_portrait(who, view, seed, SIZE)
                assert centre_share(image, box, who) >= 0.5, (who.name, view, seed)
    for who, view, rng in strangers(40):  # glasses and beards cover more of some
        image, box = draw_portrait(who, view, rng, SIZE)
        assert centre_share(image, box, who) >= 0.3, who.description


def test_the_box_holds_the_skin_of_the_picture_with_hair_and_clothes_drawn(unlit):
    # Hair covers much of a profile (RJ's waves, Pippa's bob), so the box is not all skin;
    # but it is where the skin is: several times as dense as in the rest of the picture.
    for who in FAMILY:
        for view in VIEWS:
            for seed in range(3):
                image, (x, y, w, h) = draw_portrait(who, view, seed, SIZE)
                skin = skin_mask(image, who, tolerance=35.0)
                inside = np.zeros_like(skin)
                inside[round(y) : round(y + h), round(x) : round(x + w)] = True
                assert skin[inside].mean() >= 0.2, (who.name, view, seed)
                assert skin[inside].mean() >= 4 * skin[~inside].mean(), (who.name, view, seed)


def test_the_box_top_and_bottom_are_where_the_drawn_head_oval_ends(bare_heads):
    # An oracle free of the box code: without hair, body and lighting, the skin-coloured
    # pixels of a front view are the head oval and the ears (which sit within its height),
    # turned by Pillow's rotate. Their first and last rows are the box's top and bottom.
    # (A head bowed even a little starts its face lower than the oval's top: only heads
    # that are not bowed are compared at the top.)
    for who in FAMILY:
        for seed in range(10):  # tilts from -12 to +12 degrees
            pose, _ = draw_module.place(who, "front", np.random.default_rng(seed), 2 * SIZE)
            image, (_, y, _, h) = draw_portrait(who, "front", seed, SIZE)
            rows = np.flatnonzero(skin_mask(image, who).any(axis=1))
            if pose.pitch >= 0:
                assert abs(rows[0] - y) <= 1.0, (who.name, seed)
            assert abs(rows[-1] + 1 - (y + h)) <= 1.25, (who.name, seed)


def test_a_profile_box_ends_at_the_tip_of_the_nose(bare_heads):
    # The tip is a sharp corner with a dark outline: its last pixel or two are too thin to
    # look like skin once shrunk, hence 2 px.
    for who in FAMILY:
        for seed in range(6):
            image, (x, _, w, _) = draw_portrait(who, "right_side", seed, SIZE)
            columns = np.flatnonzero(skin_mask(image, who).any(axis=0))
            assert abs(columns[-1] + 1 - (x + w)) <= 2.0, (who.name, seed)
            image, (x, _, w, _) = draw_portrait(who, "left_side", seed, SIZE)
            columns = np.flatnonzero(skin_mask(image, who).any(axis=0))
            assert abs(columns[0] - x) <= 2.0, (who.name, seed)


def test_tilted_turns_points_as_pillow_rotates_the_canvas():
    # A dot away from the head centre, turned by Image.rotate (as draw_portrait turns the
    # figure) and shrunk 2x: its centre lands where tilted() says.
    from PIL import Image, ImageDraw

    pose = Pose(cx=101.0, cy=87.0, a=30.0, b=40.0, yaw=0.0, pitch=0.0)
    for tilt in (-45.0, -12.0, 7.5, 30.0):
        for dot in ((160.0, 60.0), (70.0, 150.0)):
            canvas = Image.new("L", (256, 256), 0)
            ImageDraw.Draw(canvas).ellipse((dot[0] - 4, dot[1] - 4, dot[0] + 4, dot[1] + 4), 255)
            turned = canvas.rotate(tilt, Image.Resampling.BICUBIC, center=(pose.cx, pose.cy))
            small = np.asarray(turned.resize((128, 128), Image.Resampling.LANCZOS), np.float64)
            rows, columns = np.indices(small.shape) + 0.5  # pixel centres
            seen = (np.sum(columns * small) / small.sum(), np.sum(rows * small) / small.sum())
            # ImageDraw's coordinate x is the centre of pixel x: x + 0.5 on a continuous axis.
            (x, y), *_ = tilted([(dot[0] + 0.5, dot[1] + 0.5)], pose, tilt)
            assert abs(x - seen[0]) < 0.25 and abs(y - seen[1]) < 0.25, (tilt, dot, seen, (x, y))


def test_the_box_of_a_front_portrait_encloses_both_eyes():
    for who in FAMILY:
        for seed in range(10):
            pose, tilt = draw_module.place(who, "front", np.random.default_rng(seed), 2 * SIZE)
            _, (x, y, w, h) = draw_portrait(who, "front", seed, SIZE)
            for side in (-1, 1):
                ex, ey, facing = pose.at(side * 0.38, 0.02)
                rx = pose.a * 0.2 * facing  # the widest eye (almond) and then some
                eye = tilted(
                    [(ex - rx, ey), (ex + rx, ey), (ex, ey - rx), (ex, ey + rx)], pose, tilt
                )
                for px, py in eye:
                    assert x < px < x + w and y < py < y + h, (who.name, seed, side)


def test_a_stranger_is_boxed_like_the_four():
    for who, view, rng in strangers(60):
        _, (x, y, w, h) = draw_portrait(who, view, rng, SIZE)
        assert min(x, y) >= 0 and x + w <= SIZE and y + h <= SIZE
        assert 0.1 <= w / SIZE <= 0.5 and h > 0, who.description


# -- the sidecar ---------------------------------------------------------------------


def test_boxes_round_trip_rounded_to_a_tenth_of_a_pixel(tmp_path):
    path = write_boxes(tmp_path, {"b/x.png": (1.04, 2.25, 30.0, 40.96), "a/y.png": (0, 0, 1, 1)})
    document = json.loads(path.read_text())
    assert document == {
        "format": "menny-boxes/1",
        "units": "pixels",
        "boxes": {"a/y.png": [0.0, 0.0, 1.0, 1.0], "b/x.png": [1.0, 2.2, 30.0, 41.0]},
    }
    assert list(document["boxes"]) == ["a/y.png", "b/x.png"]  # sorted: same boxes, same bytes
    assert read_boxes(tmp_path) == {"a/y.png": (0, 0, 1, 1), "b/x.png": (1.0, 2.2, 30.0, 41.0)}


def test_no_sidecar_means_no_boxes(tmp_path):
    assert read_boxes(tmp_path) == {}
    assert read_boxes(tmp_path / "not there") == {}


def sidecar(boxes, **top) -> str:
    return json.dumps({"format": "menny-boxes/1", "boxes": boxes, **top})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not a JSON file in UTF-8"),
        (b"\xff\xfe{}", "is not a JSON file in UTF-8"),
        ("[1, 2]", 'is not a face-box sidecar: it needs "format": "menny-boxes/1"'),
        ('{"format": "menny-boxes/2", "boxes": {}}', "is not a face-box sidecar"),
        (sidecar({}, units="mm"), "gives its boxes in 'mm'; only \"pixels\" is known"),
        ('{"format": "menny-boxes/1", "boxes": [1, 2]}', 'needs "boxes": an object'),
        (sidecar({"/etc/a.png": [0, 0, 1, 1]}), "names '/etc/a.png', which is not a relative"),
        (sidecar({"C:/a.png": [0, 0, 1, 1]}), "names 'C:/a.png', which is not a relative"),
        (sidecar({"a/../../b.png": [0, 0, 1, 1]}), "names 'a/../../b.png', which is not"),
        (sidecar({"a\\b.png": [0, 0, 1, 1]}), "which is not a relative path"),
        (sidecar({"": [0, 0, 1, 1]}), "names '', which is not a relative path"),
        (sidecar({"a.png": [0, 0, 1]}), "gives 'a.png' the box [0, 0, 1]; a box is [x, y, w, h]"),
        (sidecar({"a.png": [0, 0, 0, 1]}), "gives 'a.png' the box [0, 0, 0, 1]"),
        (sidecar({"a.png": [-1, 0, 1, 1]}), "gives 'a.png' the box [-1, 0, 1, 1]"),
        (sidecar({"a.png": [0, 0, 1, True]}), "gives 'a.png' the box [0, 0, 1, true]"),
        (sidecar({"a.png": [0, 0, 1, "2"]}), "gives 'a.png' the box [0, 0, 1, \"2\"]"),
        (sidecar({"a.png": {"x": 1}}), "gives 'a.png' the box {\"x\": 1}"),
        ('{"format": "menny-boxes/1", "boxes": {"a.png": [0, 0, NaN, 1]}}', "the box [0, 0, NaN"),
        ('{"format": "menny-boxes/1", "boxes": {"a.png": [0, 0, 1e999, 1]}}', "a box is [x, y"),
        ("[" * 100_000, "is not a JSON file in UTF-8"),
        ('{"format": "menny-boxes/1", "boxes": {"a": [' + "9" * 5000 + "]}}", "not a JSON file"),
    ],
)
def test_a_bad_sidecar_is_refused_in_one_sentence_naming_the_file(tmp_path, text, message):
    path = tmp_path / "boxes.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(MennyError) as caught:
        read_boxes(tmp_path)
    said = str(caught.value)
    assert said.startswith(str(path)) and message in said, said
    assert "\n" not in said and len(said) < 300


def test_a_sidecar_over_20_mb_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "boxes.json"
    with path.open("wb") as file:
        file.truncate(MAX_BOXES_BYTES + 1)  # sparse: no 20 MB written
    monkeypatch.setattr("pathlib.Path.open", lambda *a, **k: pytest.fail("it was read"))
    with pytest.raises(MennyError, match=re.escape(f"{path} is 20.0 MB; a face-box sidecar")):
        read_boxes(tmp_path)
    assert MAX_BOXES_BYTES == 20 * 2**20


def test_a_sidecar_of_just_20_mb_is_read(tmp_path):
    text = sidecar({"a.png": [1, 2, 3, 4]})
    (tmp_path / "boxes.json").write_text(text + " " * (MAX_BOXES_BYTES - len(text)))
    assert read_boxes(tmp_path) == {"a.png": (1.0, 2.0, 3.0, 4.0)}
