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
from typing import Any

# Importing Nautilus installs uvloop as the process-wide loop policy; the host's
# policy is recorded here, before any Nautilus import, and put back (kernelext.compat).
HOST_LOOP_POLICY = asyncio.get_event_loop_policy()

__all__ = ["register", "start", "start_book", "backtest", "compare", "frames"]


def __getattr__(name: str) -> Any:
    if name == "register":
        from kernelext.strategies import register

        return register
    if name == "compare":
        from kernelext.research.compare import compare

        return compare
    if name == "frames":
        return importlib.import_module("kernelext.research.frames")
    raise AttributeError(f"module 'kernelext' has no attribute {name!r}")


def start(strategy: str, instrument: str, *, params: dict[str, Any] | str | None = None,
          bar_spec: str | None = None, **options: Any):
    """Start a one-strategy paper session in the background; returns its ``SessionRunner``.

    ``options`` are ``build_spec`` keywords: feed, starting_cash, label, until, duration,
    speed, seed, max_notional_per_order, max_order_submit_rate, max_drawdown_pct.
    """
    from kernelext.session.runner import SessionRunner
    from kernelext.spec import build_spec, make_sleeve

    sleeve = make_sleeve(strategy, instrument, params=params, bar_spec=bar_spec)
    return SessionRunner(build_spec(sleeves=[sleeve], **options)).start()


def backtest(spec: Any = None, *, like: str | None = None, bars: int | None = None, **options: Any) -> str:
    """Backtest in Nautilus's BacktestEngine, recorded as a ``backtest`` session; returns its id.

    ``spec``: a ``SessionSpec``, or ``strategy=..., instrument=..., params=...`` keywords;
    ``like=SESSION`` re-runs an earlier session over exactly the bars it saw.
    """
    from kernelext import venues
    from kernelext.research.backtest import backtest as run
    from kernelext.spec import build_spec, make_sleeve

    if spec is None and like is None:
        sleeve = make_sleeve(options.pop("strategy"), options.pop("instrument"), params=options.pop("params", None),
                             bar_spec=options.pop("bar_spec", None))
        feed = venues.get(options.get("venue", venues.DEFAULT)).backtest_feed  # the venue's offline bars
        spec = build_spec(sleeves=[sleeve], feed=feed, **options)
    return run(spec, like=like, bars=bars)


def start_book(sleeves: list[dict[str, Any]] | str, **options: Any):
    """Start a book: several sleeves ``{strategy, instrument, params?, bar_spec?, name?}`` on one account."""
    from kernelext.session.runner import SessionRunner
    from kernelext.spec import build_spec, sleeves_from_json

    return SessionRunner(build_spec(sleeves=sleeves_from_json(sleeves), **options)).start()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kernelext``: registers ``%paper`` and ``%%paper``."""
    from kernelext.surfaces.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext kernelext``: stops this kernel's sessions cleanly."""
    from kernelext.surfaces.magics import unload

    unload(ipython)
