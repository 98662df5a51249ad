"""One family of errors, and one way to say any error in one line.

Every error a person can cause or meet is a ``PaperLabError``: its message is one
line naming the field (or the thing) and what is allowed, and it carries the exit
code the CLI returns. Surfaces (CLI, magics, widgets, the app) show ``one_line(e)``
and never a traceback; anything else that escapes is a bug, shown as one line too.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "PaperLabError",
    "SpecError",
    "UsageError",
    "NotFound",
    "Refused",
    "VenueUnavailable",
    "SessionStartError",
    "ControlError",
    "one_line",
    "flat_text",
    "clean_text",
]


class PaperLabError(Exception):
    """An error for a person: one line, naming the field and what is allowed."""

    exit_code = 2


class SpecError(PaperLabError, ValueError):
    """Invalid input: ``field: what is allowed (got ...)``."""


class UsageError(SpecError):
    """Bad command-line words (unknown flag, missing argument)."""


class NotFound(PaperLabError, ValueError):
    """No such session, strategy or file (a ``ValueError``, as frames always raised for an unknown session)."""


class Refused(PaperLabError):
    """A rule says no (the backtest gate, one session per gateway, a session not running)."""


class VenueUnavailable(PaperLabError):
    """A venue, feed or gateway cannot be reached now; trying later may work."""

    exit_code = 1


class SessionStartError(PaperLabError, RuntimeError):
    """The node did not reach RUNNING; the first line says why, the rest is the session's log tail."""

    exit_code = 1


class ControlError(PaperLabError, RuntimeError):
    """A control (pause, resume, flatten, kill, stop) could not be carried out."""

    exit_code = 1


def flat_text(value: object) -> str:
    """Any text on one line: runs of white space (newlines included) become one space."""
    return " ".join(str(value).split())


def clean_text(value: object, max_len: int) -> str:
    """Text safe to store and print: control characters (terminal escapes) removed, one line, capped."""
    spaced = "".join(" " if ch.isspace() else ch for ch in str(value))  # newlines, tabs -> spaces
    text = flat_text("".join(ch for ch in spaced if unicodedata.category(ch)[0] != "C"))
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def one_line(error: BaseException | str | None) -> str:
    """The one line a person sees for ``error``.

    A ``PaperLabError`` (or a ``ValueError``/``KeyError`` raised with a message for the
    person) is its message's first line; anything else, ``Type: first line``, so an
    unexpected error still reads as one line and says what kind it was.
    """
    if error is None:
        return "no result"
    if isinstance(error, str):
        lines = error.strip().splitlines()
        return lines[0] if lines else ""
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    else:
        text = str(error)
    lines = text.strip().splitlines()
    first = lines[0].strip() if lines else ""
    if isinstance(error, (PaperLabError, ValueError, KeyError)):
        return first or type(error).__name__
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
