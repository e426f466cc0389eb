"""A public link, attacked as a hostile visitor would: each numbered defect of the issue
"A public link that is safe for many visitors at once" replayed against the real app.

Raw HTTP where the attack needs it (gradio_client would upload a file first), gradio_client
where a visitor would use it; two clients are two visitors.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from test_app_api import ROOT, STAR, error_of, playground, tiny_dataset_zip

import demo
from kernels_playground.shapes import LAYER_COLUMNS
from menny_app.classify import classify
from menny_app.inputs import NOT_UPLOADED as NOT_UPLOADED_SENTENCE
from menny_app.inputs import uploaded_file
from menny_app.layout import portrait_examples
from menny_app.playground import playground as playground_handler
from menny_app.server import Login, read_credentials
from menny_app.session import APP_FOLDER

NOT_UPLOADED = NOT_UPLOADED_SENTENCE


def raw_call(url: str, api_name: str, data: list) -> tuple[str, str]:
    """POST one event the way any HTTP client can, and read its outcome: (event, data)."""
    request = urllib.request.Request(
        f"{url}gradio_api/call/{api_name}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        event_id = json.load(answer)["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event_id}", timeout=60) as sse:
        lines = sse.read().decode().splitlines()
    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    payloads = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    return events[-1], payloads[-1]


def file_data(path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


# -- 1. no file on the server can be named ------------------------------------------------


def test_classify_and_playground_refuse_a_path_raw(app_url, tmp_path):
    """Over HTTP, Gradio's own checks refuse a path it did not store, whatever its form,
    and the refusal is the same for a file that exists and one that does not."""
    real = tmp_path / "secret.png"  # a real picture, but not uploaded to the app
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(real)
    identity = "0 0 0\n0 1 0\n0 0 0"
    knobs = [identity, 1, 1, "zero", 1, False, False, "luminance", "none", 2, 2, 0, 0]
    for path in (real, "/etc/passwd", "/no/such/file.png", f"{get_upload_folder()}/../x.png"):
        for value in (file_data(path), str(path)):
            assert raw_call(app_url, "classify", [value]) == ("error", '{"error": null}')
            assert raw_call(app_url, "playground", [value, *knobs]) == ("error", '{"error": null}')


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "/etc/does-not-exist.png",
        str(ROOT / "weights" / "menny.safetensors"),
        f"{get_upload_folder()}/../../etc/passwd",
    ],
)
def test_the_apps_own_check_refuses_what_gradio_did_not_store(path, running_app):
    """Defence in depth, should a Gradio version let a path through: the handlers accept
    only files in Gradio's upload folder or the bundled pictures, in the same words
    whether the file exists or not."""
    for value in (file_data(path), path):
        with pytest.raises(ValueError, match=NOT_UPLOADED):
            uploaded_file(value)
    session = running_app[1]
    with pytest.raises(gr.Error, match=NOT_UPLOADED):
        classify(session, path)
    with pytest.raises(gr.Error, match=NOT_UPLOADED):
        playground_handler(
            path, "1", 1, 0, "zero", 1, False, False, "luminance", "none", 2, 2, 0, 0
        )


def test_a_symlink_in_the_upload_folder_does_not_lead_out(tmp_path):
    outside = tmp_path / "outside.png"
    Image.new("RGB", (8, 8)).save(outside)
    link = Path(get_upload_folder()) / f"link-{os.getpid()}.png"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    try:
        with pytest.raises(ValueError, match=NOT_UPLOADED):
            uploaded_file(str(link))
    finally:
        link.unlink()


def test_uploads_and_bundled_pictures_still_work(client):
    label = client.predict(handle_file(str(STAR)), api_name="/classify")[0]
    assert label["label"]
    bundled = portrait_examples(per_class=1)[0]
    assert uploaded_file(bundled) == bundled  # the examples' own files


# -- 2 and 7. numbers in text are bounded; no input reaches a generic error ----------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grid": "1e-10000000 1e-10000000 1e-10000000"}, "row 1, column 1"),
        ({"grid": "1e400"}, "row 1, column 1"),
        ({"stride": 1e308}, "stride must be between 1 and 512, got"),
        ({"padding": 10**9}, "padding must be between 0 and 512"),
        ({"flip": "no"}, "flip must be true or false, got 'no'"),
        ({"relu": 1}, "ReLU must be true or false, got 1"),
        ({"edge": "mirror"}, "edges must be one of"),
        ({"pool": "median"}, "pooling must be one of"),
        ({"row": 1e300}, "output row must be between -1000000 and 1000000"),
    ],
)
def test_hostile_knobs_get_a_sentence(client, changes, message):
    assert message in error_of(lambda: playground(client, **changes))


def test_a_stack_beyond_64_bit_counts_is_shown(client):
    layers = {"headers": LAYER_COLUMNS, "data": [["conv", 255, 1, 127, 1, 4096]]}
    table, _summary, _ = client.predict(8192, 8192, 4096, layers, api_name="/shapes")
    multiply_adds = table["data"][0][4]
    # 8192*8192*4096 outputs x 255*255*4096 multiply-adds each: past int64, shown as text.
    assert float(multiply_adds) == pytest.approx(8192 * 8192 * 4096 * 255 * 255 * 4096, rel=1e-2)


# -- 3. training settings are bounded ------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 10**9}, "Epochs must be between 1 and 200, got 1000000000"),
        ({"batch_size": 10**6}, "Batch size must be between 1 and 128"),
        ({"patience": 10**9}, "Patience must be between 0 and 200"),
        ({"lr": "1e999"}, "Learning rate must be a number, got '1e999'"),
        ({"flip_prob": "abc"}, "Flip probability must be a number, got 'abc'"),
        ({"seed": 2**40}, "seed must be between 0 and 4294967295"),
    ],
)
def test_training_settings_are_bounded(client, changes, message):
    settings = dict(source="bundled portraits", upload=None, variant="simple", epochs=1)
    settings.update(changes)
    assert message in error_of(lambda: client.predict(**settings, api_name="/train"))


# -- 4 and 5. each visitor their own model; class names are data; no server paths ---------


def markup_zip(folder: Path) -> Path:
    """Two classes whose folder names are markdown: a 'notice' and a link."""
    tiny = tiny_dataset_zip(folder)
    path = folder / "markup.zip"
    names = {"red": "**ADMIN NOTICE**", "blue": "[click](http:evil.example)"}
    with zipfile.ZipFile(tiny) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            parts = info.filename.split("/")
            parts[1] = names[parts[1]]
            target.writestr("/".join(parts), source.read(info))
    return path


def test_visitors_keep_their_own_models(app_url, running_app, tmp_path, app_workdir):
    session = running_app[1]
    alice, bob = Client(app_url, verbose=False), Client(app_url, verbose=False)
    portrait = handle_file(portrait_examples(per_class=1)[0])
    before = bob.predict(portrait, api_name="/classify")

    data = handle_file(str(markup_zip(tmp_path)))
    outputs = [alice.predict("my .zip", data, 0.5, 15, 0.6, 0, 0, api_name="/augment_preview")]
    # submit + a generous result timeout: a stalled event stream fails this test instead of
    # hanging the suite (seen once in ten runs: the server idle, the client still waiting).
    training = alice.submit("my .zip", data, 0.5, 15, 0.6, 0.0, "simple", 1, 8, 3e-3, 1e-4,
                            0.25, 3, 0, api_name="/train")  # fmt: skip
    outputs.append(training.result(timeout=600))
    status = outputs[-1][0]
    assert "Saved as run " in status or "Saved as run " in outputs[-1][3]

    # Alice's model answers Alice, in escaped markdown; Bob still has the shipped model.
    alice_says = alice.predict(portrait, api_name="/classify")
    outputs.append(alice_says)
    assert {c["label"] for c in alice_says[0]["confidences"]} == {
        "**ADMIN NOTICE**", "[click](http:evil.example)", "someone else"
    }  # fmt: skip
    line, said = alice_says[1], alice_says[6]["verdict"]
    if said in ("**ADMIN NOTICE**", "[click](http:evil.example)", "not sure"):  # named
        assert "\\*\\*ADMIN NOTICE\\*\\*" in line or "\\[click\\]" in line
    assert "**ADMIN NOTICE**" not in line and "[click](" not in line  # never raw markdown
    assert "model you trained in this session" in alice_says[5]
    after = bob.predict(portrait, api_name="/classify")
    assert after[0] == before[0] and after[5] == "Classify uses the shipped Menny."

    # Nothing any endpoint said names a server folder.
    for output in [*outputs, before, after]:
        text = json.dumps(output)
        assert str(app_workdir) not in text and APP_FOLDER not in text

    # Alice leaves: her files go (browsers leave through the unload hook; the same call).
    folder = session.visitors.visit(alice.session_hash).folder
    assert any(folder.rglob("menny.safetensors"))
    session.visitors.leave(alice.session_hash)
    assert not folder.exists()


def test_nobody_cancels_another_visitors_run(app_url, running_app, tmp_path):
    alice, bob = Client(app_url, verbose=False), Client(app_url, verbose=False)
    data = handle_file(str(tiny_dataset_zip(tmp_path)))
    job = alice.submit("my .zip", data, 0.5, 15, 0.6, 0.0, "simple", 100, 8, 3e-3, 1e-4, 0.25,
                       100, 0, api_name="/train")  # fmt: skip
    trainer = running_app[1].trainer
    deadline = time.monotonic() + 60
    while not trainer.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "only they can cancel it" in error_of(lambda: bob.predict(api_name="/cancel_training"))
    # Bob's classify keeps answering while Alice trains.
    assert bob.predict(handle_file(str(STAR)), api_name="/classify")[0]["label"]
    busy = error_of(lambda: bob.predict(
        "my .zip", data, 0.5, 15, 0.6, 0.0, "simple", 1, 8, 3e-3, 1e-4, 0.25, 1, 0,
        api_name="/train"))  # fmt: skip
    assert busy.startswith("the trainer is busy with another run (")
    assert alice.predict(api_name="/cancel_training").startswith("Cancelling")
    assert job.result(timeout=120)[0].startswith("Cancelled after")


# -- 6. bounded disk -----------------------------------------------------------------------


def test_a_refused_zip_leaves_nothing_unpacked(app_url, running_app, tmp_path):
    client = Client(app_url, verbose=False)  # a new visitor: no uploads of earlier tests
    useless = tmp_path / "useless.zip"
    with zipfile.ZipFile(useless, "w") as archive:
        for name in ("a", "b"):
            for index in range(3):
                archive.writestr(f"{name}/{index}.txt", "not an image" * 1000)
    message = error_of(lambda: client.predict("my .zip", handle_file(str(useless)), 0.5, 15, 0.6,
                                              0, 0, api_name="/augment_preview"))  # fmt: skip
    assert "useless.zip" in message
    uploads = running_app[1].visitors.visit(client.session_hash).uploads.folder
    assert not uploads.exists() or not any(uploads.iterdir())


@pytest.fixture(scope="module")
def tiny_quota_app(tmp_path_factory):
    """A second app whose visitors share 1 MB of disk."""
    from conftest import free_port

    workdir = tmp_path_factory.mktemp("quota")
    args = demo.parse_args(["--port", str(free_port()), "--workdir", str(workdir)])
    session = demo.Session(workdir, args.weights, True, disk_quota=2**20)
    app = demo.build_app(session)
    url = demo.launch(app, args, auth=None)
    yield url, session
    app.close()


def test_an_exceeded_quota_is_a_sentence(tiny_quota_app, tmp_path):
    url, session = tiny_quota_app
    big = tmp_path / "big.zip"
    noise = np.random.default_rng(0).integers(0, 255, (400, 400, 3), np.uint8)
    with zipfile.ZipFile(big, "w") as archive:
        for name in ("a", "b"):
            for index in range(3):
                image = tmp_path / f"{name}{index}.png"
                Image.fromarray(noise).save(image)
                archive.write(image, f"{name}/{index}.png")
    client = Client(url, verbose=False)
    message = error_of(lambda: client.predict("my .zip", handle_file(str(big)), 0.5, 15, 0.6, 0,
                                              0, api_name="/augment_preview"))  # fmt: skip
    assert message.startswith("the server has no room for big.zip right now (")
    assert str(session.visitors.root) not in message
    assert client.predict(handle_file(str(STAR)), api_name="/classify")  # still answering


def test_the_app_folder_is_remade_at_start(tmp_path):
    leftover = tmp_path / APP_FOLDER / "0123456789abcdef" / "runs" / "1"
    leftover.mkdir(parents=True)
    (tmp_path / APP_FOLDER / ".menny-app").write_text("")
    (leftover / "menny.safetensors").write_bytes(b"half-written by a killed run")
    demo.Session(tmp_path, None, allow_training=True)
    assert not leftover.exists()


# -- 8. the weights are checked before serving ---------------------------------------------


@pytest.mark.parametrize("content", [b"", os.urandom(4096), None])
def test_unusable_weights_stop_the_start(tmp_path, content):
    weights = tmp_path / "model.safetensors"
    if content is None:  # a real file, cut short
        weights.write_bytes((ROOT / "weights" / "menny.safetensors").read_bytes()[:5000])
    else:
        weights.write_bytes(content)
    result = subprocess.run(
        [sys.executable, str(ROOT / "demo.py"), "--weights", str(weights), "--port", "1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo.py: error: "), result.stderr


# -- 11. login ---------------------------------------------------------------------------


def test_login_is_throttled():
    login = Login("ada", "correct horse", max_failures=3, window=60)
    assert login("ada", "correct horse")
    assert not any(login("ada", guess) for guess in ("a", "b", "c"))
    assert not login("ada", "correct horse")  # locked for the rest of the window


def test_credentials_from_a_file_or_the_environment(tmp_path, monkeypatch):
    secret = tmp_path / "login"
    secret.write_text("ada:correct horse\n")
    args = demo.parse_args(["--auth-file", str(secret)])
    assert read_credentials(args) == ("ada", "correct horse")
    monkeypatch.setenv("MENNY_AUTH", "bob:pw")
    assert read_credentials(demo.parse_args([])) == ("bob", "pw")
    monkeypatch.setenv("MENNY_AUTH", "no-colon")
    with pytest.raises(ValueError, match="MENNY_AUTH must hold USER:PASS") as refused:
        read_credentials(demo.parse_args([]))
    assert "no-colon" not in str(refused.value)


def test_a_login_protects_every_route(tmp_path):
    from conftest import free_port

    port = free_port()
    secret = tmp_path / "login"
    secret.write_text("ada:correct horse")
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "demo.py"), "--port", str(port), "--auth-file", str(secret),
         "--workdir", str(tmp_path), "--no-train"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert app.stdout.readline().startswith("Menny is ready"), app.stderr.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            raw_call(f"http://127.0.0.1:{port}/", "preset_kernel", ["identity"])
        assert refused.value.code in (401, 403)
        with pytest.raises((AppError, ValueError, Exception)):
            Client(f"http://127.0.0.1:{port}/", verbose=False, auth=("ada", "wrong"))
        guarded = Client(f"http://127.0.0.1:{port}/", verbose=False, auth=("ada", "correct horse"))
        assert guarded.predict("identity", api_name="/preset_kernel")[0]
    finally:
        app.terminate()
        app.wait(timeout=30)
