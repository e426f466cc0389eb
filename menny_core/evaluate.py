"""How good is Menny on images it did not train on: accuracy, per-class scores, confusion.

For one class c, counting over the evaluated images:
    precision(c) = TP / (TP + FP)   of the images Menny called c, the share that are c
    recall(c)    = TP / (TP + FN)   of the images that are c, the share Menny found
    f1(c)        = 2 * precision * recall / (precision + recall)
    support(c)   = TP + FN          how many images of class c there were
A score whose denominator is 0 (no image predicted as c, or none of class c) is 0.0,
as scikit-learn reports it with zero_division=0.
The confusion matrix has one row per TRUE class and one column per PREDICTED class:
confusion[i][j] counts images of class i that Menny called class j; the diagonal is right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from menny_base.errors import MennyError
from menny_core.dataset import Sample
from menny_core.markdown import escape
from menny_core.stream import eval_batches


@dataclass
class Metrics:
    """Scores of a model on a set of images (see the module docstring for definitions).

    accuracy: share of images whose top class is right, 0..1.
    loss:     mean cross-entropy of the logits (nats), what training minimises.
    per_class: {class name: {"precision", "recall", "f1", "support"}}.
    confusion: counts, rows = true class, columns = predicted class, in `classes` order.
    """

    accuracy: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    classes: list[str]
    loss: float = float("nan")

    def to_dict(self) -> dict:
        """JSON-ready: plain floats, ints and lists."""
        return asdict(self)


def metrics_from_confusion(confusion: np.ndarray, classes: Sequence[str]) -> Metrics:
    """Accuracy and per-class precision, recall, F1 and support from a confusion matrix
    (rows = true, columns = predicted). The loss is unknown here (NaN)."""
    confusion = np.asarray(confusion, dtype=np.int64)
    k = len(classes)
    if confusion.shape != (k, k):
        raise MennyError(f"confusion must be {k}x{k} for {k} classes, got {confusion.shape}")
    true_positive = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)  # column sums: how often each class was predicted
    actual = confusion.sum(axis=1)  # row sums: how many images each class really has
    total = int(confusion.sum())
    per_class = {}
    for i, name in enumerate(classes):
        precision = true_positive[i] / predicted[i] if predicted[i] else 0.0
        recall = true_positive[i] / actual[i] if actual[i] else 0.0
        both = precision + recall
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(2 * precision * recall / both) if both else 0.0,
            "support": int(actual[i]),
        }
    accuracy = float(true_positive.sum() / total) if total else 0.0
    return Metrics(accuracy, per_class, confusion.tolist(), list(classes))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts: [true label, predicted label]."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (np.asarray(labels), np.asarray(predictions)), 1)
    return confusion


def logits_for(
    model: nn.Module, samples: Sequence[Sample], image_size: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """The model's logits (N, num_classes) float32 and the true labels (N,) int64 for
    `samples`, read by the deterministic eval stream (resize + centre crop, no augmentation).

    The model is put in eval mode (dropout off, BatchNorm running statistics) and left so.
    """
    model.eval()
    logits, labels = [], []
    for batch in eval_batches(samples, image_size, batch_size):
        out = model(mx.array(batch["image"]))
        mx.eval(out)
        logits.append(np.array(out, dtype=np.float32))
        labels.append(np.asarray(batch["label"], dtype=np.int64).reshape(-1))
    return np.concatenate(logits), np.concatenate(labels)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean of -log softmax(logits)[label] over the rows, computed stably (log-sum-exp)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    # max(): rounding can make a near-perfect loss come out as -0.0000001.
    loss = float(-log_probs[np.arange(len(labels)), labels].mean())
    return loss if loss > 0 else 0.0


def evaluate(
    model: nn.Module,
    samples: Sequence[Sample],
    classes: Sequence[str],
    image_size: int,
    batch_size: int = 64,
) -> Metrics:
    """Run `model` over `samples` ((path, label) pairs) and score its top-1 predictions."""
    if len(samples) == 0:
        raise MennyError("there are no images to evaluate: samples is empty")
    logits, labels = logits_for(model, samples, image_size, batch_size)
    confusion = confusion_matrix(labels, logits.argmax(axis=1), len(classes))
    metrics = metrics_from_confusion(confusion, classes)
    metrics.loss = cross_entropy(logits, labels)
    return metrics


def metrics_markdown(metrics: Metrics, note: str = "") -> str:
    """Test accuracy and loss in bold, then `note` (a sentence), then a markdown table
    of precision, recall and F1 (two decimals) and the number of images of each class.
    Class names are a visitor's folder names: escaped, so they show as typed."""
    headline = f"**Test accuracy {metrics.accuracy:.1%}**, loss {metrics.loss:.3f}."
    lines = [
        f"{headline} {note}" if note else headline,
        "",
        "| class | precision | recall | F1 | images |",
        "|---|---|---|---|---|",
    ]
    for name, score in metrics.per_class.items():
        lines.append(
            f"| {escape(name)} | {score['precision']:.2f} | {score['recall']:.2f} | "
            f"{score['f1']:.2f} | {score['support']} |"
        )
    return "\n".join(lines)
