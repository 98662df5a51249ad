"""The display registry: views (status card, dashboard, compare view, app) by kind.

``kernelext`` never imports ``widgets``. A UI package registers its views here
through the ``paperlab.views`` entry point group (``widgets`` does, in
pyproject.toml); the first lookup loads those entry points. Without any UI package
installed, ``get`` returns None and the magics print text instead.

Kinds and what a factory takes:

- ``status_card``: ``(runner)`` -> a displayable live status card of a session started here
- ``dashboard``: ``(session_id)`` -> a displayable dashboard of any session
- ``compare``: ``(*session_ids)`` -> a displayable comparison
- ``app``: ``(host, port, basic_auth=..., show=..., certfile=..., keyfile=..., behind_proxy=...)`` serves the
  standalone app (blocks; ``basic_auth`` is the password, never from the command line)
- ``lab``: unused by kernelext; free for UI packages
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "paperlab.views"
KINDS: tuple[str, ...] = ("status_card", "dashboard", "compare", "app")

log = logging.getLogger(__name__)
_views: dict[str, Callable[..., Any]] = {}
_loaded = False
_lock = threading.Lock()


def register(kind: str, factory: Callable[..., Any]) -> None:
    """Register (or replace) the view factory of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"view kind: {kind!r} is not known; allowed: {', '.join(KINDS)}")
    _views[kind] = factory


def _load_entry_points() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()(register)
            except Exception as e:  # noqa: BLE001  (a broken UI package must not break the kernel side)
                log.warning("views from %s not loaded: %s", ep.value, e)


def get(kind: str) -> Callable[..., Any] | None:
    """The factory registered for ``kind``, or None when no UI package provides it."""
    _load_entry_points()
    return _views.get(kind)


def show(kind: str, *args: Any, **kwargs: Any) -> Any | None:
    """Build the view of ``kind`` (None when none is registered)."""
    factory = get(kind)
    return None if factory is None else factory(*args, **kwargs)
