"""Menny: learn convolutional neural networks by turning the knobs. Start with `python demo.py`.

The app lives in the `menny_app` package, one module per tab (see its docstring); this file
is the entry point: `main()` for the command line, and `demo`, the app with its default
settings, built on first use (`gradio demo.py` and other tools look for it).

    python demo.py [--host H] [--port P] [--share] [--allow-train] [--no-train]
                   [--auth-file FILE | --auth USER:PASS] [--weights FILE] [--workdir DIR]
                   [--disk-quota MB] [--cache-minutes N]
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from menny_app.layout import build_app
from menny_app.server import SHIPPED_WEIGHTS, launch, main, parse_args
from menny_app.session import Session

__all__ = ["Session", "build_app", "launch", "main", "parse_args"]  # and `demo`, below


def __getattr__(name: str) -> gr.Blocks:
    """`demo`: the app as `python demo.py` starts it (here, in the current folder)."""
    if name != "demo":
        raise AttributeError(f"module 'demo' has no attribute {name!r}")
    globals()["demo"] = app = build_app(Session(Path.cwd(), SHIPPED_WEIGHTS, True))
    return app


if __name__ == "__main__":
    main()
