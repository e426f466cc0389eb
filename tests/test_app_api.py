"""The real app over HTTP, every endpoint through gradio_client, with the cores as oracles.

The app (started once, conftest.py) must compute what the cores compute, say the cores'
sentences for bad input, and keep answering afterwards.
"""

import re
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import demo
from kernels_playground.arithmetic import conv_output_formula, conv_output_size
from kernels_playground.convolve import apply_kernel
from kernels_playground.kernels import DESCRIPTIONS, PRESETS, parse_kernel
from kernels_playground.shapes import LAYER_COLUMNS
from menny_app.layout import portrait_examples
from menny_base.images import ImageError, load_rgb
from menny_core.markdown import escape

ROOT = Path(__file__).resolve().parents[1]
STAR = ROOT / "demo_assets" / "siemens_star.png"
SOBEL = "-1 0 1\n-2 0 2\n-1 0 1"


def playground(client, image=STAR, grid=SOBEL, stride=1, padding=1, edge="zero", dilation=1,
               relu=False, flip=False, colour="luminance", pool="none", window=2,
               pool_stride=2, row=0, col=0):  # fmt: skip
    return client.predict(
        handle_file(str(image)), grid, stride, padding, edge, dilation, relu, flip, colour,
        pool, window, pool_stride, row, col, api_name="/playground",
    )  # fmt: skip


def size_of(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.height, image.width


def test_preset_kernel_gives_the_grid(client):
    grid, about = client.predict("Sobel x", api_name="/preset_kernel")
    np.testing.assert_array_equal(parse_kernel(grid), PRESETS["Sobel x"])
    assert about == DESCRIPTIONS["Sobel x"]
    grid, _ = client.predict("box blur 3x3", api_name="/preset_kernel")
    assert grid.splitlines()[0].split() == ["1/9", "1/9", "1/9"]


def test_playground_sizes_formulas_and_step(client):
    out = playground(client, stride=2, padding=1, pool="max", row=10, col=37)
    shown, feature, note, pooled, sums, step, learn = out
    conv = conv_output_size(256, 3, 2, 1)  # floor(255 / 2) + 1 = 128
    assert size_of(shown) == (256, 256)
    assert size_of(feature) == (conv, conv)
    assert size_of(pooled) == (conv // 2, conv // 2)
    assert conv_output_formula(256, 3, 2, 1) in sums
    assert "(128 - 2 + 2*0) / 2 + 1 = 64" in sums
    # The step-by-step value is the feature map's value there (apply_kernel as the oracle).
    expected = apply_kernel(load_rgb(STAR), parse_kernel(SOBEL), stride=2, padding=1)[10, 37]
    total = float(re.search(r"Sum = \*\*(-?[\d.e+]+)\*\*", step).group(1))
    held = float(re.search(r"holds \*\*(-?[\d.e+]+)\*\*", step).group(1))
    assert total == pytest.approx(expected, rel=1e-3, abs=1e-3)
    assert held == pytest.approx(expected, rel=1e-3, abs=1e-3)
    assert "floor((256 - 3 + 2*1) / 2) + 1 = floor(255 / 2) + 1 = 128 times down" in learn
    assert "values" in note


def test_playground_formula_with_default_numbers(client):
    sums = playground(client)[4]
    assert "(256 - 3 + 2*1) / 1 + 1 = 256" in sums


def test_a_step_position_outside_a_shrunken_map_moves_to_its_edge(client):
    # Stride 4 shrinks the 256x256 map to 64x64: position (100, 10) no longer exists.
    feature, step = (playground(client, stride=4, row=100, col=10)[i] for i in (1, 5))
    assert size_of(feature) == (64, 64)
    assert step.startswith("Output (100, 10) is outside the 64x64 feature map: showing (63, 10)")
    assert "**Output (63, 10)**" in step
    step = playground(client, row=-3, col=5)[5]  # a typed negative number: the first row
    assert step.startswith("Output (-3, 5) is outside the 256x256 feature map: showing (0, 5)")
    expected = apply_kernel(load_rgb(STAR), parse_kernel(SOBEL), stride=4, padding=1)[63, 10]
    held = float(re.search(r"holds \*\*(-?[\d.e+]+)\*\*", step).group(1))
    assert held == pytest.approx(expected, rel=1e-3, abs=1e-3)


def test_large_upload_is_shrunk_and_said(client, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (1200, 600), "gray").save(big)
    shown, feature, note, *_ = playground(client, image=big)
    assert size_of(shown) == (256, 512)
    assert size_of(feature) == (256, 512)
    assert "1200x600" in note and "512x256" in note


def test_shapes_table_matches_core(client):
    layers = {"headers": LAYER_COLUMNS, "data": [["conv", 5, 1, 0, 1, 6],
                                                      ["maxpool", 2, 2, 0, 1, 6]]}  # fmt: skip
    table, summary, learn = client.predict(32, 32, 1, layers, api_name="/shapes")
    rows = table["data"]
    assert [row[1] for row in rows] == ["28x28x6", "14x14x6"]
    assert [row[2] for row in rows] == ["28x28x6", "14x14x6"]  # MLX agrees
    assert rows[0][3] == 5 * 5 * 1 * 6 + 6
    assert rows[0][4] == 28 * 28 * 6 * 5 * 5
    assert "agree" in summary and "156" in summary
    assert "(1, 32, 32, 1)" in learn


# -- bad input: the core's sentence comes back, the app keeps answering -------------------


def error_of(call) -> str:
    with pytest.raises(AppError) as caught:
        call()
    return str(caught.value)


def test_non_image_upload(client, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("this is not a picture\n")
    with pytest.raises(ImageError) as oracle:
        load_rgb(fake)
    assert str(oracle.value) in error_of(lambda: playground(client, image=fake))


def test_truncated_image(client, tmp_path):
    cut = tmp_path / "cut.png"
    cut.write_bytes(STAR.read_bytes()[:400])
    with pytest.raises(ImageError) as oracle:
        load_rgb(cut)
    assert str(oracle.value) in error_of(lambda: playground(client, image=cut))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grid": "1 a 1\n0 0 0\n1 1 1"}, "row 1, column 2: 'a' is not a number"),
        ({"grid": "1 1\n1"}, "the kernel must be rectangular"),
        ({"stride": 0}, "stride must be between 1 and 512, got 0"),
        ({"colour": "rainbow"}, "colour must be one of 'luminance', 'per channel', got 'rainbow'"),
    ],
)
def test_bad_knobs(client, changes, message):
    assert message in error_of(lambda: playground(client, **changes))


def test_a_stack_too_big_to_run_is_arithmetic_only(client):
    # Once this stack crashed the server (MLX's im2col for a 1000x1000 kernel); now the
    # limits refuse it, and a legal but heavy stack is sized without running MLX.
    layers = {"headers": LAYER_COLUMNS, "data": [["conv", 1000, 1, 500, 1, 8]]}
    message = error_of(lambda: client.predict(64, 64, 3, layers, api_name="/shapes"))
    assert message == "layer 1 (conv): kernel must be between 1 and 255, got 1000"
    layers["data"] = [["conv", 3, 1, 1, 1, 64]]
    table, summary, _ = client.predict(4096, 4096, 3, layers, api_name="/shapes")
    assert table["data"][0][1:3] == ["4096x4096x64", "not built"]
    assert summary.startswith("Shapes from arithmetic only. Not checked with MLX: ")
    assert client.predict(api_name="/preset_kernel")  # still up


def test_emptied_number_fields_are_named(client, tmp_path):
    layers = {"headers": LAYER_COLUMNS, "data": [["conv", 3, 1, 1, 1, 8]]}
    message = error_of(lambda: client.predict(0, 32, 3, layers, api_name="/shapes"))
    assert message == "Input height must be >= 1, got 0"
    data = handle_file(str(tiny_dataset_zip(tmp_path)))
    settings = dict(source="my .zip", upload=data, variant="simple", epochs=None)
    message = error_of(lambda: client.predict(**settings, api_name="/train"))
    assert message == "Epochs is empty: give a whole number between 1 and 200"
    settings.update(epochs=1, lr=None)
    assert error_of(lambda: client.predict(**settings, api_name="/train")) == (
        "Learning rate is empty: give a number"
    )


def test_padding_that_empties_the_output(client, tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4), "white").save(tiny)
    grid = "\n".join(["1 1 1 1 1 1 1"] * 7)
    message = error_of(lambda: playground(client, image=tiny, grid=grid, padding=0))
    assert "is larger than the padded input (4 + 0 = 4)" in message


def test_impossible_stack(client):
    layers = {"headers": LAYER_COLUMNS, "data": [["conv", 5, 1, 0, 1, 4]]}
    message = error_of(lambda: client.predict(4, 4, 3, layers, api_name="/shapes"))
    assert message.startswith("layer 1 (conv 5x5): the kernel (5) is larger than the padded")


def test_zip_without_class_folders(client, tmp_path, app_workdir):
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as archive:
        archive.writestr("a.png", STAR.read_bytes())
    message = error_of(lambda: client.predict("my .zip", handle_file(str(flat)), 0.5, 15, 0.6, 0,
                                              0, api_name="/augment_preview"))  # fmt: skip
    assert message.startswith("flat.zip has images but no class sub-folders"), message


def test_zip_escaping_its_folder(client, tmp_path, app_workdir):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("cats/a.png", STAR.read_bytes())
        archive.writestr("../../escaped.png", STAR.read_bytes())
    message = error_of(lambda: client.predict("my .zip", handle_file(str(evil)), 0.5, 15, 0.6, 0,
                                              0, api_name="/augment_preview"))  # fmt: skip
    assert ".." in message
    assert not list(app_workdir.parent.rglob("escaped.png"))


def test_huge_image_is_refused_before_decoding(client, tmp_path):
    huge = tmp_path / "huge.png"
    Image.new("1", (8000, 6000)).save(huge)  # 48 megapixels in a few kilobytes
    with pytest.raises(ImageError) as oracle:
        load_rgb(huge)
    assert str(oracle.value) in error_of(lambda: playground(client, image=huge))


def test_app_still_answers(client):
    grid, _ = client.predict("identity", api_name="/preset_kernel")
    np.testing.assert_array_equal(parse_kernel(grid), PRESETS["identity"])


# -- classifying and training ------------------------------------------------------------


def test_shipped_model_classifies_bundled_portraits(client, running_app):
    """Runs before the training below replaces the session's model."""
    from menny_core.weights import load

    weights = running_app[1].shipped
    examples = portrait_examples(per_class=1)
    if weights is None or not examples:
        pytest.skip("shipped weights or bundled portraits are missing in this checkout")
    classes = list(load(weights)[1]["classes"])
    for example in examples:
        outputs = client.predict(handle_file(example), api_name="/classify")
        label, answer, detection = outputs[0], outputs[1], outputs[6]
        probabilities = {c["label"]: c["confidence"] for c in label["confidences"]}
        assert sorted(probabilities) == sorted(classes)
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert label["label"] == Path(example).parent.name, example
        # The detector's answer: the name or a doubt, never another person; with a box.
        name = Path(example).parent.name
        assert detection["verdict"] in (name, "not sure", "someone else"), example
        if detection["verdict"] != "no face":
            x, y, w, h = detection["box"]
            assert 0 <= x < x + w <= 512 and 0 <= y < y + h <= 512 and w * h > 32 * 32
        assert name in answer or detection["verdict"] == "someone else"
    # The seed article's point: a detector trained with negatives sees no face in a pattern.
    checkerboard = handle_file(str(ROOT / "demo_assets" / "checkerboard.png"))
    outputs = client.predict(checkerboard, api_name="/classify")
    assert outputs[6] == {"verdict": "no face", "face": outputs[6]["face"], "box": None}
    assert outputs[1].startswith("**No face**")


def tiny_dataset_zip(folder: Path) -> Path:
    """Two colour classes, 8 small images each: learnable in one epoch."""
    rng = np.random.default_rng(0)
    path = folder / "tiny.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            for index in range(8):
                noise = rng.integers(-20, 20, (32, 32, 3))
                pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
                image = folder / f"{name}{index}.png"
                Image.fromarray(pixels).save(image)
                archive.write(image, f"tiny/{name}/{index}.png")
    return path


@pytest.fixture(scope="module")
def trained(client, tmp_path_factory):
    data = handle_file(str(tiny_dataset_zip(tmp_path_factory.mktemp("tiny"))))
    preview = client.predict("my .zip", data, 0.5, 15, 0.6, 0, 0, api_name="/augment_preview")
    final = client.predict("my .zip", data, 0.5, 15, 0.6, 0.0, "simple", 1, 8, 3e-3, 1e-4,
                           0.25, 3, 0, api_name="/train")  # fmt: skip
    return preview, final


def test_augment_preview_is_a_grid_of_16(trained):
    (preview, note), _ = trained
    from menny_core.model import IMAGE_SIZE

    assert size_of(preview) == (4 * 2 * IMAGE_SIZE, 4 * 2 * IMAGE_SIZE)  # shown 2x: the boxes
    assert note == (
        "16 images in 2 classes: blue (8), red (8). No boxes.json: Menny learns who, not where."
    )


def test_one_epoch_training_reports_and_saves(trained, running_app, client):
    _, (status, losses, accuracies, metrics, confusion, learn, reliability) = trained
    assert status.startswith("Done in ") and status.endswith("best epoch 1.")
    assert "Test accuracy" in metrics
    assert confusion["headers"][1:] == ["blue", "red", "someone else"]  # a detector
    counts = np.array([row[1:] for row in confusion["data"]], dtype=int)
    assert counts.sum() >= 2  # every test image counted once
    for curves in (losses, accuracies):  # one epoch: a train and a validation point each
        assert sorted((row[0], row[2]) for row in curves["data"]) == [
            (1, "train"), (1, "validation")
        ]  # fmt: skip
    assert all(0 <= row[1] <= 1 for row in accuracies["data"])
    visitor = running_app[1].visitors.visit(client.session_hash)
    assert visitor.current.weights.is_file()
    assert visitor.current.name.endswith(", simple, 1 epoch(s), on tiny.zip")
    saved = f"Saved as {escape(visitor.current.name)}; the Classify tab uses it now."
    assert saved in metrics
    assert "epoch 1" in learn
    assert '"no face" for pictures without one' in metrics  # the detector's test figures
    assert reliability  # the test faces' reliability diagram
    assert "Why negatives" in learn


def test_classify_with_the_session_model(client, trained):
    red = ROOT / "demo_assets" / "circle.png"  # yellow-ish: any class
    label, unsure, saliency, maps, _learn, model_note, detection = client.predict(
        handle_file(str(red)), api_name="/classify"
    )
    probabilities = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(probabilities) == {"blue", "red", "someone else"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert maps and saliency
    assert "trained in this session" in model_note
    # The zip has no boxes.json: a verdict and a face score, never a box.
    assert detection["verdict"] in {"blue", "red", "someone else", "no face", "not sure"}
    assert 0 <= detection["face"] <= 1 and detection["box"] is None
    if detection["verdict"] in ("blue", "red"):
        assert "trained without face boxes" in unsure


def test_cancel_without_a_run(client):
    assert client.predict(api_name="/cancel_training").startswith("Nothing to cancel")


def test_second_training_is_refused_and_cancel_stops_the_first(client, running_app, tmp_path):
    data = handle_file(str(tiny_dataset_zip(tmp_path)))
    settings = ("my .zip", data, 0.5, 15, 0.6, 0.0, "simple", 100, 8, 3e-3, 1e-4, 0.25, 100, 0)
    first = client.submit(*settings, api_name="/train")
    trainer = running_app[1].trainer
    deadline = time.monotonic() + 60
    while not trainer.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    message = error_of(lambda: client.predict(*settings, api_name="/train"))
    assert message.startswith("the trainer is busy with your own run (")
    assert message.endswith("try again when it ends, or press Cancel if it is yours")
    stranger = Client(client.src, verbose=False)  # another visitor cannot stop it
    message = error_of(lambda: stranger.predict(api_name="/cancel_training"))
    assert message == (
        "the training running now was started by another visitor; only they can cancel it"
    )
    assert client.predict(api_name="/cancel_training").startswith("Cancelling")
    summary = first.result(timeout=120)[0]
    assert summary.startswith("Cancelled after")
    assert not trainer.busy


# -- the command line -----------------------------------------------------------------------


def run_demo(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "demo.py"), *flags],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_bad_auth_is_one_line():
    result = run_demo("--auth", "nobody")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "demo.py: error: --auth must hold USER:PASS (both non-empty)"  # never echoes it
    ]


def test_busy_port_is_one_line(app_url):
    port = app_url.rstrip("/").rsplit(":", 1)[1]
    result = run_demo("--port", port)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"demo.py: error: cannot serve on 127.0.0.1:{port} (in use); pick another with --port"
    ]


def test_no_train_has_no_training_endpoints(tmp_path):
    app = demo.build_app(demo.Session(tmp_path, None, allow_training=False))
    names = {fn.api_name for fn in app.fns.values()}
    assert {"playground", "shapes", "classify", "preset_kernel"} <= names
    assert not names & {"train", "augment_preview", "cancel_training"}


def test_share_says_where_it_serves_and_how_to_protect_it(tmp_path):
    port = free_port()
    flags = ["--share", "--port", str(port), "--workdir", str(tmp_path)]
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "demo.py"), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        lines = []
        while not lines or not lines[-1].startswith("Menny is ready"):
            line = app.stdout.readline()
            assert line, f"demo.py --share ended early: {app.stderr.read()}"
            lines.append(line.strip())
        # Without internet (as on CI) the tunnel fails in one line; with it, a link is printed.
        link = lines[0]
        assert link.startswith("Public link: https://") or link == (
            "No public link: Gradio's share server is unreachable (no internet?); "
            "serving locally only."
        )
        assert lines[1] == (
            "Shared: playground, shapes, classify, for anyone with the link (no login: see "
            "--auth-file); training is off (--allow-train turns it on)."
        )
        assert lines[2] == f"Menny is ready at http://127.0.0.1:{port}/; Ctrl+C stops it."
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200  # serving locally either way
    finally:
        app.terminate()
        app.wait(timeout=30)
