"""What a visitor sends, checked before any work: numbers, choices, flags and files.

API callers can send anything a widget could not (a string for a checkbox, 1e308 for a
slider, the path of any file on the server), so every handler reads its values through
these functions, and every refusal is one sentence for a person (`for_people` turns it
into a gr.Error; anything else stays a bug with a generic message).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder

from menny_base.errors import MennyError
from menny_base.images import MAX_PIXELS, load_rgb, upright_size
from menny_base.numbers import whole

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "demo_assets"
PORTRAITS = ROOT / "portraits"
PLAYGROUND_SIDE = 512  # larger uploads are shrunk so every knob answers at once
MAX_UPLOAD = "50 MB"  # Gradio refuses larger uploads; named files are checked too
MAX_UPLOAD_BYTES = 50 * 2**20
log = logging.getLogger("menny")


# -- errors for people -------------------------------------------------------


# The cores' contract: a MennyError carries one sentence written for the learner (ImageError,
# DatasetError, WeightsError, TrainingRefused... are MennyErrors). Anything else is a bug.
def for_people(handler):
    """Wrap a handler (a function or a generator function): a core's sentence becomes a
    gr.Error the visitor reads; any other exception is a bug, logged with its traceback and
    shown as one generic line. The wrapped handler keeps its signature (Gradio's API)."""

    def translated(error: Exception) -> gr.Error:
        if isinstance(error, gr.Error):
            return error
        if isinstance(error, MennyError):
            return gr.Error(str(error), print_exception=False)
        log.exception("%s failed", handler.__name__)  # the traceback, for the server log
        return gr.Error(
            f"something went wrong on the server ({type(error).__name__}); it is logged",
            print_exception=False,
        )

    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def streamed(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except Exception as error:
                raise translated(error) from None

        return streamed

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            raise translated(error) from None

    return wrapped


def whole_from(value, label: str, minimum: int, maximum: int | None = None) -> int:
    """A number widget's value as a whole number in minimum..maximum; an emptied field is
    named, not a TypeError."""
    if value is None or value == "":
        allowed = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise MennyError(f"{label} is empty: give a whole number {allowed}")
    return whole(value, label, minimum, maximum)


def number_from(value, label: str) -> float:
    """A number widget's value as a finite float; an emptied field is named, not a
    TypeError, and text ("abc", "1e999") gets a sentence, not Python's message."""
    if value is None or value == "":
        raise MennyError(f"{label} is empty: give a number")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MennyError(f"{label} must be a number, got {value!r}")
    return float(value)


def one_of(value, label: str, choices) -> str:
    """A radio's value, checked: API callers can send anything."""
    if value not in choices:
        raise MennyError(f"{label} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def flag(value, label: str) -> bool:
    """A checkbox's value, checked: API callers can send "no", which Python calls true."""
    if not isinstance(value, bool):
        raise MennyError(f"{label} must be true or false, got {value!r}")
    return value


# Files a visitor may name: what Gradio stored for this app (uploads, and the bundled
# pictures it copied to its cache), and the bundled pictures themselves. Nothing else on
# the server, however the path is spelled (symlinks and ".." are resolved first).
BUNDLED = (ASSETS, PORTRAITS)
NOT_UPLOADED = "that file was not uploaded to this app: upload the image again"


def uploaded_file(value) -> str | None:
    """The server path of a visitor's file, checked. File events run with preprocess=False
    so a bad file reaches `load_rgb` (and its sentence) instead of failing inside Gradio's
    PIL call; the raw value is then a FileData dict, or whatever an API caller sent.
    Only files inside Gradio's upload folder or the bundled folders are accepted: the same
    sentence for any other path, so it tells nothing about what exists on the server."""
    if value is None:
        return None
    path = value.get("path") if isinstance(value, dict) else getattr(value, "path", value)
    if not isinstance(path, str | Path) or not str(path):
        raise MennyError(NOT_UPLOADED)
    real = Path(os.path.realpath(path))
    roots = [
        Path(os.path.realpath(get_upload_folder())),
        *(Path(os.path.realpath(b)) for b in BUNDLED),
    ]
    if not any(real.is_relative_to(root) for root in roots) or not real.is_file():
        raise MennyError(NOT_UPLOADED)
    if real.stat().st_size > MAX_UPLOAD_BYTES:
        raise MennyError(f"the file is larger than {MAX_UPLOAD}: upload a smaller image")
    return str(real)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> tuple[np.ndarray, str]:
    # Decoded straight to the size shown (JPEG at 1/2..1/8 scale, others band by band):
    # a 40-megapixel upload costs tens of megabytes, not hundreds.
    small = load_rgb(path, max_pixels=MAX_PIXELS, max_side=PLAYGROUND_SIDE)
    width, height = upright_size(path)
    note = ""
    if max(width, height) > PLAYGROUND_SIDE:
        note = (
            f"Your {width}x{height} image was shrunk to {small.shape[1]}x{small.shape[0]} "
            f"(longest side {PLAYGROUND_SIDE}) so the playground answers at once."
        )
    return small, note


def load_image(value, missing: str = "pick or upload an image first") -> tuple[np.ndarray, str]:
    """The picked or uploaded image as uint8 RGB (H, W, 3), at most PLAYGROUND_SIDE a side,
    and a note if it was shrunk."""
    path = uploaded_file(value)
    if not path:
        raise MennyError(missing)
    return _load(path, Path(path).stat().st_mtime)


def widgets_for(handler, widgets: dict) -> list:
    """The components that feed `handler`, in the order of its parameters, looked up by name
    in `widgets` (a tab's locals()): the list is written once, as the handler's signature,
    and a renamed parameter without its widget fails at start-up, not on a click."""
    names = [
        name
        for name, parameter in inspect.signature(handler).parameters.items()
        if parameter.default is inspect.Parameter.empty or name in widgets
    ]
    missing = [name for name in names if name not in widgets]
    if missing:
        raise KeyError(f"{handler.__name__} has no widget for {', '.join(missing)}")
    return [widgets[name] for name in names]
