"""Unpacking an uploaded zip of class folders: the good cases and every refusal."""

import io
import re
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from menny_core import archive as unpacking
from menny_core.archive import UnpackedZips, extract_dataset_zip
from menny_core.dataset import DatasetError, discover


def png_bytes(colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def class_members(prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{c}/{i}.png": png_bytes() for c in ("cats", "dogs") for i in range(3)}


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_zip_of_class_folders_unpacks_into_a_dataset(tmp_path):
    members = class_members()
    members["__MACOSX/cats/._0.png"] = b"resource fork"
    members["cats/.DS_Store"] = b"\0\0\0\1Bud1"
    archive = make_zip(tmp_path / "pets.zip", members)
    root = extract_dataset_zip(archive, tmp_path / "out")
    assert root == tmp_path / "out"
    assert files_under(root) == sorted(class_members())
    assert discover(root, cache_dir=tmp_path / "cache").classes == ["cats", "dogs"]


def test_a_single_wrapper_folder_is_stepped_into(tmp_path):
    archive = make_zip(tmp_path / "pets.zip", class_members("pets/"))
    root = extract_dataset_zip(archive, tmp_path / "out")
    assert root == tmp_path / "out" / "pets"
    assert discover(root, cache_dir=tmp_path / "cache").classes == ["cats", "dogs"]


def test_a_lone_class_folder_is_not_mistaken_for_a_wrapper(tmp_path):
    members = {f"cats/{i}.png": png_bytes() for i in range(3)}
    root = extract_dataset_zip(make_zip(tmp_path / "c.zip", members), tmp_path / "out")
    assert root == tmp_path / "out"
    with pytest.raises(DatasetError, match="has only 1 class folder"):
        discover(root, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../evil.png", "'../evil.png', which points outside the archive ('..')"),
        ("cats/../../evil.png", "which points outside the archive"),
        ("/etc/evil.png", "'/etc/evil.png', an absolute path"),
        ("C:/evil.png", "an absolute path"),
        ("..\\evil.png", "points outside the archive"),
    ],
)
def test_members_escaping_the_folder_are_refused_before_writing(tmp_path, name, message):
    members = class_members()
    members[name] = b"gotcha"
    archive = make_zip(tmp_path / "bad.zip", members)
    out = tmp_path / "sandbox" / "out"
    with pytest.raises(DatasetError) as caught:
        extract_dataset_zip(archive, out)
    assert message in str(caught.value)
    assert not out.exists() or files_under(out) == []
    assert files_under(tmp_path / "sandbox") == []
    assert not (tmp_path / "evil.png").exists()


def test_symlinks_are_refused(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in class_members().items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("cats/link.png")
        link.create_system = 3  # Unix, so the mode bits count
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(DatasetError, match=re.escape("'cats/link.png', a symbolic link")):
        extract_dataset_zip(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_declared_size_and_file_count_are_limited(tmp_path):
    big = make_zip(tmp_path / "big.zip", {"cats/zeros.bin": bytes(3 * 2**20), **class_members()})
    with pytest.raises(DatasetError, match=r"big.zip unpacks to 3 MB; the limit is 1 MB"):
        extract_dataset_zip(big, tmp_path / "out", max_total_bytes=2**20)
    assert not (tmp_path / "out").exists()  # refused before anything was written
    with pytest.raises(DatasetError, match=re.escape("big.zip holds 7 files; the limit is 5")):
        extract_dataset_zip(big, tmp_path / "out", max_files=5)


def test_sizes_are_binary_megabytes_as_the_readme_says(tmp_path, monkeypatch):
    """MAX_TOTAL_BYTES is 200 * 2**20 bytes: "200 MB" (the README's number), not "209.7 MB"."""
    assert unpacking.MAX_TOTAL_BYTES == 200 * 2**20
    assert unpacking.megabytes(unpacking.MAX_TOTAL_BYTES) == "200 MB"
    assert unpacking.megabytes(3 * 2**20 // 2) == "1.5 MB"
    path = make_zip(tmp_path / "huge.zip", class_members())
    infolist = zipfile.ZipFile.infolist

    def declaring_a_lot(self):  # a header may declare anything: no need to write 200 MB
        infos = infolist(self)
        infos[0].file_size = unpacking.MAX_TOTAL_BYTES + 20_000
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", declaring_a_lot)
    with pytest.raises(DatasetError) as caught:
        extract_dataset_zip(path, tmp_path / "out")
    # Just over the limit: enough decimals to read larger than it.
    assert str(caught.value) == "huge.zip unpacks to 200.02 MB; the limit is 200 MB"


def test_the_limit_while_writing_is_in_binary_megabytes_too(tmp_path):
    path = make_zip(tmp_path / "big.zip", {"cats/zeros.bin": bytes(3 * 2**20)})
    with zipfile.ZipFile(path) as opened:
        members = [(info, tuple(info.filename.split("/"))) for info in opened.infolist()]
        with pytest.raises(DatasetError) as caught:
            unpacking._write_members(opened, members, tmp_path, 2**20, "big.zip")
    assert str(caught.value) == (
        "big.zip unpacks to more than its declared size and the 1 MB limit: refusing it"
    )


def test_a_header_that_understates_sizes_is_caught_while_writing(tmp_path, monkeypatch):
    # What a crafted archive does: declare 1 byte for a 50 kB member. The declared total
    # passes the limit; writing then stops (zipfile itself reads only the declared size and
    # fails the CRC check) and what was written is removed.
    path = make_zip(tmp_path / "liar.zip", {**class_members(), "dogs/zeros.bin": bytes(50_000)})
    infolist = zipfile.ZipFile.infolist

    def lying(self):
        infos = infolist(self)
        for info in infos:
            if info.file_size > 10_000:
                info.file_size = 1
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", lying)
    with pytest.raises(
        DatasetError, match=re.escape("liar.zip member 'dogs/zeros.bin' cannot be unpacked")
    ):
        extract_dataset_zip(path, tmp_path / "out", max_total_bytes=10_000)
    assert files_under(tmp_path / "out") == []


def test_not_a_zip_and_empty_zip_are_explained(tmp_path):
    fake = tmp_path / "photos.zip"
    fake.write_bytes(png_bytes())
    with pytest.raises(DatasetError, match=r"^photos.zip is not a zip file: upload a \.zip"):
        extract_dataset_zip(fake, tmp_path / "out")
    empty = make_zip(tmp_path / "empty.zip", {"__MACOSX/._x": b""})
    with pytest.raises(DatasetError, match=re.escape("empty.zip holds no files")):
        extract_dataset_zip(empty, tmp_path / "out")
    with pytest.raises(DatasetError, match=re.escape("missing.zip does not exist")):
        extract_dataset_zip(tmp_path / "missing.zip", tmp_path / "out")


def test_unpacked_zips_unpack_each_content_once(tmp_path):
    uploads = UnpackedZips(tmp_path / "uploads")
    first = make_zip(tmp_path / "a.zip", class_members())
    copy = tmp_path / "copy-of-a.zip"  # Gradio gives every request its own temporary copy
    copy.write_bytes(first.read_bytes())
    root = uploads.root(first)
    marker = root / "cats" / "0.png"
    mtime = marker.stat().st_mtime_ns
    assert uploads.root(copy) == root and marker.stat().st_mtime_ns == mtime  # not rewritten
    assert root.parent == tmp_path / "uploads" and discover(root).classes == ["cats", "dogs"]
    other = make_zip(tmp_path / "b.zip", class_members("wrapped/"))
    assert uploads.root(other) not in (root, root.parent)


def test_unpacked_zips_replace_a_leftover_of_an_interrupted_unpack(tmp_path):
    archive = make_zip(tmp_path / "a.zip", class_members())
    digest_folder = UnpackedZips(tmp_path / "uploads").root(archive)
    (digest_folder / "half-written.tmp").write_bytes(b"\0")  # a crash mid-unpack
    fresh = UnpackedZips(tmp_path / "uploads").root(archive)  # a new app process
    assert fresh == digest_folder and not (fresh / "half-written.tmp").exists()
