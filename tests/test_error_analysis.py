"""Error analysis on real files: the shipped Menny and an untrained one on the bundled
test split, with `evaluate` and `predict` as oracles; the orderings on hand-made rows;
errors.json written by `menny evaluate --errors` and read back; the galleries' frames."""

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from menny_base.errors import MennyError
from menny_core.cli import main
from menny_core.dataset import discover
from menny_core.error_analysis import (
    ErrorReport,
    ImageResult,
    error_report,
    read_errors,
    recorded_split,
    report_for,
    write_errors,
)
from menny_core.error_gallery import (
    BORDER,
    HEADING,
    MAX_TILES,
    RIGHT,
    WRONG,
    cell_sheet,
    class_sheet,
    close_calls_sheet,
)
from menny_core.evaluate import evaluate
from menny_core.model import MennyCNN
from menny_core.predict import probabilities
from menny_core.weights import load

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights" / "menny.safetensors"


@pytest.fixture(scope="module")
def shipped():
    model, metadata = load(WEIGHTS)
    folder = discover(ROOT / "portraits")
    return model, metadata, folder


def confusion_of(report: ErrorReport) -> np.ndarray:
    k = len(report.classes)
    counts = np.zeros((k, k), dtype=int)
    for row in report.images:
        counts[row.true, row.predicted] += 1
    return counts


def test_the_shipped_report_agrees_with_evaluate_and_classify(shipped):
    model, metadata, folder = shipped
    report = report_for(model, metadata, folder)
    test = recorded_split(folder, metadata).test
    assert len(report.images) == len(test) == 24
    metrics = evaluate(model, test, metadata["classes"], metadata["image_size"])
    np.testing.assert_array_equal(confusion_of(report), metrics.confusion)
    assert report.misclassified() == []  # the shipped model gets all 24 right
    for row in report.images:
        assert sum(row.probabilities) == pytest.approx(1.0)
        assert row.file == f"{report.classes[row.true]}/{Path(row.path).name}"
    # Classify's probabilities (predict.probabilities, same temperature) for one file.
    first = report.images[0]
    temperature = metadata["detector"]["thresholds"]["temperature"]
    from menny_base.images import load_rgb

    expected = probabilities(model, load_rgb(first.path), 64, temperature)
    np.testing.assert_allclose(first.probabilities, expected, atol=1e-4)
    close = report.least_confident_correct(2)
    assert set(close) == set(metadata["classes"])
    for name, rows in close.items():
        everyone = [r.p_true for r in report.images if report.classes[r.true] == name]
        assert [r.p_true for r in rows] == sorted(everyone)[:2]


def test_an_untrained_menny_makes_mistakes_and_they_are_listed(shipped):
    _, metadata, folder = shipped
    mx.random.seed(0)
    untrained = MennyCNN(5, "complex", detector=True)
    test = recorded_split(folder, metadata).test
    report = error_report(untrained, test, metadata["classes"], 64, folder.relative)
    metrics = evaluate(untrained, test, metadata["classes"], 64)
    confusion = np.array(metrics.confusion)
    wrong = report.misclassified()
    assert len(wrong) == confusion.sum() - np.trace(confusion) > 0
    confidences = [r.confidence for r in wrong]
    assert confidences == sorted(confidences, reverse=True)
    for i, j in zip(*np.nonzero(confusion), strict=True):
        assert len(report.cell(int(i), int(j))) == confusion[i, j]


def hand_report() -> ErrorReport:
    rows = [
        ImageResult("a/1.png", "a1", 0, 0, (0.9, 0.1)),
        ImageResult("a/2.png", "a2", 0, 1, (0.3, 0.7)),
        ImageResult("a/3.png", "a3", 0, 0, (0.6, 0.4)),
        ImageResult("a/4.png", "a4", 0, 1, (0.45, 0.55)),
        ImageResult("b/1.png", "b1", 1, 1, (0.2, 0.8)),
    ]
    return ErrorReport(["a", "b"], rows)


def test_orderings_on_hand_made_rows():
    report = hand_report()
    assert [r.file for r in report.misclassified()] == ["a/2.png", "a/4.png"]  # 0.7, 0.55
    assert [r.file for r in report.cell("a", "b")] == ["a/2.png", "a/4.png"]
    assert [r.file for r in report.cell(0, 0)] == ["a/3.png", "a/1.png"]  # 0.6 before 0.9
    assert [r.file for r in report.by_class("a")] == ["a/2.png", "a/4.png", "a/3.png", "a/1.png"]
    assert report.least_confident_correct(1) == {"a": [report.images[2]], "b": [report.images[4]]}
    assert report.cell("b", "a") == []
    with pytest.raises(MennyError, match="true class must be one of a, b, got 'c'"):
        report.cell("c", "a")


def test_errors_json_round_trip_and_refusals(tmp_path):
    report = hand_report()
    path = write_errors(report, tmp_path / "out")
    data = json.loads(path.read_text())
    assert [row["file"] for row in data["misclassified"]] == ["a/2.png", "a/4.png"]
    assert data["misclassified"][0]["probabilities"] == {"a": 0.3, "b": 0.7}
    again = read_errors(path)
    assert sorted(again.images, key=lambda r: r.file) == sorted(report.images, key=lambda r: r.file)
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(MennyError, match="not a Menny errors file"):
        read_errors(tmp_path / "bad.json")
    with pytest.raises(MennyError, match="cannot be read"):
        read_errors(tmp_path / "missing.json")
    with pytest.raises(MennyError, match="no test images"):
        error_report(MennyCNN(2), [], ["a", "b"], 64)


def test_menny_evaluate_errors_writes_the_same_report(tmp_path, capsys, shipped):
    model, metadata, folder = shipped
    code = main(
        ["evaluate", "--data", str(ROOT / "portraits"), "--weights", str(WEIGHTS),
         "--errors", str(tmp_path), "--json"]
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["errors_file"] == str(tmp_path / "errors.json")
    written = read_errors(tmp_path / "errors.json")
    direct = report_for(model, metadata, folder)
    assert {r.file: r.predicted for r in written.images} == {
        r.file: r.predicted for r in direct.images
    }
    for row in written.images:
        match = next(r for r in direct.images if r.file == row.file)
        np.testing.assert_allclose(row.probabilities, match.probabilities, atol=1e-6)


def tile_frame(picture: np.ndarray, index: int) -> tuple[int, ...]:
    """The frame colour of tile `index` of the first section (its top-left border pixel)."""
    from menny_core.error_gallery import COLUMNS, TILE

    x = (index % COLUMNS) * (TILE + 2 * BORDER)
    return tuple(int(v) for v in picture[HEADING + 1, x + 1])


def test_galleries_frame_right_green_and_wrong_red(tmp_path):
    image = np.zeros((20, 30, 3), np.uint8)
    from PIL import Image

    Image.fromarray(image).save(tmp_path / "x.png")
    rows = [
        ImageResult(f"a/{i}.png", str(tmp_path / "x.png"), 0, i % 2, (0.6, 0.4)) for i in range(3)
    ]
    report = ErrorReport(["a", "b"], rows)
    cell = cell_sheet(report, "a", "b")
    assert tile_frame(cell, 0) == WRONG
    right = cell_sheet(report, "a", "a")
    assert tile_frame(right, 0) == RIGHT and tile_frame(right, 1) == RIGHT
    by_class = class_sheet(report)  # mistakes first
    assert tile_frame(by_class, 0) == WRONG and tile_frame(by_class, 1) == RIGHT
    assert close_calls_sheet(report).shape[1] == cell.shape[1]
    many = ErrorReport(["a", "b"], rows * 20)
    assert class_sheet(many).shape == class_sheet(ErrorReport(["a", "b"], rows * 6)).shape
    assert len(many.by_class("a")) > MAX_TILES  # drawn: MAX_TILES of them


def test_menny_evaluate_errors_into_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    code = main(
        ["evaluate", "--data", str(ROOT / "portraits"), "--weights", str(WEIGHTS),
         "--errors", str(blocker)]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("menny evaluate: error: ")
    assert str(blocker) in err[0]
