"""An ImageFolder on disk: find the classes and images, check them, split them.

Layout, as in torchvision's ImageFolder: one sub-folder per class, its images inside

    data/
      cats/  001.jpg 002.png ...
      dogs/  a.webp b.jpeg ...

`discover` turns that into labelled samples. Classes are sorted by name, so label 0 is
always the same class (the chapter used `iterdir()`, whose order depends on the file
system). Every file is opened with PIL first: an unreadable one is reported in
`ImageFolder.skipped` with a reason and left out, instead of crashing training later.

Why files get copied: the stream decodes with mlx-data's `load_image` (stb_image), which
cannot read WebP, ignores EXIF rotation, drops alpha without compositing and gives 1 or 2
channels for grey images. Files it would mis-read are converted once with
`menny_base.images.load_rgb` (the same function that reads an upload in the app)
into a cache folder as 8-bit RGB PNG; the sample then points at the copy. The cache key
is (path, modification time, size), so a later run reuses the copy and an edited image is
converted again.

For the face detector, two folder names are not classes, and a sidecar says where faces are:

    data/_no_face/        pictures without a face (negatives)
    data/_someone_else/   faces of people who are none of the classes (strangers)
    data/boxes.json       {"format": "menny-boxes/1", "boxes": {"cats/001.jpg": [x, y, w, h]}}

All three are optional (`ImageFolder.no_faces`, `.strangers`, `.boxes`).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from menny_base.errors import MennyError
from menny_base.images import MAX_PIXELS, ImageError, load_rgb
from menny_base.numbers import real, whole
from menny_core.portraits.boxes import read_boxes
from menny_core.verdicts import NO_FACE, SOMEONE_ELSE

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_ALLOWED = "Menny reads " + ", ".join(IMAGE_EXTENSIONS[:-1]) + f" and {IMAGE_EXTENSIONS[-1]} files"
# What stb_image reads exactly as PIL would: 8-bit RGB in these containers, upright.
_DIRECT_FORMATS = ("PNG", "JPEG", "BMP")
_EXIF_ORIENTATION = 0x0112
_IGNORED_NAMES = ("__MACOSX", "Thumbs.db", "desktop.ini")

Sample = tuple[str, int]
NO_FACE_FOLDER = "_no_face"
SOMEONE_ELSE_FOLDER = "_someone_else"
SPECIAL_FOLDERS = (NO_FACE_FOLDER, SOMEONE_ELSE_FOLDER)


class DatasetError(MennyError):
    """A dataset that Menny cannot train on, with a sentence saying what to change."""


def default_cache_dir() -> Path:
    """Where normalised copies go unless told otherwise: $XDG_CACHE_HOME/menny/images."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "menny" / "images"


@dataclass
class ImageFolder:
    """The result of `discover`.

    samples:   (path to read, label) pairs; label i is classes[i]. The path is the user's
               file, or its normalised RGB PNG copy in the cache.
    skipped:   (path, reason) for each file left out; the reason is a sentence naming the
               file relative to the root: "cats/notes.txt is not an image file (...)".
    originals: cached copy -> the user's file, for the copies only.
    no_faces, strangers: paths to read of the `_no_face` and `_someone_else` images.
    boxes:     sample path -> its face box (x, y, w, h) in the image's pixels, from the
               root's boxes.json (images without an entry have no known box).
    """

    root: Path
    classes: list[str]
    samples: list[Sample]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    originals: dict[str, str] = field(default_factory=dict)
    no_faces: list[str] = field(default_factory=list)
    strangers: list[str] = field(default_factory=list)
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    def original(self, path: str) -> str:
        """The user's file behind a sample path (itself unless it is a cached copy)."""
        return self.originals.get(path, path)

    def relative(self, path: str) -> str:
        """A sample's original file relative to the root, with '/' separators: 'cats/1.jpg'."""
        return Path(self.original(path)).relative_to(self.root).as_posix()

    def counts(self) -> dict[str, int]:
        """Usable images per class name."""
        counts = dict.fromkeys(self.classes, 0)
        for _, label in self.samples:
            counts[self.classes[label]] += 1
        return counts


def is_hidden(name: str) -> bool:
    """Files and folders nobody means as data: dot-files (.DS_Store, ._x from macOS) and
    what archivers and Windows add (__MACOSX, Thumbs.db, desktop.ini)."""
    return name.startswith(".") or name in _IGNORED_NAMES


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _shown(root: Path) -> str:
    return f"{root.name or root}/"


def _skip_reason(relative: str, path: Path, error: Exception) -> str:
    """Why `path` (shown as `relative`, e.g. 'cats/x.png') was left out, as one sentence
    that never shows a server path: PIL's messages quote the full path."""
    if isinstance(error, UnidentifiedImageError):
        return f"{relative} is not an image Pillow can read"
    if isinstance(error, Image.DecompressionBombError):
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)) / 1e6:.3g} megapixels" if found else "too many pixels"
        return f"{relative} has {size}; the limit is {MAX_PIXELS / 1e6:.3g} megapixels"
    text = str(error).strip().rstrip(".") or type(error).__name__
    for shown in (str(path), str(path.resolve()), path.name):
        text = text.replace(shown, relative)
    if isinstance(error, ImageError) and text.startswith("the image "):
        return f"{relative} {text.removeprefix('the image ')}"  # "x.png is truncated or ..."
    if isinstance(error, ImageError) and text.startswith(relative):
        return text
    return f"{relative} could not be read as an image ({text})"


def _readable_as_is(path: Path) -> bool:
    """Open `path` with PIL and say whether stb_image would decode it exactly as PIL does.

    Raises whatever PIL raises for a file that is not a readable image.
    """
    with Image.open(path) as image:
        fmt, mode = image.format, image.mode
        width, height = image.size
        transparent = "transparency" in image.info
        image.verify()  # PNG: every chunk's CRC and the end marker, without decoding pixels
    with Image.open(path) as image:  # verify() leaves the image unusable: open again
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        direct = (
            fmt in _DIRECT_FORMATS
            and mode == "RGB"
            and orientation == 1
            and not transparent
            and width * height <= MAX_PIXELS
        )
        if direct and fmt != "PNG":
            # verify() does not look at JPEG/BMP pixel data; a truncated file would only
            # fail inside the stream, mid-epoch. A 1/8-scale JPEG decode reads every byte.
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
    return direct


def _cached_copy(path: Path, cache_dir: Path) -> Path:
    """The normalised RGB PNG copy of `path`, converted now unless already cached."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    # The original name first: sorting copies by name keeps the order of the originals.
    target = cache_dir / f"{path.name}.{digest}.png"
    if not target.exists():
        pixels = load_rgb(path)
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        Image.fromarray(pixels).save(partial, format="PNG")
        os.replace(partial, target)  # atomic: a concurrent run never reads half a file
    return target


def discover(
    root: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    min_classes: int = 2,
    min_per_class: int = 3,
    label: str | None = None,
) -> ImageFolder:
    """Find classes (sub-folders, sorted by name) and their readable images under `root`.

    Images are files ending in IMAGE_EXTENSIONS (any case), also in nested folders of a
    class; hidden files and folders (.DS_Store, __MACOSX) are ignored. Unreadable files
    go to `skipped`. Raises DatasetError when there are fewer than `min_classes` classes or
    a class has fewer than `min_per_class` usable images.

    label: how to name the dataset in messages; default: the folder's name followed by /
    ("data/"). An app that unpacked an upload into a hashed folder passes the upload's
    name ("photos.zip"), a command line the argument as typed ("--data photos").
    """
    root = Path(root)
    min_classes = whole(min_classes, "min_classes", 1)
    min_per_class = whole(min_per_class, "min_per_class", 1)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = _shown(root) if label is None else str(label)
    if not root.exists():
        raise DatasetError(f"{name} does not exist: give a folder with one sub-folder per class")
    if not root.is_dir():
        raise DatasetError(f"{name} is a file: give a folder with one sub-folder per class")

    entries = [p for p in root.iterdir() if not is_hidden(p.name)]
    special = {p.name: p for p in entries if p.is_dir() and p.name in SPECIAL_FOLDERS}
    class_dirs = sorted(
        (p for p in entries if p.is_dir() and p.name not in special), key=lambda p: p.name
    )
    if not class_dirs:
        if any(p.is_file() and _is_image_name(p) for p in entries):
            raise DatasetError(
                f"{name} has images but no class sub-folders: "
                "put each class's images in its own folder"
            )
        raise DatasetError(f"{name} has no class sub-folders: make one folder per class")
    if any(p.name == SOMEONE_ELSE for p in class_dirs):
        raise DatasetError(
            f"{name} has a class folder named '{SOMEONE_ELSE}', which is Menny's answer for "
            f"strangers: put strangers' photos in {SOMEONE_ELSE_FOLDER}/ instead"
        )
    if len(class_dirs) < min_classes:
        listed = ", ".join(p.name for p in class_dirs)
        noun = "folder" if len(class_dirs) == 1 else "folders"
        raise DatasetError(
            f"{name} has only {len(class_dirs)} class {noun} ({listed}); Menny needs at "
            f"least {min_classes}, one sub-folder per class"
        )

    folder = ImageFolder(root=root, classes=[p.name for p in class_dirs], samples=[])
    for label, class_dir in enumerate(class_dirs):
        usable, unreadable = _read_images(class_dir, root, cache, folder)
        folder.samples += [(path, label) for path in usable]
        if len(usable) < min_per_class:
            extra = f" ({unreadable} more could not be read)" if unreadable else ""
            raise DatasetError(
                f"class '{class_dir.name}' in {name} has {len(usable)} usable "
                f"image{'' if len(usable) == 1 else 's'}; each class needs at least "
                f"{min_per_class}{extra}"
            )
    if NO_FACE_FOLDER in special:
        folder.no_faces = _read_images(special[NO_FACE_FOLDER], root, cache, folder)[0]
    if SOMEONE_ELSE_FOLDER in special:
        folder.strangers = _read_images(special[SOMEONE_ELSE_FOLDER], root, cache, folder)[0]
    folder.boxes = _boxes_of(folder, name)
    return folder


def _read_images(
    directory: Path, root: Path, cache: Path, folder: ImageFolder
) -> tuple[list[str], int]:
    """(the paths to read of the usable images under `directory`, how many could not be
    read); unreadable and non-image files go to folder.skipped with their reason."""
    usable: list[str] = []
    unreadable = 0
    for path in sorted(directory.rglob("*")):
        if path.is_dir() or any(map(is_hidden, path.relative_to(directory).parts)):
            continue
        relative = path.relative_to(root).as_posix()
        if not _is_image_name(path):
            folder.skipped.append((str(path), f"{relative} is not an image file: {_ALLOWED}"))
            continue
        try:
            if _readable_as_is(path):
                read_from = str(path)
            else:
                read_from = str(_cached_copy(path, cache))
                folder.originals[read_from] = str(path)
        # A user's folder can hold anything: PIL raises OSError, SyntaxError,
        # DecompressionBombError, ImageError... none of them may stop the others.
        except Exception as error:
            folder.skipped.append((str(path), _skip_reason(relative, path, error)))
            unreadable += 1
            continue
        usable.append(read_from)
    return usable, unreadable


def _boxes_of(folder: ImageFolder, name: str) -> dict[str, tuple[float, float, float, float]]:
    """The sidecar's boxes keyed by the path each image is read from; entries for files
    that are not in the dataset are ignored (a sidecar may cover more than one folder)."""
    try:
        boxes = read_boxes(folder.root)
    except MennyError as error:
        raise DatasetError(f"{name}: {error}") from None
    if not boxes:
        return {}
    paths = [p for p, _ in folder.samples] + folder.strangers
    return {p: boxes[folder.relative(p)] for p in paths if folder.relative(p) in boxes}


def fingerprint(folder: ImageFolder) -> str:
    """A stable 16-hex-digit hash of the class names and (relative path, size, label) of every
    sample: the same files give the same fingerprint on any machine, in any cache."""
    digest = hashlib.sha256("\n".join(folder.classes).encode() + b"\n\n")
    rows = sorted(
        (folder.relative(path), os.path.getsize(folder.original(path)), label)
        for path, label in folder.samples
    )
    # The detector's extra folders count only when present: a plain dataset keeps the
    # fingerprint it always had.
    for kind, paths in ((NO_FACE, folder.no_faces), (SOMEONE_ELSE, folder.strangers)):
        rows += sorted(
            (folder.relative(p), os.path.getsize(folder.original(p)), kind) for p in paths
        )
    for relative, size, label in rows:
        digest.update(f"{relative}\t{size}\t{label}\n".encode())
    return digest.hexdigest()[:16]


@dataclass
class Split:
    """Train/validation/test samples, and how they were drawn (for run metadata)."""

    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    seed: int
    val_fraction: float
    test_fraction: float

    def to_dict(self, folder: ImageFolder | None = None) -> dict:
        """JSON-ready; with `folder`, paths are the original files relative to its root."""
        name = folder.relative if folder is not None else str

        def listed(samples: list[Sample]) -> list[list]:
            return [[name(path), label] for path, label in samples]

        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "train": listed(self.train),
            "val": listed(self.val),
            "test": listed(self.test),
        }


def _split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(validation, test) counts for a class of n: rounded, then at least 1 each when n >= 3
    (and the fraction is not 0), always leaving at least 1 for training."""
    n_val = math.floor(n * val_fraction + 0.5)
    n_test = math.floor(n * test_fraction + 0.5)
    if n >= 3:
        n_val = max(n_val, 1 if val_fraction > 0 else 0)
        n_test = max(n_test, 1 if test_fraction > 0 else 0)
    val_floor = 1 if n >= 3 and val_fraction > 0 else 0
    while n - n_val - n_test < 1:  # give back from the larger held-out part
        if n_test > n_val or n_val == val_floor:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def stratified_split(
    samples: Sequence[Sample],
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> Split:
    """Split each class separately, so every split has every class in the same proportion.

    Deterministic: samples are sorted first (by label, then file name), so the result
    depends on the seed and the files only, not on the order they were listed in. Each
    class is shuffled by one numpy Generator seeded with `seed`.
    """
    val_fraction = real(val_fraction, "val_fraction", 0, 1, high_open=True)
    test_fraction = real(test_fraction, "test_fraction", 0, 1, high_open=True)
    if val_fraction + test_fraction >= 1:
        raise MennyError(
            f"val_fraction + test_fraction must be < 1 to leave images for training, got "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction:g}"
        )
    seed = whole(seed, "seed", 0)
    by_class: dict[int, list[Sample]] = {}
    for path, label in samples:
        by_class.setdefault(whole(label, "label", 0), []).append((str(path), int(label)))
    rng = np.random.default_rng(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    test: list[Sample] = []
    for label in sorted(by_class):
        members = sorted(by_class[label], key=lambda s: (os.path.basename(s[0]), s[0]))
        shuffled = [members[i] for i in rng.permutation(len(members))]
        n_val, n_test = _split_sizes(len(members), val_fraction, test_fraction)
        val += shuffled[:n_val]
        test += shuffled[n_val : n_val + n_test]
        train += shuffled[n_val + n_test :]
    return Split(train, val, test, seed, val_fraction, test_fraction)
