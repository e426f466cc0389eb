"""The `menny` command, run as a real subprocess: JSON outputs, exit codes, no tracebacks."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import write_squares

REPO = Path(__file__).resolve().parents[1]


def menny(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "menny_core.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
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
    assert metrics["classes"] == ["blue", "red"]
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
    assert first["probabilities"][first["label"]] == top and first["unsure"] == (top < 0.6)
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    assert second["path"] == str(bad) and set(second) == {"path", "error"}
    assert "\n" not in second["error"]


def test_user_errors_are_one_line_and_exit_code_2(trained, tmp_path):
    data = trained[0]
    line = assert_one_line_error(menny("predict", "--weights", tmp_path / "no.safetensors", "x"))
    assert "no.safetensors does not exist" in line
    line = assert_one_line_error(menny("train", "--data", tmp_path / "nothing", "--out", "w"))
    assert "does not exist" in line
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
