"""Save and load Menny: one `.safetensors` file holding the weights AND what they mean.

Why one file: the weights alone are useless without the class names, the input size and
the pixel normalisation they were trained with. safetensors has a header for string
metadata, so all of it travels inside the file (key "menny", a JSON document) and a
download can never lose its sidecar. Any safetensors reader shows it; the weights are
plain float32 tensors named as MLX names them ("blocks.0.conv.weight", ...).

Writes are atomic: the file is written under a temporary name in the same folder, flushed
to the disk, then renamed over the target (os.replace), so a crash or a full disk mid-write
leaves the old file as it was, and a reader never sees half a file.
Every problem loading or writing is a `WeightsError` (a ValueError) with one sentence.
Loading trusts nothing in the file: a weights file can come from anywhere (an upload, a
download, a disk that filled up), so `load` checks the metadata against the ranges training
allows, every tensor's name, shape and dtype against the model, and every value for NaN/inf.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten

from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.bugs import keep_dropout_on
from menny_core.limits import MAX_IMAGE_SIZE
from menny_core.model import VARIANTS, MennyCNN, min_input_size
from menny_core.stream import MEAN, STD
from menny_core.verdicts import Thresholds

FORMAT = "menny-weights-1"
METADATA_KEY = "menny"


class WeightsError(MennyError):
    """A weights file that cannot be used or written, with one sentence saying why."""


def check_save_path(path: str | os.PathLike) -> Path:
    """`path` as a Path if `save` can write there, else a WeightsError saying why.

    Allowed: a name ending in .safetensors (the format `load` reads; nothing is appended,
    so the file is where the user said), not an existing folder or other non-regular file
    (a device such as /dev/full, a pipe, a socket), in a folder that exists or can be
    created (no part of the way is a file) and that accepts new files. Cheap: call it
    before a long training run rather than finding out after.
    Writability is proved by creating and removing an empty file in the nearest existing
    folder: permission bits alone say yes to root everywhere, even in /proc or /sys.
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
    if path.exists() and not path.is_file():  # exists() follows links: a link to /dev/full
        raise WeightsError(
            f"{shown} cannot be written: it exists and is not a regular file (a device, pipe "
            f"or socket); give the name of a new or existing .safetensors file"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the nearest existing ancestor
        folder = folder.parent
    if not folder.is_dir():
        raise WeightsError(f"{shown} cannot be written: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WeightsError(f"{shown} cannot be written: the folder {folder} is not writable")
    _prove_writable(shown, folder)
    return path


def _prove_writable(shown: str, folder: Path) -> None:
    """Create and remove an empty file in `folder`, or a WeightsError with the system's reason.

    Only trying tells: os.access answers yes for root in /proc, /sys and on a read-only disk.
    The file is hidden and removed at once, so nothing is left behind either way.
    """
    try:
        handle, probe = tempfile.mkstemp(prefix=".menny-probe-", suffix=".tmp", dir=folder)
    except OSError as error:
        where = "the current folder" if str(folder) == "." else str(folder)
        raise WeightsError(
            f"{shown} cannot be written: a new file cannot be created in {where} "
            f"({error.strerror or type(error).__name__})"
        ) from None
    os.close(handle)
    os.unlink(probe)


def save(path: str | os.PathLike, model: MennyCNN, metadata: dict | None = None) -> Path:
    """Write `model`'s weights and `metadata` (a JSON-able dict) to `path` atomically.

    Filled in when missing: format, variant, num_classes, dropout (from the model),
    normalization (stream.MEAN/STD), mlx_version and created (UTC, ISO 8601). `metadata`
    should hold at least "classes" (names in label order) and "image_size".
    `path` must pass `check_save_path` (end in .safetensors, ...); its missing folders are
    created. Returns the path written. A failed write (a full disk, a folder that stopped
    accepting files) is a WeightsError naming the file (not its folder) and the reason; it
    leaves no partial file, and an earlier file at `path` is unchanged.
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
        raise MennyError(
            f"metadata['classes'] must list the model's {model.num_classes} class names, "
            f"got {classes!r}"
        )
    try:
        header = json.dumps(info, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise MennyError(f"metadata must be JSON-able (no NaN): {error}") from None
    arrays = dict(tree_flatten(model.parameters()))
    try:
        _write_atomically(path, arrays, {METADATA_KEY: header})
    except (OSError, RuntimeError) as error:  # RuntimeError: MLX's own writer, just in case
        reason = error.strerror if isinstance(error, OSError) and error.strerror else None
        raise WeightsError(
            f"{path.name} could not be written ({reason or 'the disk may be full'}); no "
            f"partial file was left and an earlier {path.name} is unchanged"
        ) from None
    return path


def _write_atomically(path: Path, arrays: dict[str, mx.array], header: dict[str, str]) -> None:
    """Write a temporary file beside `path`, flush it to the disk, then rename it over `path`.

    MLX writes through a Python file object, so a full disk is an OSError with its errno
    (MLX's own file writer says only "Unable to write"). fsync before the rename: some
    filesystems report a full disk only then, and a rename of unsynced data can leave an
    empty file after a power cut. The temporary name is random and opened with mode "x"
    (fail rather than reuse a file), so two saves at once never write into each other's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as handle:
            mx.save_safetensors(handle, arrays, metadata=header)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _read(path: Path) -> tuple[dict[str, mx.array], dict]:
    name = path.name
    if not path.exists():
        raise WeightsError(f"{name} does not exist; give the path of a .safetensors file")
    if not path.is_file():
        raise WeightsError(f"{name} is not a file; give the path of a .safetensors file")
    try:
        arrays, header = mx.load(str(path), format="safetensors", return_metadata=True)
        mx.eval(list(arrays.values()))  # read now: a damaged file fails here, not later
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
    """Refuse metadata that training could not have written; fix image_size to an int.

    The ranges are training's own (TrainConfig): a file is as trustworthy as its source,
    and an image_size of 100000 would make mlx-data's resize kill the process, 0 would
    make it fail inside a worker thread, and a class list with repeats would merge two
    classes' probabilities.
    """
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise WeightsError(f"{name} is not in Menny's weights format ({FORMAT})")
    classes = metadata.get("classes")
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) and c.strip() for c in classes)
    ):
        raise WeightsError(f"{name} does not list at least two class names in its metadata")
    if len(set(classes)) != len(classes):
        twice = next(c for c in classes if classes.count(c) > 1)
        raise WeightsError(f"{name} lists the class name {twice!r} twice in its metadata")
    variant = metadata.get("variant")
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise WeightsError(
            f"{name} names an unknown variant {variant!r} (known: {', '.join(VARIANTS)})"
        )
    try:
        metadata["image_size"] = whole(
            metadata.get("image_size"), "image size", min_input_size(variant), MAX_IMAGE_SIZE,
            f" pixels per side for the {variant} variant",
        )  # fmt: skip
    except (TypeError, ValueError) as error:
        raise WeightsError(f"{name} has no valid image_size in its metadata: {error}") from None
    dropout = metadata.get("dropout", 0.0)
    if not _is_real(dropout) or not 0.0 <= dropout < 1.0:
        raise WeightsError(
            f"{name} has an invalid dropout in its metadata: it must be in [0, 1), got {dropout!r}"
        )
    if "detector" in metadata:  # a face detector's: its thresholds decide every answer
        detector = metadata["detector"]
        try:
            if not isinstance(detector, dict):
                raise MennyError("it must be a JSON object")
            Thresholds.from_dict(detector.get("thresholds", {}))
        except (MennyError, TypeError) as error:
            raise WeightsError(f"{name} has invalid detector settings: {error}") from None


def _is_real(value: object) -> bool:
    """A finite int or float that is not a bool (JSON true is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load(path: str | os.PathLike) -> tuple[MennyCNN, dict]:
    """The model (eval mode) and metadata stored at `path`, or a WeightsError.

    Checked, in order: the file is a readable safetensors file with Menny's metadata
    (`_check_metadata`); its tensors are exactly the model's (names, shapes, float32);
    every value is finite, and BatchNorm's running variances are not negative (a square
    root of them is taken). A forward pass is not run here: see predict.check_weights.
    Weights of a run that replayed the dropout-at-inference bug keep dropout on (bugs.py).
    """
    path = Path(path)
    arrays, metadata = _read(path)
    model = MennyCNN(
        len(metadata["classes"]),
        metadata["variant"],
        metadata.get("dropout", 0.0),
        detector="detector" in metadata,
    )
    _check_fits(path.name, model, metadata, arrays)
    _check_values(path.name, arrays)
    model.load_weights(list(arrays.items()))
    model.eval()
    mx.eval(model.parameters())
    if metadata.get("replay_bug") == "dropout-at-inference":  # the bug travels with its run
        keep_dropout_on(model)
    return model, metadata


def read_metadata(path: str | os.PathLike) -> dict:
    """The checked metadata of the weights at `path` (as `load` checks it), without
    building the model: what a run comparison needs."""
    return _read(Path(path))[1]


def _check_fits(name: str, model: MennyCNN, metadata: dict, arrays: dict[str, mx.array]) -> None:
    """Refuse tensors that are not exactly `model`'s: a missing, extra or reshaped one."""
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
            f"{name}'s weights do not fit the {metadata['variant']} Menny with "
            f"{len(metadata['classes'])} classes ({detail})"
        )
    for key, array in sorted(arrays.items()):
        if array.dtype != mx.float32:  # what save writes; anything else was made elsewhere
            raise WeightsError(
                f"{name}'s tensor {key} holds {str(array.dtype).removeprefix('mlx.core.')}; "
                f"Menny's weights are float32"
            )


def _check_values(name: str, arrays: dict[str, mx.array]) -> None:
    """Refuse NaN or infinity anywhere, and negative BatchNorm running variances.

    A single NaN makes every prediction NaN ("CWK nan%"), which looks like an answer.
    """
    for key, array in sorted(arrays.items()):
        if not mx.all(mx.isfinite(array)).item():
            raise WeightsError(
                f"{name} is damaged: {key} holds values that are not numbers (NaN or "
                f"infinity); train Menny again or use the shipped weights"
            )
        if key.endswith("running_var") and mx.any(array < 0).item():
            raise WeightsError(
                f"{name} is damaged: {key} holds negative variances; train Menny again or "
                f"use the shipped weights"
            )


def _rounded(values) -> list[float]:
    """float32 constants as the decimals they were written as (0.485, not 0.48500001)."""
    return [round(float(v), 6) for v in values]
