"""Text from visitors inside markdown: shown as typed, never as markup.

Class names come from a visitor's zip folder names and file names from inside the zip;
the app writes them into markdown (the Classify verdict, the metrics table, the dataset
note). A folder named "**ADMIN NOTICE** [click](http://...)" must show those characters,
not bold text and a link, and never HTML.
"""

from __future__ import annotations

import html
import re

# Every character CommonMark lets a backslash escape (its "ASCII punctuation" set).
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape(text: object) -> str:
    """`text` as literal markdown: HTML special characters as entities (&lt; &amp; ...),
    markdown punctuation backslash-escaped, line breaks as spaces (one line stays one)."""
    flat = " ".join(str(text).split())
    return _MARKUP.sub(r"\\\1", html.escape(flat, quote=False))
