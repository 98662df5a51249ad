"""PaperLab's kernel side: paper sessions on NautilusTrader inside a Jupyter kernel.

    import kernelext
    s = kernelext.start("ema_cross", "BTC/USD", params={"fast": 10, "slow": 30}, duration="5m")
    s.status(); s.pause(); s.resume(); s.flatten(); s.kill()
    kernelext.research.frames.fills(s.session_id)

Imports are lazy: ``import kernelext`` (or ``kernelext.ledger``) does not load Nautilus.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any

# Importing Nautilus installs uvloop as the process-wide loop policy; the host's
# policy is recorded here, before any Nautilus import, and put back (kernelext.compat).
HOST_LOOP_POLICY = asyncio.get_event_loop_policy()

__all__ = ["register", "start", "start_book", "attach", "backtest", "compare", "frames", "gateway_status", "gateway_health"]


def __getattr__(name: str) -> Any:
    if name == "register":
        from kernelext.strategies import register

        return register
    if name == "compare":
        from kernelext.api import compare

        return compare
    if name == "frames":
        return importlib.import_module("kernelext.research.frames")
    raise AttributeError(f"module 'kernelext' has no attribute {name!r}")


def start(strategy: str, instrument: str, *, params: dict[str, Any] | str | None = None,
          bar_spec: str | None = None, **options: Any):
    """Start a one-strategy paper session in the background; returns its ``SessionRunner``.

    ``options`` are ``build_spec`` keywords: feed, starting_cash, label, until, duration,
    speed, seed, max_notional_per_order, max_order_submit_rate, max_drawdown_pct; and
    ``detach=True``: run it in a supervised process of its own, returning its session id.
    """
    from kernelext import api

    return api.start(strategy, instrument, params=params, bar_spec=bar_spec, **options)


def backtest(spec: Any = None, *, like: str | None = None, bars: int | None = None, **options: Any) -> str:
    """Backtest in Nautilus's BacktestEngine, recorded as a ``backtest`` session; returns its id.

    ``spec``: a ``SessionSpec``, or ``strategy=..., instrument=..., params=...`` keywords;
    ``like=SESSION`` re-runs an earlier session over exactly the bars it saw.
    """
    from kernelext import api, venues

    if spec is None and like is None:
        feed = venues.get(options.get("venue", venues.DEFAULT)).backtest_feed  # the venue's offline bars
        spec = api.spec(options.pop("strategy", None), options.pop("instrument", None), params=options.pop("params", None),
                        bar_spec=options.pop("bar_spec", None), feed=feed, **options)
    return api.backtest(spec, like=like, bars=bars)


def start_book(sleeves: list[dict[str, Any]] | str, **options: Any):
    """Start a book: several sleeves ``{strategy, instrument, params?, bar_spec?, name?}`` on one account."""
    from kernelext import api

    return api.start_book(sleeves, **options)


def attach(session: str | None = None) -> Any:
    """A session by id, prefix or 'latest': its runner when it runs here, else its ledger row."""
    from kernelext import api

    return api.attach(session)


def gateway_status(venue: str, *, timeout: float = 5.0) -> Any:
    """A read-only look at a venue's account at rest through its gateway (or why not); recorded as health."""
    from kernelext import api

    return api.gateway_status(venue, timeout=timeout)


def gateway_health(venue: str) -> Any:
    """The latest recorded health of a venue's gateway (None: never checked)."""
    from kernelext import api

    return api.gateway_health(venue)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kernelext``: registers ``%paper`` and ``%%paper``."""
    from kernelext.actor import set_default_surface
    from kernelext.surfaces.magics import load

    set_default_surface("notebook")  # widgets' worker threads act for the notebook too (audit rows say so)
    load(ipython)
    _one_line_errors(ipython)


def _one_line_errors(shell: Any) -> None:
    """In IPython, a ``PaperLabError`` raised by ``kernelext.*`` in a cell prints one line, not a traceback."""
    if shell is None or getattr(shell, "custom_exceptions", ()) not in ((), None):
        return  # someone else's handler is in place: leave it
    from kernelext.errors import PaperLabError, one_line

    def show(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
        print(f"paper: error: {one_line(value)}", file=sys.stderr)

    shell.set_custom_exc((PaperLabError,), show)


def _shell() -> Any:
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


_one_line_errors(_shell())


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext kernelext``: stops this kernel's sessions cleanly."""
    from kernelext.surfaces.magics import unload

    unload(ipython)
