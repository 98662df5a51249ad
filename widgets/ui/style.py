"""The one stylesheet (``paperlab.css``, read once) and small HTML helpers that use its classes.

Panel panes render in shadow roots, so a pane showing these classes takes the sheet through
``stylesheets=STYLESHEETS``; an ipywidgets view adds ``style_widget()`` (one ``<style>``, which
the notebook page applies everywhere).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

CSS_PATH = Path(__file__).with_name("paperlab.css")
Tone = Literal["ok", "warn", "bad", "muted", "unknown", "dark"]


@cache
def stylesheet() -> str:
    """The stylesheet's text."""
    return CSS_PATH.read_text(encoding="utf-8")


def stylesheets() -> list[str]:
    """``stylesheets=`` for a Panel pane or widget that shows the sheet's classes."""
    return [stylesheet()]


def style_tag() -> str:
    """The sheet as one ``<style>`` element (ipywidgets, plain HTML)."""
    return f"<style>{stylesheet()}</style>"


def style_widget() -> Any:
    """An ipywidgets HTML carrying the sheet (put it first in a card's box)."""
    import ipywidgets as w

    return w.HTML(style_tag(), layout=w.Layout(display="none"))


def esc(text: Any) -> str:
    """``text`` escaped for HTML (None is '')."""
    return html.escape("" if text is None else str(text))


def span(text: str, cls: str, tag: str = "span") -> str:
    """``<span class=cls>text</span>`` (escaped)."""
    return f"<{tag} class='{cls}'>{esc(text)}</{tag}>"


def badge(text: str, tone: Tone, *, cls: str = "", title: str | None = None) -> str:
    """A coloured badge: status, feed, gateway health (``cls``: more classes, ``title``: a tooltip)."""
    tip = f' title="{html.escape(title, quote=True)}"' if title is not None else ""
    return f'<span class="paperlab-badge paperlab-tone-{tone}{" " + cls if cls else ""}"{tip}>{esc(text)}</span>'


def stat(title: str, value: str) -> str:
    """One small card: a title over a value."""
    return (f"<div class='paperlab-stat'><div class='paperlab-stat-title'>{esc(title)}</div>"
            f"<div class='paperlab-stat-value'>{esc(value)}</div></div>")


def stats(cards: Iterable[tuple[str, str]], cls: str = "") -> str:
    """A wrapping row of ``stat`` cards."""
    return f"<div class='paperlab-stats{' ' + cls if cls else ''}'>" + "".join(stat(t, v) for t, v in cards) + "</div>"


def scroll(text: str, cls: str = "") -> str:
    """Preformatted text in a bounded, scrolling box (feeds, output, log tails)."""
    return f"<pre class='paperlab-scroll{' ' + cls if cls else ''}'>{esc(text)}</pre>"


def details(summary: str, text: str) -> str:
    """A collapsed ``<details>`` with ``text`` in a scrolling box."""
    return f"<details><summary>{esc(summary)}</summary>{scroll(text)}</details>"
