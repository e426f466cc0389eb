"""load_rgb on real files in every mode people upload, and on every kind of broken input."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from menny_base import images
from menny_base.images import MAX_PIXELS, ImageError, fit_within, load_rgb

RED = (255, 0, 0)


def saved(tmp_path, image: Image.Image, name: str, **options) -> str:
    path = tmp_path / name
    image.save(path, **options)
    return str(path)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_rgb_png_round_trips_exactly(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(7, 9, 3)).astype(np.uint8)
    out = load_rgb(saved(tmp_path, Image.fromarray(pixels), "a.png"))
    assert out.dtype == np.uint8 and out.shape == (7, 9, 3)
    np.testing.assert_array_equal(out, pixels)
    assert out.flags.writeable and out.flags.c_contiguous
    copy = load_rgb(pixels)
    copy[0, 0] = 0  # the result never aliases the caller's array
    assert not np.shares_memory(copy, pixels)


def test_rgba_half_transparent_is_composited_on_black(tmp_path):
    rgba = np.array([[[200, 100, 50, 128], [10, 20, 30, 255], [255, 255, 255, 0]]], np.uint8)
    out = load_rgb(saved(tmp_path, Image.fromarray(rgba, "RGBA"), "a.png"))
    # round(200*128/255) = 100, round(100*128/255) = 50, round(50*128/255) = 25
    np.testing.assert_array_equal(out[0], [[100, 50, 25], [10, 20, 30], [0, 0, 0]])


def test_la_and_palette_transparency(tmp_path):
    la = Image.fromarray(np.array([[[200, 128], [90, 255]]], np.uint8), "LA")
    np.testing.assert_array_equal(load_rgb(saved(tmp_path, la, "la.png"))[0], [[100] * 3, [90] * 3])
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 255, 255, 255, 0, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    out = load_rgb(saved(tmp_path, palette, "p.png", transparency=0))
    np.testing.assert_array_equal(out[0], [[0, 0, 0], RED])  # white but transparent: black
    out = load_rgb(saved(tmp_path, palette, "p.gif", transparency=0))
    np.testing.assert_array_equal(out[0], [[0, 0, 0], RED])


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    ramp = (np.arange(256) * 257).astype(np.uint16)[None].repeat(3, axis=0)
    ramp[2, :4] = [0, 128, 129, 65535]  # rounding: 128/257 -> 0, 129/257 -> 1
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    out = load_rgb(saved(tmp_path, image, "ramp16.png"))
    np.testing.assert_array_equal(out[0, :, 0], np.arange(256))
    assert (np.diff(out[1, :, 0].astype(int)) > 0).all()
    np.testing.assert_array_equal(out[2, :4, 1], [0, 0, 1, 255])
    int32 = Image.fromarray((np.arange(4, dtype=np.int32) * 257 * 85).reshape(1, 4))
    assert int32.mode == "I"
    np.testing.assert_array_equal(
        load_rgb(saved(tmp_path, int32, "i.tif"))[0, :, 2], [0, 85, 170, 255]
    )


def test_float_grey_and_one_bit_and_cmyk(tmp_path):
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert floats.mode == "F"
    np.testing.assert_array_equal(
        load_rgb(saved(tmp_path, floats, "f.tif"))[0, :, 0], [0, 128, 255]
    )
    bits = Image.new("1", (3, 1))
    bits.putpixel((1, 0), 1)
    np.testing.assert_array_equal(load_rgb(saved(tmp_path, bits, "b.bmp"))[0, :, 0], [0, 255, 0])
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))
    np.testing.assert_array_equal(load_rgb(saved(tmp_path, cmyk, "c.tif"))[0, 0], RED)
    jpeg = load_rgb(saved(tmp_path, Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "c.jpg"))
    assert np.abs(jpeg[4, 4].astype(int) - RED).max() <= 3
    grey = Image.fromarray(np.array([[7, 250]], np.uint8))
    np.testing.assert_array_equal(load_rgb(saved(tmp_path, grey, "l.png"))[0], [[7] * 3, [250] * 3])


def test_exif_orientation_six_rotates_the_picture(tmp_path):
    stored = np.zeros((2, 4, 3), np.uint8)  # 2 rows, 4 columns as stored
    stored[0, 0] = RED
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    out = load_rgb(saved(tmp_path, image, "phone.png", exif=exif))
    assert out.shape == (4, 2, 3)
    np.testing.assert_array_equal(out[0, 1], RED)  # top-left of the file is now top-right
    assert out.sum() == 255


def test_animated_gif_gives_first_frame_and_webp_bmp(tmp_path):
    frames = [Image.new("RGB", (4, 4), colour) for colour in (RED, (0, 0, 255))]
    path = saved(tmp_path, frames[0], "anim.gif", save_all=True, append_images=frames[1:])
    assert Image.open(path).n_frames == 2
    np.testing.assert_array_equal(load_rgb(path)[0, 0], RED)
    pixels = np.random.default_rng(1).integers(0, 256, size=(5, 6, 3)).astype(np.uint8)
    webp = load_rgb(saved(tmp_path, Image.fromarray(pixels), "a.webp", lossless=True))
    np.testing.assert_array_equal(webp, pixels)
    np.testing.assert_array_equal(
        load_rgb(saved(tmp_path, Image.fromarray(pixels), "a.bmp")), pixels
    )


def test_sources_bytes_pil_and_arrays(tmp_path):
    image = Image.new("RGB", (3, 2), RED)
    np.testing.assert_array_equal(load_rgb(png_bytes(image))[1, 2], RED)
    np.testing.assert_array_equal(load_rgb(image)[0, 0], RED)
    np.testing.assert_array_equal(load_rgb(np.array([[0.0, 1.0]]))[0, :, 0], [0, 255])
    np.testing.assert_array_equal(load_rgb(np.array([[0.0, 254.6]]))[0, :, 0], [0, 255])
    np.testing.assert_array_equal(load_rgb(np.array([[65535]], np.uint16))[0, 0], [255] * 3)
    np.testing.assert_array_equal(load_rgb(np.array([[[9]]], np.uint8))[0, 0], [9] * 3)
    rgba = np.array([[[200, 100, 50, 128]]], np.uint8)
    np.testing.assert_array_equal(load_rgb(rgba)[0, 0], [100, 50, 25])
    np.testing.assert_array_equal(load_rgb(np.array([[True, False]]))[0, :, 0], [255, 0])


@pytest.mark.parametrize(
    "array,match",
    [
        (np.zeros((2, 2, 5), np.uint8), "C = 1, 2, 3 or 4"),
        (np.zeros(4, np.uint8), "shape"),
        (np.array(7), "shape"),
        (np.zeros((0, 3), np.uint8), "no pixels"),
        (np.array([[np.nan]]), "NaN"),
        (np.array([[-0.5, 2.0]]), r"\[0, 1\] or \[0, 255\]"),
        (np.array([[300]], np.int32), "0..255"),
        (np.array([["a"]]), "numbers"),
    ],
)
def test_bad_arrays(array, match):
    with pytest.raises(ImageError, match=match):
        load_rgb(array)


def test_text_random_empty_and_missing_files(tmp_path):
    text = tmp_path / "photo.txt"
    text.write_text("not a picture at all\n")
    with pytest.raises(ImageError) as error:
        load_rgb(text)
    assert str(error.value) == (
        "photo.txt is not an image Pillow can read (allowed: PNG, JPEG, WebP, BMP, GIF, TIFF)"
    )
    with pytest.raises(ImageError, match="not an image"):
        load_rgb(np.random.default_rng(2).bytes(5000))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.png is empty \(0 bytes\)"):
        load_rgb(empty)
    with pytest.raises(ImageError, match=r"gone\.png does not exist"):
        load_rgb(tmp_path / "gone.png")
    with pytest.raises(ImageError, match="not a file"):
        load_rgb(tmp_path)
    with pytest.raises(ImageError, match="cannot read an image from a int"):
        load_rgb(42)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files(fmt):
    pixels = np.random.default_rng(3).integers(0, 256, size=(64, 64, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    data = buffer.getvalue()
    with pytest.raises(ImageError, match=r"^the image is truncated or corrupt: "):
        load_rgb(data[: len(data) // 2])


def declared_png(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height (IHDR patched, CRC recomputed)."""
    data = bytearray(png_bytes(Image.new("L", (1, 1))))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    chunk = bytes(data[ihdr : ihdr + 17])  # type + 13 bytes of header fields
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(chunk))
    return bytes(data)


def test_huge_images_are_rejected_from_the_header():
    # If the pixels were decoded, these 1x1 files would fail as truncated instead.
    with pytest.raises(ImageError) as error:
        load_rgb(declared_png(7000, 7000))
    assert str(error.value) == "the image is 7000x7000 = 49 megapixels; the limit is 40 megapixels"
    with pytest.raises(ImageError, match="400 megapixels; the limit is 40 megapixels"):
        load_rgb(declared_png(20000, 20000))  # past Pillow's own bomb limit too
    with pytest.raises(ImageError, match=r"the limit is 0\.0001 megapixels"):
        load_rgb(Image.new("RGB", (20, 20)), max_pixels=100)
    assert MAX_PIXELS == 40_000_000


def test_no_bytes_give_a_traceback():
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, size=(16, 16, 3)).astype(np.uint8)
    samples = []
    for fmt in ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"]:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt)
        samples.append(buffer.getvalue())
    for _ in range(300):
        data = bytearray(samples[int(rng.integers(len(samples)))])
        for index in rng.integers(0, len(data), size=int(rng.integers(1, 20))):
            data[index] = int(rng.integers(256))
        data = data[: int(rng.integers(1, len(data) + 1))]
        try:
            out = load_rgb(bytes(data))
        except ImageError as error:
            assert "\n" not in str(error) and str(error)
        else:
            assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


def test_fit_within_keeps_aspect():
    image = np.zeros((500, 1000, 3), np.uint8)
    image[:, 500:] = 255
    small = fit_within(image, 100)
    assert small.shape == (50, 100, 3)
    assert small[25, 10, 0] == 0 and small[25, 90, 0] == 255
    assert fit_within(image, 1000) is image
    assert fit_within(np.zeros((300, 7), np.uint8), 30).shape == (30, 1)
    with pytest.raises(ValueError, match="max_side"):
        fit_within(image, 0)


# -- max_side: shrink while decoding, same result as fit_within(load_rgb(...)) -----------


def scene(width: int = 1201, height: int = 901) -> np.ndarray:
    """An (H, W, 4) uint8 RGBA picture with gradients, hard edges, stripes and a soft alpha:
    odd sides so the reduction's last blocks are partial."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    disc = ((x - width * 0.4) ** 2 + (y - height * 0.5) ** 2) < (height * 0.3) ** 2
    stripes = (x // 7 + y // 11) % 2 == 0
    rgba = np.stack(
        [
            255 * x / width,
            np.where(disc, 230, 40 + 80 * y / height),
            np.where(stripes, 200, 60),
            np.clip(255 * (1.2 - x / width), 0, 255),
        ],
        axis=2,
    )
    return rgba.astype(np.uint8)


def as_mode(kind: str) -> tuple[Image.Image, dict]:
    """The scene as a Pillow image of mode/format `kind`, and the options to save it with."""
    rgba = Image.fromarray(scene(), "RGBA")
    if kind in ("RGBA", "LA"):
        return rgba.convert(kind), {}
    if kind == "P":  # a palette with one transparent colour, as in GIFs and small PNGs
        return rgba.convert("RGB").quantize(64), {"transparency": 0}
    if kind == "I;16":
        return Image.fromarray(np.asarray(rgba)[:, :, 0].astype(np.uint16) * 257), {}
    if kind == "I":  # signed 32-bit samples outside 0..65535: stretched from the whole range
        return Image.fromarray(np.asarray(rgba)[:, :, 1].astype(np.int32) * 1000 - 90_000), {}
    if kind == "F":  # floats in [0, 1], but one band of rows only reaches 0.25
        values = np.asarray(rgba)[:, :, 0].astype(np.float32) / 255
        values[:300] *= 0.25
        return Image.fromarray(values), {}
    return rgba.convert(kind), {}


CASES = [
    ("RGB", "png"),
    ("RGB", "jpg"),
    ("RGBA", "png"),
    ("RGBA", "webp"),
    ("LA", "png"),
    ("L", "jpg"),
    ("P", "png"),
    ("P", "gif"),
    ("I;16", "png"),
    ("I", "tif"),
    ("F", "tif"),
    ("CMYK", "jpg"),
    ("CMYK", "tif"),
    ("1", "bmp"),
]


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory):
    """The scene saved once per (mode, format) for the whole module: path of it."""
    folder, paths = tmp_path_factory.mktemp("scenes"), {}

    def path_of(kind: str, ext: str) -> str:
        if (kind, ext) not in paths:
            image, options = as_mode(kind)
            name = f"{kind.replace(';', '')}.{ext}"
            paths[kind, ext] = saved(folder, image, name, **options)
        return paths[kind, ext]

    return path_of


@pytest.mark.parametrize("kind,ext", CASES)
@pytest.mark.parametrize("side", [60, 100, 170])  # shrunk by 6, 4 and 2 before Lanczos
def test_max_side_gives_fit_within_of_the_full_image(scene_file, kind, ext, side):
    path = scene_file(kind, ext)
    expected = fit_within(load_rgb(path), side)
    out = load_rgb(path, max_side=side)
    assert out.shape == expected.shape == (round(901 * side / 1201), side, 3)
    assert out.dtype == np.uint8 and out.flags.writeable and out.flags.c_contiguous
    difference = np.abs(out.astype(int) - expected)
    # A JPEG is decoded at 1/2 or 1/4 scale from its DCT, others are box-averaged first:
    # within a level on average of resampling all 1.08 M pixels. A dithered 1-bit image
    # is pure pixel-level noise, where any two downscalers differ most.
    assert difference.mean() < (2.5 if kind == "1" else 1.0), (kind, ext)


@pytest.mark.parametrize("kind", ["RGBA", "P", "I", "F", "1"])
def test_band_by_band_reduction_equals_reducing_the_whole_rgb_image(scene_file, kind):
    path = scene_file(kind, "tif" if kind in ("I", "F") else "png")
    opened = Image.open(path)
    opened.load()
    factor = 5  # 1201 x 5 x rows per band: 174 rows = 6 bands, the last one partial
    whole = np.asarray(Image.fromarray(load_rgb(path)).reduce(factor))
    np.testing.assert_array_equal(images._box_reduced(opened, factor), whole)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_with_or_without_max_side(tmp_path, orientation):
    image = Image.fromarray(scene(301, 200)[:, :, :3])
    exif = image.getexif()
    exif[0x0112] = orientation
    path = saved(tmp_path, image, "phone.png", exif=exif)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    np.testing.assert_array_equal(load_rgb(path), upright)
    out = load_rgb(path, max_side=60)
    expected = fit_within(upright, 60)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 1.5


def test_max_side_for_arrays_and_pil_images_and_small_images(tmp_path):
    pixels = scene(300, 200)[:, :, :3]
    assert load_rgb(pixels, max_side=30).shape == (20, 30, 3)
    np.testing.assert_array_equal(load_rgb(pixels, max_side=300), pixels)  # small enough
    path = saved(tmp_path, Image.fromarray(scene()[:, :, :3]), "big.jpg")
    lazy = Image.open(path)
    assert load_rgb(lazy, max_side=50).shape == (38, 50, 3)
    assert lazy.size == (1201, 901)  # a caller's image is never drafted smaller in place


def test_max_side_is_checked_before_decoding():
    with pytest.raises(ValueError, match=r"^max_side must be >= 1, got 0$"):
        load_rgb(b"not an image", max_side=0)


def test_upright_size_reads_the_header_and_the_exif_rotation(tmp_path):
    from menny_base.images import upright_size

    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90 degrees: a portrait stored as landscape
    Image.new("RGB", (40, 30)).save(path, exif=exif)
    assert upright_size(path) == (30, 40)
    assert load_rgb(path).shape[:2] == (40, 30)  # (H, W): the same upright picture
    Image.new("RGB", (40, 30)).save(tmp_path / "plain.png")
    assert upright_size(tmp_path / "plain.png") == (40, 30)
