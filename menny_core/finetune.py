"""Fine-tuning: start a run from trained weights (the shipped Menny), freeze early blocks.

Transfer learning in two steps, as the chapter's mind map puts it:

    start_from(model, path, classes)   copy the conv blocks (weights, biases, BatchNorm's
                                       scales and running statistics) from a trained Menny;
                                       the heads too where they still mean the same thing
    freeze_blocks(model, n)            the first n conv blocks stop learning

Which heads are kept: the class head (`classifier`) only when the new classes are exactly
the old ones, in the same order (its rows ARE the classes: 4 people's rows cannot name 2
colours); the face and box heads whenever their shapes fit (they answer "is there a face,
where", whoever it is). Everything not copied keeps the fresh initialisation the run's
seed gave it, the same numbers a run from scratch starts with.

A frozen block is frozen completely: its parameters get no gradient (MLX's `freeze`), and
its BatchNorm keeps its running statistics (`hold_frozen` puts it in eval mode after every
`model.train()`): so after training its numbers are bit-identical to the file's.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten

from menny_base.errors import MennyError
from menny_core.model import MennyCNN
from menny_core.weights import load

CLASS_HEAD = "classifier."


def check_init_path(path: str | os.PathLike) -> str:
    """`path` as a string if it names an existing .safetensors file, else a MennyError.

    Only the file's name is checked here (cheap, in TrainConfig); `start_from` reads it
    with weights.load, which refuses anything that is not Menny's own weights format
    (written by `menny train` or the app, or the shipped file)."""
    shown = Path(path)
    if shown.suffix != ".safetensors":
        raise MennyError(
            "weights to start from must be a .safetensors file written by Menny, got "
            f"{shown.name!r}"
        )
    if not shown.is_file():
        raise MennyError(f"weights to start from: {shown.name} is not an existing file")
    return str(path)


def start_from(model: MennyCNN, path: str | os.PathLike, classes: list[str]) -> dict:
    """Copy into `model` what fits of the trained Menny at `path` (see the module
    docstring); returns what happened, for the run's metadata:
    {"from": file name, "classes": its classes, "loaded": [names], "fresh": [names]}.

    A MennyError if the file is not Menny's weights, or its variant differs (a complex
    Menny's blocks do not fit a simple one)."""
    trained, metadata = load(path)
    name = Path(path).name
    if trained.variant != model.variant:
        raise MennyError(
            f"{name} holds a {trained.variant} Menny: choose the {trained.variant} variant "
            f"to start from it"
        )
    source = dict(tree_flatten(trained.parameters()))
    same_classes = list(metadata["classes"]) == list(classes)
    loaded, fresh = [], []
    for key, value in tree_flatten(model.parameters()):
        old = source.get(key)
        fits = old is not None and old.shape == value.shape
        if fits and (same_classes or not key.startswith(CLASS_HEAD)):
            loaded.append((key, old))
        else:
            fresh.append(key)
    model.load_weights(loaded, strict=False)
    mx.eval(model.parameters())
    return {
        "from": name,
        "classes": list(metadata["classes"]),
        "loaded": [k for k, _ in loaded],
        "fresh": fresh,
    }


def start_line(init: dict, frozen: int) -> str:
    """One log line: what `start_from` took, and how many blocks stay frozen."""
    blocks = sorted({key.split(".")[1] for key in init["loaded"] if key.startswith("blocks.")})
    fresh = sorted({key.split(".")[0] for key in init["fresh"]})
    heads = f"new: {', '.join(fresh)}" if fresh else "every head kept (the same classes)"
    return (
        f"started from {init['from']}: {len(blocks)} conv blocks loaded, {frozen} frozen; {heads}"
    )


def freeze_blocks(model: MennyCNN, count: int) -> None:
    """Freeze the first `count` conv blocks (0: none; len(model.blocks): all)."""
    if not 0 <= count <= len(model.blocks):
        raise MennyError(
            f"freeze must be from 0 to {len(model.blocks)} conv blocks for the "
            f"{model.variant} Menny, got {count}"
        )
    for block in model.blocks[:count]:
        block.freeze()


def hold_frozen(model: MennyCNN, count: int) -> None:
    """After `model.train()`: the first `count` blocks back in eval mode, so their
    BatchNorm normalises with, and does not update, its running statistics."""
    for block in model.blocks[:count]:
        block.eval()
