"""generate() with strangers, pictures without a face and the boxes.json sidecar; and the
`menny portraits` options that ask for them."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from menny_base.errors import MennyError
from menny_core.cli import main
from menny_core.portraits import (
    CHARACTERS,
    CLASSES,
    MAX_EXTRA,
    NEGATIVE_KINDS,
    VIEWS,
    draw_portrait,
    generate,
    generation,
    random_stranger,
    read_boxes,
)


def test_strangers_negatives_and_boxes_are_written(tmp_path):
    written = generate(tmp_path, per_class=2, seed=3, size=64, strangers=3, negatives=4)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert names == sorted(
        [f"{c}/{VIEWS[k]}_{k:03d}.png" for c in CLASSES for k in range(2)]
        + [f"_someone_else/stranger_{k:03d}.png" for k in range(3)]
        + [f"_no_face/{NEGATIVE_KINDS[k]}_{k:03d}.png" for k in range(4)]
    )
    for path in written:
        with Image.open(path) as image:
            assert (image.size, image.mode) == ((64, 64), "RGB")
    document = json.loads((tmp_path / "boxes.json").read_text())
    assert document["format"] == "menny-boxes/1" and document["units"] == "pixels"
    # Every face has a box, pictures without a face have none.
    assert sorted(document["boxes"]) == [n for n in names if not n.startswith("_no_face/")]
    for box in document["boxes"].values():
        assert all(round(v, 1) == v for v in box)
    assert read_boxes(tmp_path) == {k: tuple(v) for k, v in document["boxes"].items()}


def test_a_box_is_the_one_draw_portrait_gives_for_the_same_seed(tmp_path):
    generate(tmp_path, per_class=2, seed=5, size=80, strangers=2)
    boxes = read_boxes(tmp_path)
    rng = np.random.default_rng(np.random.SeedSequence([5, 2, 1]))  # class 2, image 1
    image, box = draw_portrait(CHARACTERS["Pippa"], VIEWS[1], rng, 80)
    assert boxes["Pippa/left_three_quarter_001.png"] == tuple(round(v, 1) for v in box)
    with Image.open(tmp_path / "Pippa/left_three_quarter_001.png") as saved:
        assert np.array_equal(np.asarray(saved), np.asarray(image))
    rng = np.random.default_rng(np.random.SeedSequence([5, 100, 1]))
    image, box = draw_portrait(random_stranger(rng), VIEWS[1], rng, 80)
    assert boxes["_someone_else/stranger_001.png"] == tuple(round(v, 1) for v in box)


def test_same_seed_same_bytes_and_the_four_do_not_depend_on_the_extras(tmp_path):
    generate(tmp_path / "a", per_class=1, seed=1, size=48, strangers=2, negatives=2)
    generate(tmp_path / "b", per_class=1, seed=1, size=48, strangers=2, negatives=2)
    generate(tmp_path / "c", per_class=1, seed=1, size=48)
    for path in (tmp_path / "a").rglob("*.*"):
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.read_bytes() == twin.read_bytes(), path
    for name in CLASSES:
        assert (tmp_path / "a" / name / "front_000.png").read_bytes() == (
            tmp_path / "c" / name / "front_000.png"
        ).read_bytes()
    assert not (tmp_path / "c" / "_someone_else").exists()
    assert not (tmp_path / "c" / "_no_face").exists()
    assert list(read_boxes(tmp_path / "c")) == [f"{name}/front_000.png" for name in CLASSES]


def test_a_smaller_run_removes_its_own_stale_extras_only(tmp_path):
    generate(tmp_path, per_class=1, size=32, strangers=3, negatives=3)
    (tmp_path / "_no_face" / "my_photo_001.png").write_bytes(b"mine")
    (tmp_path / "_someone_else" / "aunt.jpg").write_bytes(b"mine")
    generate(tmp_path, per_class=1, size=32, strangers=1, negatives=0)
    assert sorted(p.name for p in (tmp_path / "_someone_else").iterdir()) == [
        "aunt.jpg",
        "stranger_000.png",
    ]
    assert sorted(p.name for p in (tmp_path / "_no_face").iterdir()) == ["my_photo_001.png"]
    assert "_someone_else/stranger_001.png" not in read_boxes(tmp_path)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"strangers": 1001}, "strangers must be at most 1000, got 1001"),
        ({"negatives": 10**9}, "negatives (pictures without a face) must be at most 1000, got"),
        ({"strangers": -1}, "strangers must be >= 0, got -1"),
        ({"negatives": 2.5}, "negatives (pictures without a face) must be a whole number"),
    ],
)
def test_the_extras_are_bounded_before_anything_is_written(tmp_path, arguments, message):
    with pytest.raises(MennyError, match=re.escape(message)):
        generate(tmp_path / "out", per_class=1, **arguments)
    assert not (tmp_path / "out").exists()
    assert MAX_EXTRA == 1000


def test_the_folder_names_are_the_ones_the_dataset_reader_knows():
    dataset = pytest.importorskip("menny_core.dataset")
    if not hasattr(dataset, "NO_FACE_FOLDER"):
        pytest.skip("this menny_core.dataset does not read detector folders yet")
    assert generation.NO_FACE_FOLDER == dataset.NO_FACE_FOLDER
    assert generation.STRANGERS_FOLDER == dataset.SOMEONE_ELSE_FOLDER


def test_menny_portraits_writes_strangers_negatives_and_boxes(tmp_path, capsys):
    out = tmp_path / "p"
    code = main(["portraits", "--out", str(out), "--per-class", "1", "--seed", "2",
                 "--strangers", "2", "--negatives", "3"])  # fmt: skip
    assert code == 0
    said = capsys.readouterr().out
    assert said.strip() == (
        f"wrote 4 portraits, 2 strangers, 3 pictures without a face and their face boxes "
        f"(boxes.json) to {out}"
    )
    assert len(list((out / "_someone_else").glob("*.png"))) == 2
    assert len(list((out / "_no_face").glob("*.png"))) == 3
    assert len(read_boxes(out)) == 6


def test_menny_portraits_refuses_too_many_extras_in_one_line(tmp_path, capsys):
    for option, name in (("--strangers", "strangers"), ("--negatives", "negatives")):
        code = main(["portraits", "--out", str(tmp_path / "p"), option, "5000"])
        error = capsys.readouterr().err
        assert code == 2 and len(error.strip().splitlines()) == 1
        assert error.startswith(f"menny portraits: error: {name}")
        assert "must be at most 1000, got 5000" in error
    assert not (tmp_path / "p").exists()


def test_the_bundled_sidecar_boxes_every_bundled_portrait_as_seed_0_does(tmp_path):
    bundled = Path(__file__).resolve().parents[1] / "portraits"
    boxes = read_boxes(bundled)
    files = sorted(p.relative_to(bundled).as_posix() for p in bundled.glob("*/*.png"))
    assert sorted(boxes) == files and len(files) == 160
    for x, y, w, h in boxes.values():
        assert 0.15 <= w / 512 <= 0.45 and x + w <= 512 and y + h <= 512
    generate(tmp_path, per_class=1, seed=0)  # the first portrait of each class
    assert read_boxes(tmp_path) == {key: boxes[key] for key in read_boxes(tmp_path)}
