"""Every tab of the app in one Blocks: `build_app(session)`.

Each tab module declares its own widgets and events; this module only puts them side by
side, with what they share (the bundled pictures, the cache policy, the unload hook).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from menny_app.classify import classify_tab
from menny_app.grid_lab import grid_lab_tab
from menny_app.inputs import ASSETS, PORTRAITS
from menny_app.playground import playground_tab
from menny_app.session import Session
from menny_app.shapes import shapes_tab
from menny_app.training import train_tab

CSS = (
    ".pixelated img { image-rendering: pixelated; }"
    # Gradio floats an image's label over its top edge: room for it where that edge matters.
    " .below-label .image-container { padding-top: 2.2rem; }"
)
# Gradio's own cache (uploads, images sent back): files older than this go (--cache-minutes).
# Not much shorter: a visitor's picture stays in the playground while they turn the knobs.
CACHE_MINUTES = 60


def _examples() -> list[str]:
    """The bundled pictures: drawn test images, then one portrait per class."""
    return sorted(str(p) for p in ASSETS.glob("*.png")) + portrait_examples(per_class=1)


def portrait_examples(per_class: int = 2) -> list[str]:
    """`per_class` pictures of each bundled class folder, classes in sorted order: front
    views first (a portrait as a visitor would take one; the other views follow)."""
    if not PORTRAITS.is_dir():
        return []
    return [
        str(path)
        for folder in sorted(p for p in PORTRAITS.iterdir() if p.is_dir())
        for path in sorted(folder.iterdir(), key=_front_first)[:per_class]
        if path.suffix.lower() in (".png", ".jpg", ".jpeg")
    ]


def _front_first(path: Path) -> tuple[bool, str]:
    return (not path.name.startswith("front_"), path.name)


def build_app(session: Session, cache_minutes: int = CACHE_MINUTES) -> gr.Blocks:
    """Every tab, widget and event of the app."""
    with gr.Blocks(
        title="Menny: CNNs by turning the knobs",
        analytics_enabled=False,
        # Checked every tenth of the lifetime (at least every 10 s), so the cache holds at
        # most 1.1 lifetimes of traffic.
        delete_cache=(max(10, cache_minutes * 6), cache_minutes * 60),
    ) as app:
        gr.Markdown("# Menny\nConvolutional neural networks, by turning the knobs.")
        app.unload(session.leave)  # a closed tab releases that visitor's runs and files
        playground_tab(app, _examples())
        grid_lab_tab(app)
        shapes_tab(app)
        classify_tab(app, session, portrait_examples())
        if session.allow_training:
            train_tab(app, session)
    return app
