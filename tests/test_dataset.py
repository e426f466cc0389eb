"""ImageFolder discovery, normalisation to the cache, fingerprint and stratified split."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from menny_base.images import load_rgb
from menny_core.dataset import (
    DatasetError,
    discover,
    fingerprint,
    stratified_split,
)


def save(path: Path, color=(200, 30, 30), size=(24, 16), mode="RGB", **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, **kwargs)
    return path


def make_folder(root: Path, counts: dict[str, int]) -> Path:
    for name, count in counts.items():
        for i in range(count):
            save(root / name / f"{i:03d}.png", color=(10 * i, 50, 100))
    return root


def test_classes_are_sorted_whatever_the_creation_order(tmp_path):
    root = make_folder(tmp_path / "data", {"zebra": 3, "apple": 4, "mango": 3})
    folder = discover(root, cache_dir=tmp_path / "cache")
    assert folder.classes == ["apple", "mango", "zebra"]
    assert folder.counts() == {"apple": 4, "mango": 3, "zebra": 3}
    for path, label in folder.samples:
        assert Path(path).parent.name == folder.classes[label]
    assert folder.skipped == []


def test_hidden_files_and_folders_are_ignored(tmp_path):
    root = make_folder(tmp_path / "data", {"cats": 3, "dogs": 3})
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "cats" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    save(root / "__MACOSX" / "cats" / "._000.png")
    save(root / ".thumbnails" / "x.png")
    save(root / "cats" / ".hidden" / "y.png")
    folder = discover(root, cache_dir=tmp_path / "cache")
    assert folder.classes == ["cats", "dogs"]
    assert len(folder.samples) == 6
    assert folder.skipped == []


def test_unreadable_files_are_skipped_with_a_reason(tmp_path):
    root = make_folder(tmp_path / "data", {"cats": 3, "dogs": 3})
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / "cats" / "fake.png").write_text("this is text with a .png name")
    good_png = save(tmp_path / "whole.png", size=(64, 64)).read_bytes()
    (root / "dogs" / "truncated.png").write_bytes(good_png[: len(good_png) // 2])
    good_jpg = save(tmp_path / "whole.jpg", size=(64, 64), quality=95).read_bytes()
    (root / "dogs" / "truncated.jpg").write_bytes(good_jpg[: len(good_jpg) // 2])
    folder = discover(root, cache_dir=tmp_path / "cache")
    reasons = {Path(path).name: reason for path, reason in folder.skipped}
    assert set(reasons) == {"notes.txt", "fake.png", "truncated.png", "truncated.jpg"}
    assert reasons["notes.txt"] == (
        "cats/notes.txt is not an image file: Menny reads .png, .jpg, .jpeg, .webp and .bmp files"
    )
    # Named relative to the dataset's root, never by the path on the server (which PIL's
    # own messages quote: "cannot identify image file '/tmp/.../cats/fake.png'").
    assert reasons["fake.png"] == "cats/fake.png is not an image Pillow can read"
    for name in ("truncated.png", "truncated.jpg"):
        assert reasons[name].startswith(f"dogs/{name} could not be read as an image (")
    for reason in reasons.values():
        assert str(tmp_path) not in reason and "\n" not in reason
    assert folder.counts() == {"cats": 3, "dogs": 3}


def test_a_too_large_image_is_skipped_with_its_size(tmp_path):
    root = make_folder(tmp_path / "data", {"cats": 3, "dogs": 3})
    Image.new("1", (9000, 5000)).save(root / "dogs" / "huge.png")  # 45 megapixels, tiny file
    folder = discover(root, cache_dir=tmp_path / "cache")
    assert folder.skipped == [
        (
            str(root / "dogs" / "huge.png"),
            "dogs/huge.png is 9000x5000 = 45 megapixels; the limit is 40 megapixels",
        )
    ]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda root: None, "data/ does not exist: give a folder with one sub-folder per class"),
        (
            lambda root: root.write_text("x"),
            "data/ is a file: give a folder with one sub-folder per class",
        ),
        (
            lambda root: save(root / "a.png"),
            "data/ has images but no class sub-folders: put each class's images in its own folder",
        ),
        (
            lambda root: make_folder(root, {"cats": 5}),
            "data/ has only 1 class folder (cats); "
            "Menny needs at least 2, one sub-folder per class",
        ),
        (
            lambda root: make_folder(root, {"cats": 3, "dogs": 2}),
            "class 'dogs' in data/ has 2 usable images; each class needs at least 3",
        ),
    ],
)
def test_bad_folders_are_explained(tmp_path, build, message):
    root = tmp_path / "data"
    build(root)
    with pytest.raises(DatasetError) as caught:
        discover(root, cache_dir=tmp_path / "cache")
    assert str(caught.value) == message
    # An upload unpacked into uploads/<hash>/ is named as the learner knows it.
    hashed = tmp_path / "uploads" / "848c224c2e2535e4"
    hashed.parent.mkdir()
    if root.exists():
        root.rename(hashed)
    with pytest.raises(DatasetError) as caught:
        discover(hashed, cache_dir=tmp_path / "cache", label="photos.zip")
    assert str(caught.value) == message.replace("data/", "photos.zip")
    assert "848c224c2e2535e4" not in str(caught.value)


def test_a_class_short_of_images_because_of_bad_files_says_so(tmp_path):
    root = make_folder(tmp_path / "data", {"cats": 3, "dogs": 2})
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    with pytest.raises(DatasetError, match=r"'dogs' in data/ has 2 usable images.*\(1 more could"):
        discover(root, cache_dir=tmp_path / "cache")


def exif_rotated_jpeg(path: Path) -> Path:
    """Pixels stored right-red; EXIF orientation 3 (180 degrees) shows them left-red."""
    pixels = np.zeros((16, 24, 3), np.uint8)
    pixels[:, 12:, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    return path


def awkward_images(folder: Path) -> dict[str, Path]:
    """One image per case mlx-data's load_image mis-reads (DESIGN.md), each a flat colour."""
    folder.mkdir(parents=True, exist_ok=True)
    palette = Image.new("P", (24, 16), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    grey16 = Image.fromarray(np.full((16, 24), 32896, np.uint16))  # 32896 / 257 = 128
    paths = {
        "rgba": save(folder / "rgba.png", (255, 0, 0, 128), mode="RGBA"),
        "la": save(folder / "la.png", (200, 255), mode="LA"),
        "grey": save(folder / "grey.png", 90, mode="L"),
        "cmyk": save(folder / "cmyk.jpg", (0, 255, 255, 0), mode="CMYK", quality=95),
        "webp": save(folder / "webp.webp", (10, 200, 30), lossless=True),
        "exif": exif_rotated_jpeg(folder / "exif.jpg"),
    }
    palette.save(folder / "palette.png")
    grey16.save(folder / "grey16.png")
    paths["palette"], paths["grey16"] = folder / "palette.png", folder / "grey16.png"
    return paths


def test_awkward_files_are_normalised_once_into_the_cache(tmp_path):
    root = make_folder(tmp_path / "data", {"plain": 3})
    awkward = awkward_images(root / "awkward")
    direct = save(root / "plain" / "photo.jpg", quality=90)
    cache = tmp_path / "cache"
    folder = discover(root, cache_dir=cache)
    by_original = {Path(folder.original(p)).name: p for p, _ in folder.samples}
    assert set(folder.originals.values()) == {str(p) for p in awkward.values()}
    for name, original in awkward.items():
        copy = Path(by_original[original.name])
        assert copy.parent == cache, name
        with Image.open(copy) as image:
            assert (image.format, image.mode) == ("PNG", "RGB"), name
        np.testing.assert_array_equal(np.asarray(Image.open(copy)), load_rgb(original))
    assert by_original[direct.name] == str(direct)  # already fine: read in place
    assert folder.relative(by_original["webp.webp"]) == "awkward/webp.webp"

    # Reused, not converted again; converted again once the file changes.
    copy = Path(by_original["webp.webp"])
    before = copy.stat().st_mtime_ns
    again = discover(root, cache_dir=cache)
    assert sorted(again.samples) == sorted(folder.samples)
    assert copy.stat().st_mtime_ns == before
    save(awkward["webp"], (10, 200, 31), size=(30, 20), lossless=True)
    changed = discover(root, cache_dir=cache)
    assert str(copy) not in {p for p, _ in changed.samples}


def test_exif_orientation_is_applied(tmp_path):
    root = make_folder(tmp_path / "data", {"a": 3})
    exif_rotated_jpeg(root / "a" / "turned.jpg")
    folder = discover(root, cache_dir=tmp_path / "cache", min_classes=1)
    copy = next(p for p, _ in folder.samples if folder.original(p).endswith("turned.jpg"))
    pixels = np.asarray(Image.open(copy)).astype(int)
    assert pixels[:, :10, 0].min() > 200 and pixels[:, 14:, 0].max() < 50


def test_fingerprint_depends_on_files_not_on_the_cache(tmp_path):
    root = make_folder(tmp_path / "data", {"cats": 3, "dogs": 3})
    save(root / "cats" / "x.webp", lossless=True)
    first = fingerprint(discover(root, cache_dir=tmp_path / "cache1"))
    assert first == fingerprint(discover(root, cache_dir=tmp_path / "cache2"))
    assert len(first) == 16 and int(first, 16) >= 0
    save(root / "dogs" / "new.png")
    assert fingerprint(discover(root, cache_dir=tmp_path / "cache1")) != first


def labelled(counts: dict[int, int]) -> list[tuple[str, int]]:
    return [(f"/d/{label}/{i:03d}.png", label) for label, n in counts.items() for i in range(n)]


def test_split_is_stratified_deterministic_and_order_free():
    samples = labelled({0: 20, 1: 3, 2: 10})
    split = stratified_split(samples, 0.15, 0.15, seed=7)
    assert split == stratified_split(list(reversed(samples)), 0.15, 0.15, seed=7)
    sizes = {
        name: np.bincount([label for _, label in part], minlength=3).tolist()
        for name, part in (("train", split.train), ("val", split.val), ("test", split.test))
    }
    # 20 -> round(3.0) = 3 each; 3 -> at least 1 each; 10 -> round(1.5) = 2 each.
    assert sizes == {"train": [14, 1, 6], "val": [3, 1, 2], "test": [3, 1, 2]}
    everything = split.train + split.val + split.test
    assert sorted(everything) == sorted(samples)
    other = stratified_split(samples, 0.15, 0.15, seed=8)
    assert other.val != split.val or other.test != split.test


def test_split_leaves_training_images_and_allows_zero_fractions():
    split = stratified_split(labelled({0: 4, 1: 2}), val_fraction=0.45, test_fraction=0.45)
    assert [label for _, label in split.train].count(0) == 1
    assert [label for _, label in split.train].count(1) == 1
    assert stratified_split(labelled({0: 5}), 0.2, 0.0).test == []


@pytest.mark.parametrize(
    ("val", "test", "message"),
    [
        (-0.1, 0.1, "val_fraction must be in [0, 1), got -0.1"),
        (0.1, 1.0, "test_fraction must be in [0, 1), got 1.0"),
        (0.6, 0.5, "val_fraction + test_fraction must be < 1 to leave images for training"),
        ("a", 0.1, "val_fraction must be in [0, 1), got 'a'"),
    ],
)
def test_split_fractions_are_checked(val, test, message):
    with pytest.raises(ValueError) as caught:
        stratified_split(labelled({0: 5}), val, test)
    assert str(caught.value).startswith(message)


def test_split_to_dict_uses_paths_relative_to_the_root(tmp_path):
    root = make_folder(tmp_path / "data", {"cats": 4, "dogs": 4})
    save(root / "dogs" / "z.webp", lossless=True)
    folder = discover(root, cache_dir=tmp_path / "cache")
    record = stratified_split(folder.samples, seed=3).to_dict(folder)
    assert record["seed"] == 3 and record["val_fraction"] == 0.15
    listed = record["train"] + record["val"] + record["test"]
    assert sorted(path for path, _ in listed) == sorted(
        f"{c}/{p.name}" for c in ("cats", "dogs") for p in (root / c).iterdir()
    )
    assert all(not os.path.isabs(path) for path, _ in listed)


# -- the detector's folders and boxes ----------------------------------------------


def test_no_face_someone_else_and_boxes_are_read_but_are_not_classes(tmp_path):
    root = make_folder(tmp_path / "data", {"alice": 3, "bob": 3})
    for name in ("_no_face", "_someone_else"):
        (root / name).mkdir()
        save(root / name / "x.png")
        save(root / name / "y.png", color=(10, 200, 10))
    alice = sorted((root / "alice").iterdir())[0].relative_to(root).as_posix()
    boxes = {alice: [1, 2, 10, 8], "_someone_else/x.png": [0, 0, 5, 5], "carol/x.png": [1] * 4}
    sidecar = {"format": "menny-boxes/1", "units": "pixels", "boxes": boxes}
    (root / "boxes.json").write_text(json.dumps(sidecar))
    folder = discover(root, cache_dir=tmp_path / "cache")
    assert folder.classes == ["alice", "bob"] and len(folder.samples) == 6
    assert sorted(Path(p).name for p in folder.no_faces) == ["x.png", "y.png"]
    assert len(folder.strangers) == 2
    by_name = {folder.relative(p): box for p, box in folder.boxes.items()}
    assert by_name == {alice: (1, 2, 10, 8), "_someone_else/x.png": (0, 0, 5, 5)}
    before = fingerprint(discover(make_folder(tmp_path / "plain", {"alice": 3, "bob": 3})))
    assert fingerprint(folder) != before  # the extra folders are part of the data


def test_a_class_named_someone_else_or_a_bad_sidecar_is_one_sentence(tmp_path):
    root = make_folder(tmp_path / "data", {"alice": 3, "someone else": 3})
    with pytest.raises(ValueError, match="'someone else', which is Menny's answer for strangers"):
        discover(root, cache_dir=tmp_path / "cache")
    root = make_folder(tmp_path / "ok", {"alice": 3, "bob": 3})
    (root / "boxes.json").write_text("{not json")
    with pytest.raises(ValueError) as caught:
        discover(root, cache_dir=tmp_path / "cache")
    assert str(caught.value).startswith("ok/: ") and "\n" not in str(caught.value)
