"""An uploaded .zip of class folders, unpacked safely.

A zip from a stranger can try to write outside the target folder ("../../.bashrc", "/etc/x",
a symlink), or unpack a few kilobytes into gigabytes (a "zip bomb"). `extract_dataset_zip`
refuses such archives before writing anything, using what the archive declares, and counts
the bytes actually written as well, because a declared size can lie.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.dataset import DatasetError, is_hidden

MAX_TOTAL_BYTES = 200 * 1024 * 1024  # "200 MB": sizes are shown in binary megabytes
MAX_FILES = 5000
_CHUNK = 1 << 16


def megabytes(size: int, decimals: int = 1) -> str:
    """`size` bytes in binary megabytes (2**20 bytes, written "MB" as the README does),
    trailing zeros dropped: "200 MB", "2.9 MB"."""
    text = f"{size / 2**20:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} MB"


def _size_and_limit(size: int, limit: int) -> tuple[str, str]:
    """Both in megabytes, with as many decimals as it takes for them to differ: a size just
    over a 200 MB limit reads "200.02 MB", not "200 MB"."""
    for decimals in range(1, 7):
        shown = megabytes(size, decimals), megabytes(limit, decimals)
        if shown[0] != shown[1]:
            return shown
    return f"{size} bytes", f"{limit} bytes"


def _junk(parts: tuple[str, ...]) -> bool:
    return any(map(is_hidden, parts))


def _member_parts(info: zipfile.ZipInfo, archive_name: str) -> tuple[str, ...]:
    """The member's path as safe relative parts, or DatasetError naming the member."""
    name = info.filename.replace("\\", "/")  # zips written on Windows may use backslashes
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise DatasetError(
            f"{archive_name} contains '{info.filename}', an absolute path: "
            "a dataset zip may only hold relative paths"
        )
    parts = tuple(part for part in PurePosixPath(name).parts if part not in ("", "."))
    if ".." in parts:
        raise DatasetError(
            f"{archive_name} contains '{info.filename}', which points outside the archive "
            "('..'): refusing to unpack it"
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DatasetError(
            f"{archive_name} contains '{info.filename}', a symbolic link: "
            "a dataset zip may only hold folders and image files"
        )
    return parts


def _dataset_root(folder: Path) -> Path:
    """Step into single wrapper folders ('photos.zip' -> photos/cats, photos/dogs)."""
    while True:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir():
            return folder
        inner = entries[0]
        if not any(p.is_dir() and not p.name.startswith(".") for p in inner.iterdir()):
            return folder  # a lone class folder: let discover() say "only 1 class"
        folder = inner


def extract_dataset_zip(
    zip_path: str | os.PathLike,
    dest_dir: str | os.PathLike,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_files: int = MAX_FILES,
) -> Path:
    """Unpack `zip_path` into `dest_dir` (created; must be empty) and return the folder
    that holds the class folders: `dest_dir` itself, or the single folder wrapping them.

    Refused with DatasetError, before anything is written: not a zip file, a member with
    an absolute path, a '..' component or a symlink, more than `max_files` files, more than
    `max_total_bytes` declared uncompressed. Refused while writing (what was written is
    removed): more bytes than `max_total_bytes` actually coming out, a corrupt member.
    __MACOSX folders and .DS_Store files are skipped.
    """
    zip_path, dest = Path(zip_path), Path(dest_dir)
    max_total_bytes = whole(max_total_bytes, "max_total_bytes", 1)
    max_files = whole(max_files, "max_files", 1)
    name = zip_path.name
    if not zip_path.is_file():
        raise DatasetError(f"{name} does not exist or is not a file")
    if not zipfile.is_zipfile(zip_path):
        raise DatasetError(f"{name} is not a zip file: upload a .zip of class folders")
    if dest.exists() and any(dest.iterdir()):
        raise MennyError(f"dest_dir {dest} must be empty, so nothing of the user's is mixed in")

    with zipfile.ZipFile(zip_path) as archive:
        members = []
        for info in archive.infolist():
            parts = _member_parts(info, name)
            if parts and not info.is_dir() and not _junk(parts):
                members.append((info, parts))
        if not members:
            raise DatasetError(f"{name} holds no files: put one folder per class inside")
        if len(members) > max_files:
            raise DatasetError(f"{name} holds {len(members)} files; the limit is {max_files}")
        declared = sum(info.file_size for info, _ in members)
        if declared > max_total_bytes:
            shown, limit = _size_and_limit(declared, max_total_bytes)
            raise DatasetError(f"{name} unpacks to {shown}; the limit is {limit}")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            _write_members(archive, members, dest, max_total_bytes, name)
        except BaseException:
            # dest was empty before: everything in it now is ours to remove.
            for child in dest.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            raise
    return _dataset_root(dest)


def _write_members(archive, members, dest: Path, limit: int, name: str) -> None:
    root = dest.resolve()
    total = 0
    for info, parts in members:
        target = dest.joinpath(*parts)
        # Belt and braces: checked parts cannot escape, but a symlink already in dest could.
        if not target.resolve().is_relative_to(root):
            raise DatasetError(f"{name} member '{info.filename}' would land outside the folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with archive.open(info) as source, open(target, "xb") as out:
                while chunk := source.read(_CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise DatasetError(
                            f"{name} unpacks to more than its declared size and the "
                            f"{megabytes(limit)} limit: refusing it"
                        )
                    out.write(chunk)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as error:
            # BadZipFile: a bad CRC or truncated data; RuntimeError: an encrypted member;
            # NotImplementedError: a compression method Python does not support.
            raise DatasetError(
                f"{name} member '{info.filename}' cannot be unpacked: {error}"
            ) from None
        except FileExistsError:
            raise DatasetError(
                f"{name} holds '{info.filename}' twice: a zip of class folders must not"
            ) from None


class UnpackedZips:
    """Uploaded dataset zips, each unpacked once into `folder/<digest>/`, at most `keep` kept.

    A learner previews the stream and then trains on the same upload, and Gradio hands every
    request a fresh temporary copy of it: keying on the content's SHA-256 unpacks it once.
    The least recently used zip beyond `keep` is deleted, and `room(bytes, what)` (e.g. a
    disk quota's `require`) is asked before anything is unpacked. Requests run in worker
    threads, so unpacking holds a lock (two previews of one new zip must not write into
    the same folder at once).
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        keep: int = 2,
        room: Callable[[int, str], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.keep = whole(keep, "keep", 1)
        self._room = room
        self._roots: dict[str, Path] = {}  # digest -> class-folder root, oldest use first
        self._lock = threading.Lock()

    def root(self, zip_path: str | os.PathLike) -> Path:
        """The folder holding the class folders of this zip (see `extract_dataset_zip`)."""
        digest = hashlib.sha256(Path(zip_path).read_bytes()).hexdigest()[:16]
        with self._lock:
            if digest in self._roots:
                self._roots[digest] = self._roots.pop(digest)  # now the most recent
                return self._roots[digest]
            while len(self._roots) >= self.keep:
                shutil.rmtree(self.folder / next(iter(self._roots)), ignore_errors=True)
                del self._roots[next(iter(self._roots))]
            if self._room is not None:
                self._room(declared_size(zip_path), Path(zip_path).name)
            dest = self.folder / digest
            shutil.rmtree(dest, ignore_errors=True)  # a half-unpacked leftover
            try:
                self._roots[digest] = extract_dataset_zip(zip_path, dest)
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            return self._roots[digest]

    def discard(self, root: Path) -> None:
        """Delete an unpacked zip nobody can use (e.g. it held no usable image)."""
        with self._lock:
            for digest, known in list(self._roots.items()):
                if known == root:
                    del self._roots[digest]
                    shutil.rmtree(self.folder / digest, ignore_errors=True)


def declared_size(zip_path: str | os.PathLike) -> int:
    """The uncompressed size a zip declares for all its members (0 if it is no zip: the
    unpacker then says what is wrong)."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return 0
