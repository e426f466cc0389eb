"""The analysis panels over HTTP (/errors, /erf, /shift) through gradio_client, with the
cores as oracles: the shipped model before any training, then a visitor's own run."""

import os
import re
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from menny_base.images import load_rgb
from menny_core.dataset import discover
from menny_core.error_analysis import ERRORS_FILE, read_errors, report_for
from menny_core.error_gallery import RIGHT, WRONG
from menny_core.markdown import escape
from menny_core.predict import model_input
from menny_core.receptive import effective_field, untrained_twin
from menny_core.stream import normalize
from menny_core.translation import shift_experiment
from menny_core.weights import load

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights" / "menny.safetensors"
CODY = ROOT / "portraits" / "Cody" / sorted(os.listdir(ROOT / "portraits" / "Cody"))[0]


def error_of(call) -> str:
    with pytest.raises(AppError) as caught:
        call()
    return str(caught.value)


@pytest.fixture(scope="module")
def shipped():
    model, metadata = load(WEIGHTS)
    return model, metadata, report_for(model, metadata, discover(ROOT / "portraits"))


def has_colour(path: str, colour) -> bool:
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    return bool((pixels == np.array(colour)).all(axis=1).any())


def size_of(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.height, image.width


def test_errors_of_the_shipped_model_before_any_training(client, shipped):
    _, metadata, report = shipped
    confusion, cell, _, gallery, summary = client.predict("", "", api_name="/errors")
    assert confusion["headers"] == ["true \\ predicted", *metadata["classes"]]
    assert [row[1:] for row in confusion["data"]] == metadata["metrics"]["confusion"]
    assert summary.startswith("**0 of 24 test images wrong** (the shipped Menny")
    closest = min(report.images, key=lambda r: r.p_true)
    assert f"{escape(closest.file)} at {closest.p_true:.0%}" in summary
    assert size_of(gallery)[0] > size_of(cell)[0]  # four classes' strips against one
    _, picked, *_ = client.predict("Cody", "Cody", api_name="/errors")
    assert has_colour(picked, RIGHT) and not has_colour(cell, RIGHT)  # 6 tiles; "no images"
    assert not has_colour(picked, WRONG)


def test_errors_refuse_an_unknown_class(client):
    message = error_of(lambda: client.predict("Nobody", "Cody", api_name="/errors"))
    assert message == (
        "the true class must be one of CWK, Cody, Pippa, RJ, someone else, got 'Nobody'"
    )


def test_erf_numbers_are_the_cores(client, shipped):
    model, _, report = shipped
    trained, untrained, learn = client.predict("block 3 conv", 5, 8, api_name="/erf")
    assert size_of(trained) == size_of(untrained) == (256, 256)
    pictures = [model_input(load_rgb(r.path), 64) for r in report.images[:8]]
    batch = mx.array(normalize(np.stack(pictures)))
    expected = effective_field(model, batch, "block 3 conv", 5)
    baseline = effective_field(untrained_twin(model, 0), batch, "block 3 conv", 5)
    assert (
        f"| gradient mass inside the square | {expected.share:.0%} | {baseline.share:.0%} |"
        in learn
    )
    assert f"r = 18 pixels, `{expected.field.formula}`" in learn
    assert f"| {expected.half_side:.0f} px | {baseline.half_side:.0f} px |" in learn
    fits = f"{expected.sigma:.1f} px, {expected.gaussian_r2:.2f} | {baseline.sigma:.1f} px"
    assert fits in learn


@pytest.mark.parametrize(
    ("layer", "channel", "images", "message"),
    [
        ("block 9 conv", 0, 4, "the layer must be one of block 1 conv"),
        ("block 3 conv", 64, 4, "the channel of block 3 conv must be between 0 and 63, got 64"),
        ("block 3 conv", 0, 33, "Test images averaged must be between 1 and 32, got 33"),
        ("block 3 conv", None, 4, "Channel is empty: give a whole number >= 0"),
    ],
)
def test_erf_bad_input_is_one_sentence(client, layer, channel, images, message):
    assert message in error_of(lambda: client.predict(layer, channel, images, api_name="/erf"))


def test_shift_numbers_are_the_cores(client, shipped):
    model, metadata, _ = shipped
    moved, _, curve, learn = client.predict(
        handle_file(str(CODY)), 16, "block 2 conv", api_name="/shift"
    )
    assert size_of(moved) == (256, 256) and size_of(curve) == (240, 420)
    temperature = metadata["detector"]["thresholds"]["temperature"]
    result = shift_experiment(
        model, metadata["classes"], load_rgb(CODY), 64, 16, "block 2 conv", temperature
    )
    assert f"correlation **{result.aligned:.3f}**" in learn
    assert f"where it was: {result.unaligned:.3f}" in learn
    assert "move 8 cell(s)" in learn
    cody = metadata["classes"].index("Cody")
    assert f"Cody: {result.at(0)[cody]:.0%} unshifted, {result.at(16)[cody]:.0%} shifted" in learn


def test_shift_bad_input_is_one_sentence(client):
    photo = handle_file(str(CODY))
    message = error_of(lambda: client.predict(photo, 40, "block 2 conv", api_name="/shift"))
    assert message == "The shift must be between -32 and 32 pixels, got 40"
    message = error_of(lambda: client.predict(None, 4, "block 2 conv", api_name="/shift"))
    assert message == "upload a photo or pick a bundled portrait first"


def test_a_visitors_run_brings_its_own_errors(app_url, running_app, tmp_path):
    """A fresh visitor trains one epoch on a tiny zip; /errors then shows that run's test
    images (errors.json next to its weights), and /erf averages over them."""
    from test_app_api import tiny_dataset_zip

    visitor = Client(app_url, verbose=False)
    data = handle_file(str(tiny_dataset_zip(tmp_path)))
    final = visitor.predict("my .zip", data, 0.5, 15, 0.6, 0.0, "simple", 1, 8, 3e-3, 1e-4,
                            0.25, 3, 0, api_name="/train")  # fmt: skip
    run_confusion = final[4]
    confusion, *_, summary = visitor.predict("", "", api_name="/errors")
    assert confusion["headers"] == run_confusion["headers"]
    assert confusion["data"] == run_confusion["data"]
    total = sum(sum(row[1:]) for row in confusion["data"])
    assert re.match(rf"\*\*\d+ of {total} test images wrong\*\* \(your run 1, ", summary)
    session = running_app[1]
    runs = list(session.visitors.root.rglob(ERRORS_FILE))
    assert any(read_errors(p).classes == ["blue", "red", "someone else"] for p in runs)
    _, _, learn = visitor.predict("block 1 conv", 0, 32, api_name="/erf")
    assert f"averaged over {total} test image(s)" in learn  # the run's own, fewer than 32
    assert "block 4" in error_of(lambda: visitor.predict("block 4 conv", 0, 4, api_name="/erf"))


def test_a_click_on_the_matrix_picks_its_cell():
    """The confusion matrix's select event: row = true class, column = predicted class
    (the first column holds the names: a click there picks the diagonal)."""
    import gradio as gr
    import pandas as pd

    from menny_app.analysis import pick_cell

    table = pd.DataFrame([[3, 1], [0, 4]], columns=["a", "b"])
    table.insert(0, "true \\ predicted", ["a", "b"])
    assert pick_cell(table, gr.SelectData(None, {"index": [0, 2], "value": 1})) == ("a", "b")
    assert pick_cell(table, gr.SelectData(None, {"index": [1, 0], "value": "b"})) == ("b", "b")
