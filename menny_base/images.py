"""One loader for every image a user may give: a path, bytes, a PIL image or a numpy array.

`load_rgb` always returns an (H, W, 3) uint8 array (values 0..255), whatever came in:

- transparency (RGBA, LA, P with a transparent colour) is composited on BLACK, because
  the bundled training portraits have dark backgrounds: a cut-out on black looks like them;
- 16-bit grey (I;16, I) is scaled to 8 bits (v * 255 / 65535, rounded), not clipped;
- float pixels (mode F, float arrays) in [0, 1] are scaled by 255, in [0, 255] used as is;
- CMYK, 1-bit, palette and grey images are converted to RGB by Pillow;
- the EXIF orientation of phone photos is applied (ImageOps.exif_transpose);
- an animated GIF/WebP gives its first frame.

The size is checked from the header BEFORE any pixel is decoded (Image.open is lazy), so a
small file declaring a 20000x20000 image ("decompression bomb") costs nothing.
Every failure is an `ImageError` (a ValueError) with one sentence for a person.

Memory. A caller that shows the image small says so with `max_side`: a JPEG is then decoded
at 1/2, 1/4 or 1/8 scale, and any other format is box-averaged by a whole factor one band of
rows at a time, so no full-size RGB copy exists. A 40 MP palette PNG (a few KB on disk, 40 MB
decoded) otherwise passes through 160 MB of Pillow RGB and two 120 MB arrays: 420 MB at its
peak against 60 MB (bench/image_memory.py).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from menny_base.errors import MennyError

# 40 megapixels: a 48 MP phone photo must be resized first, every camera up to 40 MP loads.
# As decoded RGB that is 120 MB, plus float32 copies for convolution: the most one upload
# should cost a shared server.
MAX_PIXELS = 40_000_000

# Pillow can read more formats; these are the ones people upload (Pillow's JPEG reader also
# opens the multi-picture "MPO" JPEGs some phones write). Restricting the list keeps
# rarely-used decoders out of reach.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
ALLOWED = "PNG, JPEG, WebP, BMP, GIF, TIFF"
# Grey from RGB as ITU-R BT.601 weighs it (what Pillow's convert("L") and JPEG use).
LUMA_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ImageError(MennyError):
    """An image that cannot be used, with one sentence saying why and what is allowed."""


def load_rgb(
    source: object, max_pixels: int = MAX_PIXELS, max_side: int | None = None
) -> np.ndarray:
    """Any image `source` as an (H, W, 3) uint8 RGB array.

    source: a path (str or Path), the file's bytes, a PIL image, or a numpy array shaped
    (H, W) or (H, W, 1|2|3|4) (grey, grey+alpha, RGB, RGBA) of dtype uint8, uint16 (scaled
    by 255/65535), bool, or float (in [0, 1] if the largest value is <= 1, else [0, 255]).
    max_pixels: the largest width*height accepted (default MAX_PIXELS = 40 megapixels).
    max_side: None for full size; else the caller wants at most max_side pixels on the
    longer side anyway. The result then has exactly the shape of
    `fit_within(load_rgb(source), max_side)` and nearly its values (Lanczos at the end too),
    but a big image is shrunk while or right after it is decoded, for a fraction of the memory.
    """
    if max_side is not None:
        _check_max_side(max_side)  # before decoding anything
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:
            _check_size(source.shape[1], source.shape[0], max_pixels)
        rgb = _array_to_rgb(source)
        return rgb if max_side is None else _fresh(fit_within(rgb, max_side))
    if isinstance(source, Image.Image):
        _check_size(source.width, source.height, max_pixels)
        return _pil_to_rgb(source, "the image", max_side, owned=False)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), "the uploaded data"
    elif isinstance(source, (str, Path)):
        data, label = _read_file(Path(source)), Path(source).name
    else:
        raise ImageError(
            f"cannot read an image from a {type(source).__name__} "
            "(allowed: a file path, bytes, a PIL image or a numpy array)"
        )
    if not data:
        raise ImageError(f"{label} is empty (0 bytes); allowed: {ALLOWED}")
    return _pil_to_rgb(_open(data, label, max_pixels), label, max_side, owned=True)


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale an (H, W) or (H, W, C) uint8 image so its longer side is <= max_side.

    Keeps the aspect ratio (each side rounded, at least 1 pixel) and resamples with
    Lanczos, which keeps edges crisp without the aliasing of plain subsampling.
    Images already small enough are returned unchanged (the same array).
    """
    _check_max_side(max_side)
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    return _resized(image, _fitted_size(height, width, max_side))


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as `load_rgb` shows it (EXIF rotation applied),
    read from its header alone: what a picture was before `max_side` shrank it."""
    with Image.open(path, formats=FORMATS) as image:
        width, height = image.size
        return (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)


def _check_max_side(max_side: int) -> None:
    if max_side < 1:
        raise MennyError(f"max_side must be >= 1, got {max_side}")


def _fitted_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) scaled so the longer side is max_side, each rounded, at least 1."""
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resized(
    image: np.ndarray, size_hw: tuple[int, int], box: tuple[float, ...] | None = None
) -> np.ndarray:
    """`image` (or its region `box`, (left, top, right, bottom) in pixels, fractions allowed)
    resampled to (height, width) = size_hw with Lanczos."""
    pil = Image.fromarray(np.ascontiguousarray(image.astype(np.uint8, copy=False)).squeeze())
    return np.asarray(pil.resize(size_hw[::-1], Image.Resampling.LANCZOS, box=box))


def _fresh(image: np.ndarray) -> np.ndarray:
    """A writeable C-contiguous copy unless it already is one (Pillow's arrays are read-only)."""
    return image if image.flags.writeable and image.flags.c_contiguous else np.array(image)


# -- reading -------------------------------------------------------------------


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise ImageError(f"{path.name} does not exist; give the path of an image file")
    if not path.is_file():
        raise ImageError(f"{path.name} is not a file; give the path of an image file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise ImageError(f"{path.name} cannot be read: {error.strerror or error}") from None


def _check_size(width: int, height: int, max_pixels: int) -> None:
    pixels = width * height
    if pixels > max_pixels:
        raise ImageError(
            f"the image is {width}x{height} = {_megapixels(pixels)} megapixels; "
            f"the limit is {_megapixels(max_pixels)} megapixels"
        )
    if pixels == 0:
        raise ImageError(f"the image is {width}x{height}: it has no pixels")


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g}"


def _open(data: bytes, label: str, max_pixels: int) -> Image.Image:
    """Image.open reads only the header: the size is known before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            # Our own size check replaces Pillow's bomb warning; corrupt headers become errors.
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as error:
        # Beyond Pillow's own limit (about 179 megapixels): report it in our words.
        found = re.search(r"\((\d+) pixels\)", str(error))
        pixels = int(found.group(1)) if found else max_pixels + 1
        raise ImageError(
            f"the image has {_megapixels(pixels)} megapixels; "
            f"the limit is {_megapixels(max_pixels)} megapixels"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{label} is not an image Pillow can read (allowed: {ALLOWED})") from None
    except Exception as error:  # any header parser failure is a corrupt file to the user
        raise ImageError(f"the image is truncated or corrupt: {_reason(error)}") from None
    _check_size(image.width, image.height, max_pixels)
    return image


def _reason(error: Exception) -> str:
    return str(error).strip().rstrip(".") or type(error).__name__


def _pil_to_rgb(
    image: Image.Image, label: str, max_side: int | None = None, owned: bool = False
) -> np.ndarray:
    """The first frame of `image`, EXIF orientation applied, as (H, W, 3) uint8; with
    max_side, shrunk to `fit_within`'s size. `owned`: we opened it, so it may be changed
    (a caller's PIL image is never resized in place by `draft`)."""
    try:
        with warnings.catch_warnings():
            # Pillow warns about corrupt EXIF/TIFF tags; a bad file is reported by our error.
            warnings.simplefilter("ignore")
            image.seek(0)  # the first frame of an animation
            full_size = image.size
            # A JPEG can decode at 1/2, 1/4 or 1/8 scale; a caller's image is not ours to shrink.
            scale = _draft(image, max_side) if max_side is not None and owned else 1
            image.load()
            orientation = _orientation(image)  # after load: a PNG may store EXIF after pixels
            if max_side is not None:
                rgb = _shrunk(image, full_size, scale, max_side)
            else:
                rgb = _array_to_rgb(_pixels(image))
            # Turning the (possibly small) array: no full-size copy of the image for it.
            return _oriented(rgb, orientation)
    except ImageError:
        raise
    except Exception as error:
        raise ImageError(f"the image is truncated or corrupt: {_reason(error)}") from None


def _draft(image: Image.Image, max_side: int) -> int:
    """Ask a JPEG to decode at 1/2, 1/4 or 1/8 scale (in the DCT: cheap and clean), still at
    least REDUCING_GAP x the final size; returns the scale (1 for other formats)."""
    width, height = image.size
    fraction = min(1.0, REDUCING_GAP * max_side / max(width, height))
    drafted = image.draft(None, (math.ceil(width * fraction), math.ceil(height * fraction)))
    # A JPEG answers (mode, (0, 0, width / scale, height / scale)); other formats None.
    return 1 if drafted is None else round(width / drafted[1][2])


def _shrunk(
    image: Image.Image, full_size: tuple[int, int], scale: int, max_side: int
) -> np.ndarray:
    """`fit_within(load_rgb(...), max_side)` in the stored orientation, from an image already
    decoded at 1/scale: box-averaged by a whole factor first while the longer side stays >=
    REDUCING_GAP * max_side, then Lanczos, with the partial blocks at the right and bottom
    edges weighted by their true width (the `box`), as Image.resize(reducing_gap=...) does."""
    width, height = full_size
    if max(width, height) <= max_side:
        return _array_to_rgb(_pixels(image))
    factor = max(1, max(image.size) // (REDUCING_GAP * max_side))
    rgb = _box_reduced(image, factor) if factor > 1 else _array_to_rgb(_pixels(image))
    shrink = scale * factor
    box = (0.0, 0.0, width / shrink, height / shrink)
    return _fresh(_resized(rgb, _fitted_size(height, width, max_side), box))


# A cheap shrink (JPEG draft, box average) stops at >= REDUCING_GAP x the final size, and
# Lanczos does the rest. Pillow's thumbnail uses 2; 3 keeps fine stripes and dithering
# within a level or so of resampling the full image, for a few MB more (3 * 512 px a side).
REDUCING_GAP = 3

# Rows per band, about 262 K pixels: 1 MB as RGBA, a few MB while compositing, whatever
# the image.
_BAND_PIXELS = 1 << 18


def _box_reduced(image: Image.Image, factor: int) -> np.ndarray:
    """(ceil(H/f), ceil(W/f), 3) uint8, each pixel the mean of an f x f block (f = factor)
    of the image as `_pixels` + `_array_to_rgb` make it (alpha already on black), converted
    one band of rows at a time: the image stays in its own compact mode (1 byte per pixel
    for P, L or 1) and no full-size RGB copy ever exists."""
    width, height = image.size
    # Modes I and F are mapped to 8 bits from their range: the whole image's, not a band's.
    extrema = image.getextrema() if image.mode in ("I", "F") else None
    rows = max(1, _BAND_PIXELS // (width * factor)) * factor  # a multiple of the factor
    reduced = np.empty((-(-height // factor), -(-width // factor), 3), np.uint8)
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(height, top + rows)))
        rgb = _array_to_rgb(_pixels(band, extrema))
        small = np.asarray(Image.fromarray(rgb).reduce(factor))
        reduced[top // factor : top // factor + len(small)] = small
    return reduced


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation 1..8 (1: as stored), as ImageOps.exif_transpose reads it."""
    with contextlib.suppress(Exception):  # a broken EXIF block must not reject the image
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        return orientation if orientation in range(1, 9) else 1
    return 1


def _oriented(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """An (H, W, 3) array turned upright as ImageOps.exif_transpose would turn the image
    (2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
    8 rotate 90 counter-clockwise); a fresh contiguous array when anything moved."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }.get(orientation)
    return rgb if turned is None else np.ascontiguousarray(turned(rgb))


def _pixels(image: Image.Image, extrema: tuple[float, float] | None = None) -> np.ndarray:
    """The decoded pixels as the array `_array_to_rgb` understands, per Pillow mode.
    extrema: for modes I and F, the (low, high) of the whole image when `image` is a band."""
    mode = image.mode
    if mode in ("I", "F"):
        return _levels(np.asarray(image), mode, extrema)
    if mode.startswith("I;16") or mode in ("L", "RGB"):
        return np.asarray(image)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))  # 1, P, CMYK, YCbCr, LAB, HSV


def _levels(array: np.ndarray, mode: str, extrema: tuple[float, float] | None) -> np.ndarray:
    """Mode I (int32) or F (float32) samples as uint16 or uint8 from (low, high), the range
    of the whole image: 16-bit samples stay 16-bit (scaled later), floats in [0, 1] or
    [0, 255] are scaled, anything else (depth maps, scientific TIFFs) is stretched
    low..high onto 0..255 (a constant image becomes 0)."""
    if mode == "F":
        _check_finite(array)
    low, high = extrema or (array.min(), array.max())
    if mode == "I" and low >= 0 and high <= 65535:
        return array.astype(np.uint16)  # Pillow's 32-bit mode holding 16-bit samples
    if mode == "F" and 0 <= low <= high <= 255:
        return _floats_to_uint8(array, high)
    values = array.astype(np.float64)
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return _floats_to_uint8((values - low) / (high - low), 1.0)


def _floats_to_uint8(values: np.ndarray, high: float) -> np.ndarray:
    """Floats in [0, 1] (when `high`, their maximum, is <= 1) or [0, 255] as uint8, rounded."""
    scale = 255.0 if high <= 1.0 else 1.0
    return np.rint(values.astype(np.float64) * scale).astype(np.uint8)


def _check_finite(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise ImageError("the image array contains NaN or infinite values")


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise ImageError(
            f"an image array must be (H, W) or (H, W, C) with C = 1, 2, 3 or 4, "
            f"got shape {array.shape}"
        )
    _check_size(array.shape[1], array.shape[0], max_pixels=array.shape[0] * array.shape[1])
    values = _to_uint8(array)
    if values.ndim == 2:
        return np.repeat(values[:, :, None], 3, axis=2)
    if values.shape[2] == 2:  # grey + alpha
        values = np.concatenate([np.repeat(values[:, :, :1], 3, axis=2), values[:, :, 1:]], 2)
    if values.shape[2] == 4:
        return _on_black(values)
    # A fresh, writeable array: never a read-only view of Pillow's buffer or the caller's array.
    return np.array(values, dtype=np.uint8, order="C")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if kind == "b":
        return array.astype(np.uint8) * 255
    if kind == "u" and array.dtype.itemsize == 2:
        # v * 255 / 65535 == v / 257: the 16-bit range onto the 8-bit one, rounded.
        return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if kind == "f":
        _check_finite(array)
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 255:
            raise ImageError(
                f"float pixels must lie in [0, 1] or [0, 255], got {low:g} .. {high:g}"
            )
        return _floats_to_uint8(array, high)
    if kind in "ui":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ImageError(
                f"integer pixels of dtype {array.dtype} must lie in 0..255, got {low} .. {high}"
            )
        return array.astype(np.uint8)
    raise ImageError(f"image arrays must hold numbers, got dtype {array.dtype}")


def _on_black(rgba: np.ndarray) -> np.ndarray:
    """Composite on black: rgb * alpha / 255, rounded to the nearest integer."""
    rgb = rgba[:, :, :3].astype(np.uint32)
    alpha = rgba[:, :, 3:].astype(np.uint32)
    return ((rgb * alpha + 127) // 255).astype(np.uint8)
