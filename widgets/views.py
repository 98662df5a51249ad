"""The views ``widgets`` gives kernelext's display registry (entry point ``paperlab.views``).

``kernelext.surfaces.views`` loads ``register`` through the entry point, so kernelext
never imports widgets. Views shown in a notebook load what they need themselves:
Panel's notebook extension (with Tabulator) is loaded once per kernel before the
first Panel view, so ``%paper dashboard`` works in a notebook that never called
``pn.extension()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_extension_lock = threading.Lock()
_extension_loaded = False


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def load_panel_extension() -> None:
    """Load Panel's notebook extension once, when running in a Jupyter kernel."""
    global _extension_loaded
    with _extension_lock:
        if _extension_loaded or not _in_kernel():
            return
        import panel as pn

        pn.extension("tabulator")
        _extension_loaded = True


def status_card(runner: Any) -> Any:
    """The live ipywidgets status card of a session started in this kernel."""
    from widgets.startcard import SessionCard

    return SessionCard.for_session(runner).widget


def dashboard(session_id: str) -> Any:
    """The Panel dashboard of any session."""
    from widgets.dashboard import SessionDashboard

    load_panel_extension()
    return SessionDashboard(session_id).panel()


def compare(*session_ids: str) -> Any:
    """The comparison view (metrics, assessment, HTML download)."""
    from widgets.compare_view import CompareView

    load_panel_extension()
    return CompareView(*session_ids).panel()


def app(host: str, port: int, **options: Any) -> Any:
    """Serve the standalone app (blocks)."""
    from widgets.app import serve

    return serve(host, port, **options)


def register(add: Callable[[str, Callable[..., Any]], None]) -> None:
    """Entry point: give kernelext's display registry every view of this package."""
    add("status_card", status_card)
    add("dashboard", dashboard)
    add("compare", compare)
    add("app", app)
