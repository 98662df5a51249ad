"""Who acts, through which surface: every audit row names both.

Surfaces set it around what they do (``with acting_as("cli")``; the HTTP API with the token's
name, the app with its login); plain Python calls are ``python`` by the OS user.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """A person (or token) and the surface they act through."""

    name: str
    surface: str

    def __str__(self) -> str:
        return f"{self.name} via {self.surface}"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's uid)
        return "unknown"


_current: ContextVar[Actor | None] = ContextVar("paperlab_actor", default=None)
_default_surface = "python"


def current() -> Actor:
    """The actor of this thread or task (the OS user through the process's default surface, ``python``
    unless the process said otherwise, when no surface said)."""
    return _current.get() or Actor(_os_user(), _default_surface)


def set_default_surface(surface: str) -> None:
    """The surface of this whole process where no block says (``app`` for ``paperlab serve``, ``notebook``
    in a kernel with the extension loaded): worker threads do not inherit context variables."""
    global _default_surface
    _default_surface = surface


@contextmanager
def acting_as(surface: str, name: str | None = None) -> Iterator[Actor]:
    """Act as ``name`` (default: the OS user) through ``surface`` inside the block."""
    actor = Actor(name or _os_user(), surface)
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)

