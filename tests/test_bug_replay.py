"""Every replayable bug (menny_core/bugs.py) changes training the way the chapter's bug did,
measured on real runs over tiny red/blue squares (test_train.py's): the loss that sees
probabilities, the permuted names, the fixed tilt, the batch-counted patience, the noisy
answers, the empty epochs, the weights that barely move."""

import math
import re

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from PIL import Image
from test_cli import assert_one_line_error, menny
from test_train import quick, write_squares

from menny_core import bugs
from menny_core import train as train_module
from menny_core.dataset import discover, stratified_split
from menny_core.model import MennyCNN
from menny_core.predict import probabilities
from menny_core.scenes import SceneAugment, _vary
from menny_core.train import TrainConfig, detector_loss, epoch_stream, train
from menny_core.weights import load, save


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    root = tmp_path_factory.mktemp("bug_squares")
    return discover(write_squares(root), cache_dir=root / ".cache")


@pytest.fixture(scope="module")
def clean(squares):
    return train(squares, quick(epochs=6), log=None)


def weights_of(model) -> dict:
    return {k: np.array(v) for k, v in tree_flatten(model.parameters())}


def test_every_bug_is_a_config_field_and_an_unknown_one_is_named():
    for name in bugs.BUGS:
        assert TrainConfig(replay_bug=name).to_dict()["replay_bug"] == name
    with pytest.raises(ValueError) as caught:
        TrainConfig(replay_bug="typo")
    assert str(caught.value).startswith("replay bug must be one of softmax-before-loss, ")


def test_softmax_before_loss_is_cross_entropy_of_probabilities():
    mx.random.seed(1)
    model = MennyCNN(3, "simple", 0.0, detector=True)
    model.eval()
    images = mx.random.normal((4, 16, 16, 3))
    labels, face = mx.array([0, 1, 2, 1]), mx.ones(4)
    box, has_box = mx.zeros((4, 4)), mx.zeros(4)
    clean, logits = detector_loss(model, images, labels, face, box, has_box)
    buggy, _ = detector_loss(model, images, labels, face, box, has_box, softmax_first=True)
    probs = np.array(mx.softmax(logits, axis=1), np.float64)
    log_softmax_again = probs - np.log(np.exp(probs).sum(axis=1, keepdims=True))
    expected_class = -log_softmax_again[np.arange(4), np.array(labels)].mean()
    plain = np.array(logits, np.float64)
    plain = plain - np.log(np.exp(plain).sum(axis=1, keepdims=True))
    clean_class = -plain[np.arange(4), np.array(labels)].mean()
    # Same face and box terms: the difference is the class terms' difference.
    assert buggy.item() - clean.item() == pytest.approx(expected_class - clean_class, abs=1e-5)


def test_softmax_before_loss_keeps_the_logged_loss_above_its_floor(squares, clean):
    lines = []
    result = train(squares, quick(epochs=6, replay_bug="softmax-before-loss"), log=lines.append)
    floor = math.log(1 + (2 - 1) / math.e)  # 2 classes: 0.313 nats at best
    logged = [float(m) for m in re.findall(r"train loss ([\d.]+)", "\n".join(lines))]
    assert len(logged) == 6 and min(logged) >= floor - 1e-3
    assert all(s.val_loss >= floor - 1e-3 for s in result.history)
    assert clean.history[-1].train_loss < floor  # the clean run goes below it
    assert result.metadata()["replay_bug"] == "softmax-before-loss"


def test_listing_order_is_the_listing_or_reversed_when_the_listing_is_sorted(squares, monkeypatch):
    monkeypatch.setattr(bugs.os, "listdir", lambda _root: ["red", ".cache", "blue"])
    assert bugs.listing_order(squares) == (["red", "blue"], "os.listdir")
    monkeypatch.setattr(bugs.os, "listdir", lambda _root: ["blue", "red", ".cache"])
    assert bugs.listing_order(squares) == (["red", "blue"], "reversed: os.listdir was sorted")


def test_relabel_permutes_the_labels_and_keeps_the_split(squares):
    split = stratified_split(squares.samples, 0.2, 0.2, 0)
    folder, moved = bugs.relabel(squares, split, ["red", "blue"])
    assert folder.classes == ["red", "blue"]
    for before, after in ((split.train, moved.train), (split.test, moved.test)):
        assert [p for p, _ in before] == [p for p, _ in after]
        assert [1 - label for _, label in before] == [label for _, label in after]


def test_unsorted_labels_train_well_and_name_the_test_images_wrongly(squares, clean):
    result = train(squares, quick(epochs=6, replay_bug="unsorted-labels"), log=None)
    order = result.replay["training_order"]
    assert sorted(order) == ["blue", "red"] and order != ["blue", "red"]  # a permutation
    assert result.classes == ["blue", "red"]  # what prediction reads: sorted
    assert result.history[-1].val_acc == 1.0  # training agrees with itself ...
    assert clean.test_metrics.accuracy == 1.0
    assert result.test_metrics.accuracy == 0.0  # ... prediction swaps every name
    confusion = np.array(result.test_metrics.confusion)
    assert confusion[0, 1] == confusion[1, 0] == 2  # 2 test squares per class, swapped


def test_fixed_rotation_turns_every_scene_by_15_degrees():
    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)
    fixed = SceneAugment(0.0, 0.0, 10.0, fixed_rotation=bugs.FIXED_ROTATION)
    oracle = np.asarray(Image.fromarray(canvas).rotate(15.0, Image.Resampling.BILINEAR))
    for seed in range(3):  # whatever the draw, the same turn
        turned, _, _ = _vary(
            canvas, np.zeros(4, np.float32), False, np.random.default_rng(seed), fixed
        )
        np.testing.assert_array_equal(turned, oracle)
    random = SceneAugment(0.0, 0.0, 10.0)
    results = {
        _vary(canvas, np.zeros(4, np.float32), False, np.random.default_rng(s), random)[0].tobytes()
        for s in range(3)
    }
    assert len(results) == 3  # a random angle each time


def test_the_training_stream_replays_the_fixed_rotation(squares):
    from menny_core.detector_data import prepare

    config = quick(augment=quick().augment)  # no augmentation at all: rotation 0
    split = stratified_split(squares.samples, config.val_fraction, config.test_fraction, 0)
    part = prepare(squares, split, False, False).parts["train"]
    plain = next(iter(epoch_stream(part, config, 1)))["image"]
    bugged = quick(replay_bug="fixed-rotation")
    turned = next(iter(epoch_stream(part, bugged, 1)))["image"]
    assert plain.shape == turned.shape and not np.allclose(plain, turned)


def test_tilted_accuracy_upright_is_the_test_accuracy(squares, clean):
    test = clean.split.test
    upright = bugs.tilted_accuracy(clean.model, test, 32, 0.0)
    assert upright == clean.test_metrics.accuracy  # evaluate() as the oracle at 0 degrees
    result = train(squares, quick(epochs=1, replay_bug="fixed-rotation"), log=None)
    tilted = result.replay["tilted_test"]
    assert tilted["same"] == bugs.tilted_accuracy(result.model, test, 32, 15.0)
    assert tilted["other"] == bugs.tilted_accuracy(result.model, test, 32, -15.0)


def test_early_stop_in_the_batch_loop_counts_patience_in_batches(squares):
    batches = []
    config = quick(epochs=6, patience=2, replay_bug="early-stop-in-batch-loop")
    result = train(squares, config, on_batch=lambda d, t: batches.append(d), log=None)
    stop, best = result.replay["stopped_at_batch"], result.replay["best_batch"]
    assert result.stopped_early and stop - best == 2  # 2 batches, not 2 epochs
    assert len(batches) == stop < 6 * 4  # it stopped where it checked: mid-run
    assert result.best_epoch == (best - 1) // 4 + 1  # 4 steps per epoch
    clean = train(squares, quick(epochs=6, patience=2), log=None)
    assert len(clean.history) > len(result.history) or not clean.stopped_early


def test_dropout_at_inference_changes_answers_from_call_to_call(squares, clean, tmp_path):
    result = train(
        squares, quick(epochs=1, dropout=0.5, replay_bug="dropout-at-inference"), log=None
    )
    path = save(tmp_path / "bug.safetensors", result.model, result.metadata())
    model, metadata = load(path)
    picture = np.asarray(Image.open(squares.samples[0][0]).convert("RGB"))
    answers = {probabilities(model, picture, 32).tobytes() for _ in range(5)}
    assert len(answers) > 1  # dropout still on after eval()
    clean_path = save(tmp_path / "clean.safetensors", clean.model, clean.metadata())
    clean_model, _ = load(clean_path)
    assert len({probabilities(clean_model, picture, 32).tobytes() for _ in range(3)}) == 1
    assert metadata["replay_bug"] == "dropout-at-inference"


def test_exhausted_stream_gives_no_batches_after_the_first_epoch(squares):
    batches, snapshots = [], []

    def epoch_end(stats):
        batches.append(("end", stats.epoch))
        snapshots.append(weights_of(result_model[0]))

    result_model = []
    real_model = train_module.MennyCNN

    def remember(*args, **kwargs):  # the run's model, to look at its weights per epoch
        result_model.append(real_model(*args, **kwargs))
        return result_model[0]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "MennyCNN", remember)
        result = train(
            squares, quick(epochs=3, patience=0, replay_bug="exhausted-stream"),
            on_epoch=epoch_end, on_batch=lambda d, t: batches.append(d), log=None,
        )  # fmt: skip
    assert batches == [1, 2, 3, 4, ("end", 1), ("end", 2), ("end", 3)]
    assert result.replay["images_per_epoch"] == [32, 0, 0]
    assert all(math.isnan(s.train_loss) and s.images_per_s == 0 for s in result.history[1:])
    for name, value in snapshots[1].items():  # nothing trained after epoch 1
        np.testing.assert_array_equal(value, snapshots[2][name])


def test_tiny_lr_barely_moves_the_weights(squares, clean):
    mx.random.seed(0)
    start = weights_of(MennyCNN(2, "complex", 0.25, detector=True))
    tiny = train(squares, quick(epochs=1, replay_bug="tiny-lr", dropout=0.25), log=None)
    normal = train(squares, quick(epochs=1, dropout=0.25), log=None)
    key = "blocks.1.conv.weight"
    moved = np.abs(weights_of(tiny.model)[key] - start[key]).max()
    # 4 AdamW steps move a weight by about lr each (a little more when gradients flip).
    assert moved < 20 * bugs.TINY_LR
    assert np.abs(weights_of(normal.model)[key] - start[key]).max() > 50 * moved


def test_the_cli_lists_each_bug_and_refuses_an_unknown_one(tmp_path):
    shown = menny("train", "--help").stdout
    for name, about in bugs.BUGS.items():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(about)}$", shown, re.M), name
    data = write_squares(tmp_path / "data", per_class=4)
    error = assert_one_line_error(
        menny("train", "--data", data, "--out", tmp_path / "x.safetensors", "--replay-bug", "nope")
    )
    assert "argument --replay-bug: invalid choice: 'nope'" in error


def test_a_bug_run_is_labelled_on_the_command_line(tmp_path):
    data = write_squares(tmp_path / "data", per_class=6)
    out = tmp_path / "bug.safetensors"
    result = menny(
        "train", "--data", data, "--out", out, "--image-size", 32, "--epochs", 1,
        "--batch-size", 8, "--no-strangers", "--no-negatives", "--replay-bug", "tiny-lr",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(bug: tiny-lr)" in result.stdout
    assert result.stdout.startswith(f"replaying the bug tiny-lr: {bugs.BUGS['tiny-lr']}\n")
    metadata = load(out)[1]
    assert metadata["replay_bug"] == "tiny-lr" and metadata["config"]["replay_bug"] == "tiny-lr"
