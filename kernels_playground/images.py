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
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 40 megapixels: a 48 MP phone photo must be resized first, every camera up to 40 MP loads.
# As decoded RGB that is 120 MB, plus float32 copies for convolution: the most one upload
# should cost a shared server.
MAX_PIXELS = 40_000_000

# Pillow can read more formats; these are the ones people upload (Pillow's JPEG reader also
# opens the multi-picture "MPO" JPEGs some phones write). Restricting the list keeps
# rarely-used decoders out of reach.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
ALLOWED = "PNG, JPEG, WebP, BMP, GIF, TIFF"


class ImageError(ValueError):
    """An image that cannot be used, with one sentence saying why and what is allowed."""


def load_rgb(source: object, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Any image `source` as an (H, W, 3) uint8 RGB array.

    source: a path (str or Path), the file's bytes, a PIL image, or a numpy array shaped
    (H, W) or (H, W, 1|2|3|4) (grey, grey+alpha, RGB, RGBA) of dtype uint8, uint16 (scaled
    by 255/65535), bool, or float (in [0, 1] if the largest value is <= 1, else [0, 255]).
    max_pixels: the largest width*height accepted (default MAX_PIXELS = 40 megapixels).
    """
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:
            _check_size(source.shape[1], source.shape[0], max_pixels)
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        _check_size(source.width, source.height, max_pixels)
        return _pil_to_rgb(source, "the image")
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
    return _pil_to_rgb(_open(data, label, max_pixels), label)


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale an (H, W) or (H, W, C) uint8 image so its longer side is <= max_side.

    Keeps the aspect ratio (each side rounded, at least 1 pixel) and resamples with
    Lanczos, which keeps edges crisp without the aliasing of plain subsampling.
    Images already small enough are returned unchanged (the same array).
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    pil = Image.fromarray(np.ascontiguousarray(image.astype(np.uint8, copy=False)).squeeze())
    return np.asarray(pil.resize(size, Image.Resampling.LANCZOS))


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


def _pil_to_rgb(image: Image.Image, label: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow warns about corrupt EXIF/TIFF tags; a bad file is reported by our error.
            warnings.simplefilter("ignore")
            image.seek(0)  # the first frame of an animation
            image.load()
            with contextlib.suppress(Exception):  # a broken EXIF block must not reject it
                image = ImageOps.exif_transpose(image)
            return _array_to_rgb(_pixels(image))
    except ImageError:
        raise
    except Exception as error:
        raise ImageError(f"the image is truncated or corrupt: {_reason(error)}") from None


def _pixels(image: Image.Image) -> np.ndarray:
    """The decoded pixels as the array `_array_to_rgb` understands, per Pillow mode."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F", "L", "RGB"):
        array = np.asarray(image)
        if mode == "I" and array.size and array.min() >= 0 and array.max() <= 65535:
            array = array.astype(np.uint16)  # Pillow's 32-bit mode holding 16-bit samples
        elif mode == "I" or (
            mode == "F" and array.size and not 0 <= array.min() <= array.max() <= 255
        ):
            # Samples outside every 8/16-bit range (depth maps, scientific TIFFs): stretch.
            array = _stretch(array.astype(np.float64))
        return array
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))  # 1, P, CMYK, YCbCr, LAB, HSV


def _stretch(values: np.ndarray) -> np.ndarray:
    """Values outside any known range: min..max onto 0..1 (a constant image becomes 0)."""
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


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
        values = array.astype(np.float64)
        if not np.isfinite(values).all():
            raise ImageError("the image array contains NaN or infinite values")
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 255:
            raise ImageError(
                f"float pixels must lie in [0, 1] or [0, 255], got {low:g} .. {high:g}"
            )
        scale = 255.0 if high <= 1.0 else 1.0
        return np.rint(values * scale).astype(np.uint8)
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
