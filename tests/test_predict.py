"""Prediction: any upload is read as the RGB picture it shows, preprocessed exactly like
evaluation images, and turned into probabilities that sum to 1."""

import io
import struct
import zlib

import mlx.core as mx
import numpy as np
import pytest
from PIL import Image

from menny_base.images import ImageError
from menny_core.model import MennyCNN
from menny_core.predict import Predictor, check_weights, model_input, predict, probabilities
from menny_core.stream import eval_batches, normalize
from menny_core.weights import WeightsError, load, save

CLASSES = ["CWK", "Cody", "Pippa", "RJ"]
META = {"classes": CLASSES, "image_size": 32}


@pytest.fixture(scope="module")
def model():
    """A random Menny with a loud classifier, so different pictures get clearly different
    probabilities and a wrong conversion shows."""
    mx.random.seed(7)
    net = MennyCNN(4, "simple")
    net.classifier.weight = net.classifier.weight * 40
    net.eval()
    return net


def picture(height=40, width=48, seed=0) -> np.ndarray:
    """A non-square RGB test picture: colour gradients plus noise, uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (height + width)], -1)
    return np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)


def png(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=options.pop("format", "PNG"), **options)
    return out.getvalue()


def expected(model, rgb: np.ndarray) -> np.ndarray:
    return probabilities(model, rgb, META["image_size"])


def as_vector(prediction) -> np.ndarray:
    return np.array([prediction.probabilities[c] for c in CLASSES])


def test_predict_preprocesses_exactly_like_the_eval_stream(tmp_path):
    image = picture(57, 83)
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    batch = next(iter(eval_batches([(str(path), 0)], 32, 1)))
    np.testing.assert_array_equal(normalize(model_input(image, 32)), batch["image"][0])


def test_probabilities_sum_to_one_sorted_high_to_low(model):
    result = predict(model, META, picture())
    values = list(result.probabilities.values())
    assert sum(values) == pytest.approx(1.0, abs=1e-12)
    assert values == sorted(values, reverse=True)
    assert result.label == next(iter(result.probabilities))
    assert sorted(result.probabilities) == sorted(CLASSES)


def test_unsure_when_the_top_probability_is_low():
    net = MennyCNN(4, "simple")
    net.classifier.weight = mx.zeros_like(net.classifier.weight)
    net.classifier.bias = mx.array([0.3, 0.0, 0.0, 0.0])  # top p = e^.3/(e^.3+3) = 0.31
    result = predict(net, META, picture())
    assert result.label == "CWK" and result.probabilities["CWK"] == pytest.approx(0.3103, 1e-3)
    assert result.unsure
    assert not predict(net, META, picture(), unsure_below=0.3).unsure
    with pytest.raises(ValueError, match="unsure_below must be from 0 to 1"):
        predict(net, META, picture(), unsure_below=2)


def _composite(rgb, alpha):
    return ((rgb.astype(np.uint32) * alpha[..., None] + 127) // 255).astype(np.uint8)


def _grey3(grey):
    return np.repeat(grey[..., None], 3, axis=2)


def _cases():
    rgb = picture()
    alpha = np.linspace(0, 255, rgb.shape[1]).astype(np.uint8)[None].repeat(rgb.shape[0], 0)
    grey = rgb[..., 1]
    deep = (grey.astype(np.uint16) * 257 + 100).astype(np.uint16)  # 16-bit values
    palette = Image.fromarray(rgb).quantize(16)
    cmyk = Image.fromarray(rgb).convert("CMYK")
    # EXIF orientation 6 = "rotate 90 degrees clockwise to display": store the upright
    # picture turned counter-clockwise, and the loader must turn it back.
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, k=1)))
    return {
        "RGB": (png(Image.fromarray(rgb)), rgb),
        "RGBA": (png(Image.fromarray(np.dstack([rgb, alpha]), "RGBA")), _composite(rgb, alpha)),
        "LA": (
            png(Image.fromarray(np.dstack([grey, alpha]), "LA")),
            _grey3(_composite(_grey3(grey), alpha)[..., 0]),
        ),
        "P": (png(palette), np.asarray(palette.convert("RGB"))),
        "L": (png(Image.fromarray(grey, "L")), _grey3(grey)),
        "I;16": (
            png(Image.fromarray(deep)),
            _grey3(((deep.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)),
        ),
        "CMYK": (png(cmyk, format="TIFF"), np.asarray(cmyk.convert("RGB"))),
        "EXIF-rotated": (png(turned, exif=exif), rgb),
        "tiny 8x8": (png(Image.fromarray(picture(8, 8))), picture(8, 8)),
    }


@pytest.mark.parametrize("mode", list(_cases()))
def test_every_image_mode_is_seen_as_its_rgb_picture(model, mode):
    data, rgb = _cases()[mode]
    result = predict(model, META, data)
    np.testing.assert_allclose(as_vector(result), expected(model, rgb), atol=1e-6)


def test_the_modes_really_differ_to_the_model(model):
    """Guard for the test above: if every picture gave the same answer it would prove nothing."""
    cases = _cases()
    a, b = expected(model, cases["RGB"][1]), expected(model, cases["L"][1])
    assert np.abs(a - b).max() > 0.01


def test_a_huge_image_within_the_limit_is_classified(model):
    colour = np.array([200, 30, 90], dtype=np.uint8)
    huge = np.broadcast_to(colour, (4000, 5000, 3))  # 20 megapixels
    result = predict(
        model, META, png(Image.fromarray(np.ascontiguousarray(huge)), compress_level=1)
    )
    small = np.broadcast_to(colour, (32, 32, 3)).copy()
    np.testing.assert_allclose(as_vector(result), expected(model, small), atol=1e-6)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring width x height RGB pixels, with an empty pixel-data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(model):
    with pytest.raises(ImageError, match="limit is 40 megapixels"):
        predict(model, META, _png_header_only(8000, 6000))


def test_a_file_that_is_not_an_image_is_an_image_error(model, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(ImageError):
        predict(model, META, bad)


def test_predictor_loads_once_and_agrees_with_predict(model, tmp_path):
    path = save(tmp_path / "m.safetensors", model, META)
    predictor = Predictor(path)
    assert predictor.classes == CLASSES
    ours = predictor(picture())
    assert ours.probabilities == pytest.approx(predict(model, META, picture()).probabilities)


# -- weights that load but answer with NaN (item 10 of the public-link issue) ----------


def test_probabilities_refuse_an_answer_that_is_not_a_number():
    net = MennyCNN(4, "simple")
    net.classifier.bias = mx.array([0.0, float("nan"), 0.0, 0.0])
    with pytest.raises(WeightsError, match=r"^Menny's answer is not a number \(NaN or infinity\)"):
        predict(net, META, picture())


def _overflowing(tmp_path):
    """A real file whose every value is finite (so weights.load accepts it) but whose
    logits overflow to infinity on any picture with detail: softmax(inf - inf) is NaN."""
    mx.random.seed(3)
    net = MennyCNN(4, "simple")
    net.classifier.weight = mx.full(net.classifier.weight.shape, 3e38)
    return save(tmp_path / "huge.safetensors", net, META)


def test_predictor_refuses_weights_whose_answers_are_not_numbers(tmp_path):
    path = _overflowing(tmp_path)
    load(path)  # every value is a number: only running the model shows the problem
    for attempt in (Predictor, check_weights):
        with pytest.raises(WeightsError) as caught:
            attempt(path)
        assert str(caught.value) == (
            "huge.safetensors gives answers that are not numbers (NaN or infinity) for a "
            "trial picture; train Menny again or use the shipped weights"
        )


def test_check_weights_returns_the_metadata_of_good_weights(model, tmp_path):
    path = save(tmp_path / "m.safetensors", model, META)
    metadata = check_weights(path)
    assert metadata["classes"] == CLASSES and metadata["image_size"] == 32


def test_predictor_refuses_an_image_size_training_never_writes(model, tmp_path):
    path = save(tmp_path / "m.safetensors", model, {**META, "image_size": 100000})
    with pytest.raises(WeightsError, match="between 8 and 512 pixels per side"):
        Predictor(path)
