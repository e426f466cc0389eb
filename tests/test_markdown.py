"""Visitor text inside markdown stays text: checked with the markdown renderer Gradio uses."""

import pytest
from markdown_it import MarkdownIt

from menny_core.markdown import escape

NAMES = [
    "**ADMIN NOTICE** [click here](http://evil.example/)",
    "<img src=x onerror=alert(1)>",
    "# heading",
    "1. list",
    "- item",
    "`code` _em_ ~~strike~~ | table |",
    "a\\b",
    "plain name",
]


@pytest.mark.parametrize("name", NAMES)
def test_escaped_text_renders_as_itself(name):
    rendered = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    html_out = rendered.render(f"Menny says {escape(name)} (90%).")
    for tag in ("<strong>", "<em>", "<a ", "<img", "<h1>", "<ol>", "<ul>", "<code>", "<s>"):
        assert tag not in html_out
    # What the reader sees is the name as typed (HTML entities decode back to it).
    from html import unescape
    from re import sub

    assert unescape(sub(r"<[^>]+>", "", html_out)).strip() == f"Menny says {name} (90%)."


def test_line_breaks_cannot_start_new_blocks():
    assert "\n" not in escape("cats\n# dogs\n\n---")
