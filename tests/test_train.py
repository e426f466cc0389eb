"""Training: an easy task is learned, early stopping restores the best weights, cancel
stops, runs repeat, and every bad config field is named."""

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from PIL import Image

from menny_core import train as train_module
from menny_core.dataset import discover
from menny_core.evaluate import confusion_matrix, metrics_from_confusion
from menny_core.stream import Augment
from menny_core.train import TrainConfig, train

COLOURS = {"blue": (30, 60, 220), "red": (220, 40, 30)}


def write_squares(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """An easy ImageFolder: a red or a blue 20x20 square somewhere on dark 40x40 noise."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 60, (40, 40, 3)).astype(np.uint8)
            y, x = rng.integers(0, 20, 2)
            image[y : y + 20, x : x + 20] = colour
            Image.fromarray(image).save(folder / f"{i:02d}.png")
    return root


def quick(**changes) -> TrainConfig:
    # No generated strangers or negatives: these tests are about the training loop, and
    # keep the class list as the folders say (the detector's are in test_detector.py).
    base = dict(
        variant="complex", image_size=32, epochs=2, batch_size=8, lr=3e-3,
        augment=Augment.off(), strangers=False, negatives=False,
    )  # fmt: skip
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    root = tmp_path_factory.mktemp("squares")
    return discover(write_squares(root), cache_dir=root / ".cache")


def test_an_easy_task_is_learned(squares):
    seen = []
    result = train(squares, quick(epochs=6), on_epoch=seen.append, log=None)
    assert [s.epoch for s in seen] == [1, 2, 3, 4, 5, 6] == [s.epoch for s in result.history]
    assert seen[-1].train_loss < seen[0].train_loss
    assert result.test_metrics is not None and result.test_metrics.accuracy == 1.0
    assert result.classes == ["blue", "red"]
    assert not result.cancelled and 1 <= result.best_epoch <= 6
    assert all(s.images_per_s > 0 and s.seconds > 0 for s in seen)
    meta = result.metadata()
    assert meta["split"]["sizes"] == {"train": 16, "val": 4, "test": 4}  # 2 + 2 per class
    assert meta["image_size"] == 32 and meta["classes"] == ["blue", "red"]


def test_the_same_seed_gives_the_same_run(squares):
    config = quick(epochs=1, augment=Augment())
    first = train(squares, config, log=None).history[0]
    second = train(squares, config, log=None).history[0]
    assert (first.train_loss, first.val_loss) == (second.train_loss, second.val_loss)


def test_early_stopping_restores_the_best_epochs_weights(squares, monkeypatch):
    """Validation losses are scripted: epoch 2 is best, patience 2 stops after epoch 4."""
    scripted = iter([1.0, 0.5, 0.9, 0.95, 0.97, 0.99])
    snapshots = []

    def fake_validate(model, scenes, *_):
        snapshots.append({k: np.array(v) for k, v in tree_flatten(model.parameters())})
        return next(scripted), 0.5

    monkeypatch.setattr(train_module, "_validate", fake_validate)
    result = train(squares, quick(epochs=6, patience=2), log=None)
    assert result.stopped_early and result.best_epoch == 2 and len(result.history) == 4
    final = {k: np.array(v) for k, v in tree_flatten(result.model.parameters())}
    for name, value in snapshots[1].items():
        np.testing.assert_array_equal(final[name], value)
    assert not np.array_equal(final["classifier.weight"], snapshots[3]["classifier.weight"])


def test_cancel_stops_between_batches(squares):
    calls = []

    def stop_after_three() -> bool:
        calls.append(1)
        return len(calls) > 5

    batches = []
    result = train(
        squares,
        quick(epochs=5),
        should_stop=stop_after_three,
        on_batch=lambda done, total: batches.append((done, total)),
        log=None,
    )
    assert result.cancelled and result.test_metrics is None
    # 16 training images, each in two scenes, in batches of 8: 4 steps per epoch; the 6th
    # poll stops epoch 2.
    assert batches == [(1, 4), (2, 4), (3, 4), (4, 4), (1, 4)]
    assert len(result.history) == 1 and result.best_epoch == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("variant", "big", "model variant must be one of simple, complex, got 'big'"),
        # the complex default has 5 pools: 32 pixels at least
        ("image_size", 16, "image size must be between 32 and 512 pixels per side for the complex"),
        ("image_size", 100_000, "image size must be between 32 and 512 pixels per side"),
        ("image_size", 513.0, "image size must be between 32 and 512 pixels per side"),
        ("epochs", 0, "epochs must be >= 1, got 0"),
        ("batch_size", 0, "batch size must be >= 1, got 0"),
        ("batch_size", 2.5, "batch size must be a whole number"),
        ("lr", 0, r"learning rate (lr) must be in (0, 1], got 0"),
        ("lr", float("nan"), r"learning rate (lr) must be in (0, 1], got nan"),
        ("weight_decay", -0.1, "weight decay must be in [0, 1], got -0.1"),
        ("dropout", 1, "dropout must be in [0, 1), got 1"),
        ("patience", -1, "patience must be >= 0, got -1"),
        ("seed", -3, "seed must be between 0 and 4294967295 (2**32 - 1), got -3"),
        ("seed", 2**32, "seed must be between 0 and 4294967295 (2**32 - 1), got 4294967296"),
        ("val_fraction", 1.5, "validation share (val_fraction) must be in [0, 1), got 1.5"),
        ("val_fraction", 0.6, "validation share + test share (val_fraction + test_fraction)"),
        ("augment", None, "augment must be a stream.Augment"),
    ],
)
def test_bad_config_fields_are_named_in_the_apps_words(field, value, message):
    with pytest.raises(ValueError) as caught:
        TrainConfig(**{field: value, "test_fraction": 0.4})
    assert str(caught.value).startswith(message)


def test_the_limits_themselves_are_allowed(squares):
    assert TrainConfig(variant="simple", image_size=8).image_size == 8
    assert TrainConfig(image_size=train_module.MAX_IMAGE_SIZE).image_size == 512
    # The largest seed trains (numpy's legacy seeding stops at 2**32 - 1; streams use seed +
    # epoch, which may go beyond it).
    result = train(squares, quick(epochs=1, seed=train_module.MAX_SEED), log=None)
    assert len(result.history) == 1


def test_without_validation_images_the_epoch_line_says_so(squares):
    lines = []
    result = train(squares, quick(epochs=2, val_fraction=0, test_fraction=0), log=lines.append)
    assert result.split.val == [] and len(result.history) == 2
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2
    for line in epochs:
        assert "no validation images" in line and "nan" not in line, line
    assert "val loss" in train_module._epoch_line(
        train_module.EpochStats(1, 0.5, 0.9, 0.25, 0.75, 1.0, 10.0), 3
    )


def test_metrics_of_a_hand_worked_confusion_matrix():
    """Rows true, columns predicted. Class a: 5 right, 1 called b; b: 2 called a, 3 right,
    1 called c; c: 4 right. precision(a) = 5/7, recall(a) = 5/6, f1 = 2*5/(7+6) = 10/13."""
    confusion = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
    metrics = metrics_from_confusion(confusion, ["a", "b", "c"])
    assert metrics.accuracy == pytest.approx(12 / 16)
    a, b, c = (metrics.per_class[k] for k in "abc")
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx(
        (5 / 7, 5 / 6, 10 / 13, 6)
    )
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((3 / 4, 3 / 6, 6 / 10))
    assert (c["precision"], c["recall"], c["f1"]) == pytest.approx((4 / 5, 1.0, 8 / 9))


def test_metrics_agree_with_an_independent_numpy_count():
    rng = np.random.default_rng(3)
    labels, predictions = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    predictions[:10] = 3  # class 3 predicted often; class 0 never predicted below
    predictions[predictions == 0] = 1
    metrics = metrics_from_confusion(confusion_matrix(labels, predictions, 4), list("wxyz"))
    assert metrics.accuracy == pytest.approx(np.mean(labels == predictions))
    for k, name in enumerate("wxyz"):
        tp = np.sum((labels == k) & (predictions == k))
        predicted, actual = np.sum(predictions == k), np.sum(labels == k)
        precision = tp / predicted if predicted else 0.0
        row = metrics.per_class[name]
        assert row["precision"] == pytest.approx(precision)
        assert row["recall"] == pytest.approx(tp / actual)
        assert row["support"] == actual
    assert metrics.per_class["w"]["f1"] == 0.0  # never predicted: 0, not a division error
    assert mx.array(metrics.confusion).sum().item() == 200


def test_early_stopping_keeps_the_best_epoch_and_waits_patience_epochs():
    from menny_core.model import MennyCNN
    from menny_core.train import EarlyStopping

    model = MennyCNN(2, "simple")
    rule = EarlyStopping(patience=2)
    losses = [1.0, 0.5, 0.7, 0.6, 0.4]  # best at epoch 2; epochs 3 and 4 no better: stop at 4
    stops = [rule.update(epoch, loss, model) for epoch, loss in enumerate(losses[:4], 1)]
    assert stops == [False, False, False, True]
    assert (rule.best_epoch, rule.best_loss) == (2, 0.5) and rule.best_state is not None
    never = EarlyStopping(patience=0)  # 0: never stop early
    assert not any(never.update(epoch, 1.0 + epoch, model) for epoch in range(1, 50))
    assert never.best_epoch == 1
