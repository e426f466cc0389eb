"""Save and load Menny: one `.safetensors` file holding the weights AND what they mean.

Why one file: the weights alone are useless without the class names, the input size and
the pixel normalisation they were trained with. safetensors has a header for string
metadata, so all of it travels inside the file (key "menny", a JSON document) and a
download can never lose its sidecar. Any safetensors reader shows it; the weights are
plain float32 tensors named as MLX names them ("blocks.0.conv.weight", ...).

Writes are atomic: the file is written under a temporary name in the same folder, then
renamed over the target (os.replace), so a crash or a full disk mid-write leaves the old
file as it was, and a reader never sees half a file.
Every problem loading is a `WeightsError` (a ValueError) with one sentence.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten

from menny_core.model import VARIANTS, MennyCNN
from menny_core.stream import MEAN, STD

FORMAT = "menny-weights-1"
METADATA_KEY = "menny"


class WeightsError(ValueError):
    """A weights file that cannot be used or written, with one sentence saying why."""


def check_save_path(path: str | os.PathLike) -> Path:
    """`path` as a Path if `save` can write there, else a WeightsError saying why.

    Allowed: a name ending in .safetensors (the format `load` reads; nothing is appended,
    so the file is where the user said), not an existing folder, in a folder that exists
    or can be created (no part of the way is a file) and that can be written to. Cheap:
    call it before a long training run rather than finding out after.
    """
    path = Path(path)
    shown = str(path)
    if path.is_dir():
        raise WeightsError(
            f"{shown} is an existing folder: give a file name ending in .safetensors, e.g. "
            f"{path / 'menny.safetensors'}"
        )
    if path.suffix != ".safetensors":  # also ".safetensors" alone: a hidden file, no name
        stem = path.stem if path.stem not in ("", "..", ".safetensors") else "menny"
        raise WeightsError(
            f"{shown} is not a file name ending in .safetensors: Menny's weights are a "
            f".safetensors file, e.g. {path.parent / (stem + '.safetensors')}"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the nearest existing ancestor
        folder = folder.parent
    if not folder.is_dir():
        raise WeightsError(f"{shown} cannot be written: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WeightsError(f"{shown} cannot be written: the folder {folder} is not writable")
    return path


def save(path: str | os.PathLike, model: MennyCNN, metadata: dict | None = None) -> Path:
    """Write `model`'s weights and `metadata` (a JSON-able dict) to `path` atomically.

    Filled in when missing: format, variant, num_classes, dropout (from the model),
    normalization (stream.MEAN/STD), mlx_version and created (UTC, ISO 8601). `metadata`
    should hold at least "classes" (names in label order) and "image_size".
    `path` must pass `check_save_path` (end in .safetensors, ...); its missing folders are
    created. Returns the path written.
    """
    path = check_save_path(path)
    info = {
        "format": FORMAT,
        "variant": model.variant,
        "num_classes": model.num_classes,
        "dropout": model.dropout_rate,
        "normalization": {"mean": _rounded(MEAN), "std": _rounded(STD)},
        "mlx_version": mx.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(metadata or {}),
    }
    classes = info.get("classes")
    if not isinstance(classes, list) or len(classes) != model.num_classes:
        raise ValueError(
            f"metadata['classes'] must list the model's {model.num_classes} class names, "
            f"got {classes!r}"
        )
    try:
        header = json.dumps(info, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"metadata must be JSON-able (no NaN): {error}") from None
    arrays = dict(tree_flatten(model.parameters()))
    path.parent.mkdir(parents=True, exist_ok=True)
    # mx.save_safetensors appends ".safetensors" to a name without it: keep the suffix.
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.safetensors")
    try:
        mx.save_safetensors(str(temporary), arrays, metadata={METADATA_KEY: header})
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """Just the metadata of a Menny weights file (loads the arrays too: they are small)."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[dict[str, mx.array], dict]:
    name = path.name
    if not path.exists():
        raise WeightsError(f"{name} does not exist; give the path of a .safetensors file")
    if not path.is_file():
        raise WeightsError(f"{name} is not a file; give the path of a .safetensors file")
    try:
        arrays, header = mx.load(str(path), format="safetensors", return_metadata=True)
    except Exception:  # MLX's messages name internals; the user needs to know what to do
        raise WeightsError(
            f"{name} is not a readable .safetensors file (it may be truncated or another "
            f"format); train Menny again or use the shipped weights"
        ) from None
    if METADATA_KEY not in header:
        raise WeightsError(f"{name} is a safetensors file but not Menny's weights (no metadata)")
    try:
        metadata = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError:
        raise WeightsError(f"{name} has damaged Menny metadata (not valid JSON)") from None
    _check_metadata(name, metadata)
    return arrays, metadata


def _check_metadata(name: str, metadata: object) -> None:
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise WeightsError(f"{name} is not in Menny's weights format ({FORMAT})")
    classes = metadata.get("classes")
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) for c in classes)
    ):
        raise WeightsError(f"{name} does not list at least two class names in its metadata")
    if metadata.get("variant") not in VARIANTS:
        raise WeightsError(
            f"{name} names an unknown variant {metadata.get('variant')!r} "
            f"(known: {', '.join(VARIANTS)})"
        )
    size = metadata.get("image_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise WeightsError(f"{name} has no valid image_size in its metadata")


def load(path: str | os.PathLike) -> tuple[MennyCNN, dict]:
    """The model (eval mode) and metadata stored at `path`, or a WeightsError."""
    path = Path(path)
    arrays, metadata = _read(path)
    model = MennyCNN(len(metadata["classes"]), metadata["variant"], metadata.get("dropout", 0.0))
    expected = {k: v.shape for k, v in tree_flatten(model.parameters())}
    found = {k: v.shape for k, v in arrays.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        detail = (
            f"{wrong[0]} is {tuple(found[wrong[0]])}, expected {tuple(expected[wrong[0]])}"
            if wrong
            else f"{missing[0]} is missing"
            if missing
            else f"{sorted(set(found) - set(expected))[0]} is not part of it"
        )
        raise WeightsError(
            f"{path.name}'s weights do not fit the {metadata['variant']} Menny with "
            f"{len(metadata['classes'])} classes ({detail})"
        )
    model.load_weights(list(arrays.items()))
    model.eval()
    mx.eval(model.parameters())
    return model, metadata


def _rounded(values) -> list[float]:
    """float32 constants as the decimals they were written as (0.485, not 0.48500001)."""
    return [round(float(v), 6) for v in values]
