"""The `menny` command, run as a real subprocess: JSON outputs, exit codes, no tracebacks."""

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from test_train import write_squares

REPO = Path(__file__).resolve().parents[1]
PYTHONPATH = os.environ.get("PYTHONPATH", "")


def menny(
    *args: str, cwd: Path = REPO, timeout: float = 120, max_file_bytes: int | None = None
) -> subprocess.CompletedProcess:
    """`menny ARGS` run from `cwd`, importing this checkout's menny_core (not an installed one).

    max_file_bytes: no file the command writes may grow past this (RLIMIT_FSIZE): a full
    disk for this process only. Python ignores SIGXFSZ, so writes fail with EFBIG.
    """

    def limit_files() -> None:
        if max_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(
        [sys.executable, "-m", "menny_core.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), PYTHONPATH]))},
        timeout=timeout,
        preexec_fn=limit_files,
    )


def assert_one_line_error(result, code=2):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data folder, weights file) from one real `menny train` run on red/blue squares."""
    root = tmp_path_factory.mktemp("cli")
    data = write_squares(root / "data")
    out = root / "menny.safetensors"
    result = menny(
        "train", "--data", data, "--out", out, "--image-size", 32, "--epochs", 6,
        "--batch-size", 8, "--lr", 0.003, "--rotation", 0, "--flip-prob", 0.5,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "epoch 6/6" in result.stdout
    printed = re.search(r"accuracy on 4 test images: ([\d.]+)%", result.stdout)
    assert printed, result.stdout
    return data, out, float(printed.group(1)) / 100


def test_evaluate_prints_the_metrics_as_json(trained):
    data, weights, accuracy_after_training = trained
    result = menny("evaluate", "--data", data, "--weights", weights, "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["classes"] == ["blue", "red", "someone else"]  # a detector by default
    assert sum(map(sum, metrics["confusion"])) == 4  # the recorded test split: 2 per class
    # The same weights on the same recomputed split: what `train` printed at the end.
    assert metrics["accuracy"] == pytest.approx(accuracy_after_training, abs=0.001)
    assert metrics["accuracy"] == pytest.approx(
        sum(row[i] for i, row in enumerate(metrics["confusion"])) / 4
    )
    assert set(metrics["per_class"]["red"]) == {"precision", "recall", "f1", "support"}
    everything = json.loads(menny("evaluate", "--data", data, "--weights", weights,
                                  "--split", "all", "--json").stdout)  # fmt: skip
    assert sum(map(sum, everything["confusion"])) == 24


def test_predict_prints_one_json_object_per_image(trained, tmp_path):
    data, weights, _ = trained
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = data / "red" / "00.png"
    result = menny("predict", "--weights", weights, good, bad, "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["path"] == str(good) and first["label"] in ("blue", "red")
    top = max(first["probabilities"].values())
    assert first["probabilities"][first["label"]] == top
    assert first["unsure"] == (first["verdict"] == "not sure")  # its validation threshold
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    assert second["path"] == str(bad) and set(second) == {"path", "error"}
    assert "\n" not in second["error"]
    # A detector's row: its verdict, face probability and box (none: no boxes.json).
    assert first["verdict"] in {"blue", "red", "someone else", "no face", "not sure"}
    assert 0 <= first["face"] <= 1 and first["box"] is None


def variant_of(weights, out, thresholds=None, favour=None):
    """The trained weights with other thresholds, or with one class's bias raised by 100
    (so it is always the top class): every verdict, on demand, from real weights."""
    from menny_core.weights import load, save

    model, metadata = load(weights)
    if thresholds is not None:
        metadata["detector"]["thresholds"].update(thresholds)
    if favour is not None:
        bias = np.array(model.classifier.bias)
        bias[metadata["classes"].index(favour)] += 100.0
        model.classifier.bias = mx.array(bias)
    return save(out, model, metadata)


@pytest.mark.parametrize(
    ("change", "verdict"),
    [
        ({"thresholds": {"face": 1.0}}, "no face"),
        ({"thresholds": {"face": 0.0}, "favour": "someone else"}, "someone else"),
        ({"thresholds": {"face": 0.0, "sure": 1.0}}, "not sure"),
        ({"thresholds": {"face": 0.0, "sure": 0.0}, "favour": "red"}, "red"),
    ],
)
def test_predict_says_every_verdict_in_json_and_in_words(trained, tmp_path, change, verdict):
    data, weights, _ = trained
    changed = variant_of(weights, tmp_path / "v.safetensors", **change)
    image = data / "blue" / "00.png"
    row = json.loads(menny("predict", "--weights", changed, image, "--json").stdout)
    assert row["verdict"] == verdict
    assert row["box"] is None  # trained without boxes: never a box
    words = menny("predict", "--weights", changed, image).stdout.strip()
    expected = {
        "no face": f"{image}: no face (face ",
        "someone else": f"{image}: someone else 100% (face ",
        "not sure": f"{image}: not sure (face ",
        "red": f"{image}: red 100% (face ",
    }[verdict]
    assert words.startswith(expected), words


def test_evaluate_reports_the_detector(trained):
    data, weights, _ = trained
    metrics = json.loads(menny("evaluate", "--data", data, "--weights", weights, "--json").stdout)
    assert 0 <= metrics["no_face_rate"] <= 1 and 0 <= metrics["stranger_rate"] <= 1
    assert metrics["box_iou"] is None  # no boxes.json: nothing to compare a box with
    assert 0 <= metrics["ece"] <= 1
    counts = metrics["detection"]["counts"]
    assert counts["no_face_scenes"] >= 48 and counts["stranger_scenes"] >= 48
    text = menny("evaluate", "--data", data, "--weights", weights).stdout
    assert "no face said for pictures without one:" in text and "calibration error" in text


def test_user_errors_are_one_line_and_exit_code_2(trained, tmp_path):
    data = trained[0]
    line = assert_one_line_error(menny("predict", "--weights", tmp_path / "no.safetensors", "x"))
    assert "no.safetensors does not exist" in line
    out = tmp_path / "w.safetensors"
    line = assert_one_line_error(menny("train", "--data", tmp_path / "nothing", "--out", out))
    assert line == (
        f"menny train: error: --data {tmp_path / 'nothing'} does not exist: give a folder "
        "with one sub-folder per class"
    )
    line = assert_one_line_error(
        menny("train", "--data", data, "--out", tmp_path / "w", "--dropout", "1.5")
    )
    assert "dropout must be in [0, 1)" in line
    assert_one_line_error(menny("train", "--data", data, "--epochs", "many", "--out", "w"))
    assert_one_line_error(menny("evaluate", "--data", data))  # --weights missing
    assert_one_line_error(menny("fly"))
    not_menny = tmp_path / "foreign.safetensors"
    not_menny.write_bytes(b"{}")
    line = assert_one_line_error(menny("evaluate", "--data", data, "--weights", not_menny))
    assert "not a readable .safetensors file" in line


def test_portraits_command_writes_a_dataset(tmp_path):
    pytest.importorskip("menny_core.portraits")
    result = menny("portraits", "--out", tmp_path / "p", "--per-class", 1, "--seed", 1)
    assert result.returncode == 0, result.stderr
    folders = sorted(p.name for p in (tmp_path / "p").iterdir() if p.is_dir())
    assert folders == ["CWK", "Cody", "Pippa", "RJ"]
    assert all(len(list((tmp_path / "p" / f).glob("*.png"))) == 1 for f in folders)
    assert "wrote 4 portraits" in result.stdout


def test_out_is_checked_before_training(trained, tmp_path):
    data = trained[0]
    (tmp_path / "existing_folder").mkdir()
    (tmp_path / "some_file.png").write_bytes(b"a picture, not a folder")
    cases = {
        "some_file.png/x.safetensors": "--out some_file.png/x.safetensors cannot be written: "
        "some_file.png is a file, not a folder",
        "existing_folder": "--out existing_folder is an existing folder: give a file name "
        "ending in .safetensors, e.g. existing_folder/menny.safetensors",
        "out3.txt": "--out out3.txt is not a file name ending in .safetensors: Menny's weights "
        "are a .safetensors file, e.g. out3.safetensors",
    }
    for out, message in cases.items():
        # Relative --out, as typed in a terminal; 500 epochs without early stopping: a check
        # made after training would time out instead of failing fast.
        result = menny("train", "--data", data, "--out", out, "--epochs", 500, "--patience", 0,
                       "--image-size", 32, cwd=tmp_path, timeout=60)  # fmt: skip
        assert assert_one_line_error(result) == f"menny train: error: {message}"
        assert "epoch" not in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing_folder", "some_file.png"]
    assert list((tmp_path / "existing_folder").iterdir()) == []


def test_out_gets_its_missing_folders(trained, tmp_path):
    data = trained[0]
    out = tmp_path / "new" / "run.safetensors"
    result = menny("train", "--data", data, "--out", out, "--epochs", 1, "--image-size", 32,
                   "--val-fraction", 0, "--test-fraction", 0)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.is_file() and f"weights saved to {out}" in result.stdout
    # No validation images: the epoch line says so instead of "val loss nan acc nan%".
    epoch_line = next(line for line in result.stdout.splitlines() if line.startswith("epoch 1/1"))
    assert "no validation images" in epoch_line and "nan" not in epoch_line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--image-size", "100000"),
            "image size must be between 32 and 512 pixels per side for the complex variant, "
            "got 100000",
        ),
        (
            ("--seed", str(2**32)),
            "seed must be between 0 and 4294967295 (2**32 - 1), got 4294967296",
        ),
        (("--batch-size", "0"), "batch size must be >= 1, got 0"),
        (("--lr", "0"), "learning rate (lr) must be in (0, 1], got 0.0"),
        (("--rotation", "200"), "rotation (degrees) must be in [0, 180], got 200.0"),
    ],
)
def test_bad_training_settings_are_refused_in_one_line(trained, tmp_path, args, message):
    result = menny("train", "--data", trained[0], "--out", tmp_path / "w.safetensors", *args)
    assert assert_one_line_error(result) == f"menny train: error: {message}"


def test_data_that_is_a_file_is_named_as_typed(trained, tmp_path):
    photo = tmp_path / "front_007.png"
    photo.write_bytes(b"an image, not a folder")
    result = menny("evaluate", "--data", photo, "--weights", trained[1])
    assert assert_one_line_error(result) == (
        f"menny evaluate: error: --data {photo} is a file: give a folder with one sub-folder "
        "per class"
    )


def test_portraits_per_class_has_a_maximum(tmp_path):
    result = menny("portraits", "--out", tmp_path / "p", "--per-class", 100_000_000)
    assert assert_one_line_error(result) == (
        "menny portraits: error: per_class (portraits per class) must be at most 1000, "
        "got 100000000"
    )
    assert not (tmp_path / "p").exists()


# -- item 8 of the public-link issue: --out that only looks writable -------------------


def test_out_that_cannot_really_be_written_is_refused_before_training(trained, tmp_path):
    data = trained[0]
    (tmp_path / "full.safetensors").symlink_to("/dev/full")
    cases = {
        "/proc/menny.safetensors": "--out /proc/menny.safetensors cannot be written: a new file "
        "cannot be created in /proc (No such file or directory)",
        "/sys/menny.safetensors": "--out /sys/menny.safetensors cannot be written: a new file "
        "cannot be created in /sys (Permission denied)",
        "full.safetensors": "--out full.safetensors cannot be written: it exists and is not a "
        "regular file (a device, pipe or socket); give the name of a new or existing "
        ".safetensors file",
    }
    for out, message in cases.items():
        if out.startswith("/") and not Path(out).parent.is_dir():
            continue  # no /proc or /sys on this system
        # 500 epochs without early stopping: a check made after training would time out.
        result = menny("train", "--data", data, "--out", out, "--epochs", 500, "--patience", 0,
                       "--image-size", 32, cwd=tmp_path, timeout=60)  # fmt: skip
        assert assert_one_line_error(result) == f"menny train: error: {message}"
        assert "epoch" not in result.stdout
    assert os.listdir(tmp_path) == ["full.safetensors"]


def test_a_disk_that_fills_during_training_is_one_line_and_no_file(trained, tmp_path):
    data = trained[0]
    out = tmp_path / "w.safetensors"
    result = menny("train", "--data", data, "--out", out, "--epochs", 1, "--image-size", 32,
                   "--variant", "simple", max_file_bytes=20_000)  # fmt: skip
    assert assert_one_line_error(result, code=1) == (
        "menny train: error: trained, but the weights were not saved: w.safetensors could not "
        "be written (File too large); no partial file was left and an earlier w.safetensors "
        "is unchanged"
    )
    assert "epoch 1/1" in result.stdout and "weights saved" not in result.stdout
    assert os.listdir(tmp_path) == []


# -- item 10: weights files that load but would crash or answer "nan%" -----------------


def _damaged_copy(weights: Path, folder: Path, poison: bool = False, **metadata) -> Path:
    """A copy of real trained weights with its metadata changed or one value set to NaN."""
    import mlx.core as mx

    arrays, header = mx.load(str(weights), return_metadata=True)
    if poison:
        arrays["classifier.bias"] = arrays["classifier.bias"] * float("nan")
    header = {"menny": json.dumps({**json.loads(header["menny"]), **metadata})}
    copy = folder / "damaged.safetensors"
    mx.save_safetensors(str(copy), arrays, metadata=header)
    return copy


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            {"image_size": 100000},
            "damaged.safetensors has no valid image_size in its metadata: image size must be "
            "between 32 and 512 pixels per side for the complex variant, got 100000",
        ),
        (
            {"image_size": 0},
            "damaged.safetensors has no valid image_size in its metadata: image size must be "
            "between 32 and 512 pixels per side for the complex variant, got 0",
        ),
        (
            {"classes": [1, 2]},
            "damaged.safetensors does not list at least two class names in its metadata",
        ),
        (
            {"poison": True},
            "damaged.safetensors is damaged: classifier.bias holds values that are not numbers "
            "(NaN or infinity); train Menny again or use the shipped weights",
        ),
    ],
    ids=["image_size 100000", "image_size 0", "classes not strings", "NaN"],
)
def test_damaged_weights_are_one_line_in_predict_and_evaluate(trained, tmp_path, damage, message):
    data, weights, _ = trained
    damaged = _damaged_copy(weights, tmp_path, **damage)
    result = menny("predict", "--weights", damaged, data / "red" / "00.png")
    assert assert_one_line_error(result) == f"menny predict: error: {message}"
    assert result.stdout == ""  # not "red nan%"
    result = menny("evaluate", "--data", data, "--weights", damaged)
    assert assert_one_line_error(result) == f"menny evaluate: error: {message}"
