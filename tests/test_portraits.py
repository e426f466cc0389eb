"""The portrait generator: deterministic, the right size, every character and view, and the
committed dataset is what the generator makes with seed 0."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import menny_core.portraits.generation as generation_module
from menny_core import portraits
from menny_core.portraits import CHARACTERS, CLASSES, VIEWS, generate, render_portrait

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ROOT / "portraits"


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_every_character_renders_in_every_view_as_rgb_without_alpha():
    for name in CLASSES:
        for view in VIEWS:
            image = render_portrait(name, view, 3, size=64)
            assert (image.size, image.mode) == ((64, 64), "RGB"), (name, view)


def test_default_size_is_512_rgb():
    image = render_portrait("Cody", "front", 0)
    assert (image.size, image.mode) == ((512, 512), "RGB")


def test_same_seed_same_pixels_other_seed_other_pixels():
    first = pixels(render_portrait("RJ", "left_side", 11, size=128))
    again = pixels(render_portrait("RJ", "left_side", 11, size=128))
    other = pixels(render_portrait("RJ", "left_side", 12, size=128))
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 5  # jitter moves, tints and relights the picture


def test_a_generator_is_drawn_from_so_consecutive_portraits_differ():
    rng = np.random.default_rng(0)
    one = pixels(render_portrait("CWK", "front", rng, size=64))
    two = pixels(render_portrait("CWK", "front", rng, size=64))
    assert not np.array_equal(one, two)


def test_characters_differ_in_shape_not_only_colour():
    for trait in ("face_shape", "hair_style", "eye_style", "clothing", "mouth"):
        values = [getattr(CHARACTERS[name], trait) for name in CLASSES]
        assert len(set(values)) == len(CLASSES), trait


def test_views_turn_the_face():
    # Same seed, so the same jitter: only the view differs. A turned head moves the features
    # sideways, so left and right three-quarter views are far from mirror-identical twins of
    # the front view, and from each other.
    front, left, right = (
        pixels(render_portrait("Pippa", view, 5, size=128))
        for view in ("front", "left_three_quarter", "right_three_quarter")
    )
    assert np.abs(front - left).mean() > 1
    assert np.abs(left - right).mean() > 1


def test_generate_writes_byte_identical_files_for_the_same_seed(tmp_path):
    first = generate(tmp_path / "a", per_class=2, seed=7, size=64)
    again = generate(tmp_path / "b", per_class=2, seed=7, size=64)
    other = generate(tmp_path / "c", per_class=2, seed=8, size=64)
    names = [p.relative_to(tmp_path / "a").as_posix() for p in first]
    assert names == [
        f"{name}/{view}_{k:03d}.png" for name in CLASSES for k, view in enumerate(VIEWS[:2])
    ]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(first, again, strict=True))
    assert all(p.read_bytes() != q.read_bytes() for p, q in zip(first, other, strict=True))


def test_generate_removes_its_own_stale_files_only(tmp_path):
    generate(tmp_path, per_class=3, seed=0, size=32)
    keep = tmp_path / "Cody" / "notes.txt"
    keep.write_text("mine")
    generate(tmp_path, per_class=1, seed=0, size=32)
    assert sorted(p.name for p in (tmp_path / "Cody").iterdir()) == ["front_000.png", "notes.txt"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: render_portrait("Bob", "front"), "name must be one of CWK, Cody, Pippa, RJ"),
        (lambda: render_portrait("RJ", "top"), "view must be one of front, left_three_quarter"),
        (lambda: render_portrait("RJ", "front", -1), "seed must be >= 0, got -1"),
        (
            lambda: generate("/nonexistent/x", per_class=0),
            "per_class (portraits per class) must be >= 1, got 0",
        ),
    ],
)
def test_bad_arguments_say_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_per_class_has_a_documented_maximum(tmp_path, monkeypatch):
    drawn = []

    def fake_draw(*args):  # fast, and loud were the limit missing: no 100 million files
        drawn.append(args)
        assert len(drawn) <= 4 * portraits.MAX_PER_CLASS, "drew past the limit"
        return Image.new("RGB", (8, 8)), (1.0, 1.0, 2.0, 2.0)

    monkeypatch.setattr(generation_module, "draw_portrait", fake_draw)  # what generate calls
    with pytest.raises(ValueError) as caught:
        generate(tmp_path, per_class=100_000_000)
    assert str(caught.value) == (
        "per_class (portraits per class) must be at most 1000, got 100000000"
    )
    assert list(tmp_path.iterdir()) == []  # refused before writing anything
    assert portraits.MAX_PER_CLASS == 1000
    written = generate(tmp_path, per_class=1000, size=32)  # the maximum itself is fine
    assert len(written) == 4000 and written[-1] == tmp_path / "RJ" / "chin_up_999.png"


def test_committed_dataset_has_at_least_30_rgb_512_images_per_class():
    assert sorted(p.name for p in PORTRAITS.iterdir() if p.is_dir()) == sorted(CLASSES)
    for name in CLASSES:
        files = sorted((PORTRAITS / name).glob("*.png"))
        assert len(files) >= 30, name
        for path in files:
            with Image.open(path) as image:  # reads the header only
                assert (image.size, image.mode) == ((512, 512), "RGB"), path


def test_committed_dataset_is_what_seed_0_generates(tmp_path):
    # The first picture of each class; a tolerance of one level leaves room for other
    # platforms' floating point, while a different seed or drawing would be far off.
    for path in generate(tmp_path, per_class=1, seed=0):
        committed = PORTRAITS / path.parent.name / path.name
        difference = np.abs(pixels(Image.open(path)) - pixels(Image.open(committed)))
        assert difference.mean() < 1.0, path
