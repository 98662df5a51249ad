"""Nautilus's per-trade statistics, switched off where nothing reads them.

Nautilus's ``Portfolio`` hands every closed trade's P&L to its ``PortfolioAnalyzer``, which
appends it by concatenating a pandas series: each trade costs more than the last, and a
400,000-bar replay spent 10 % of its time there by the end (py-spy). PaperLab's statistics
come from Polars over the ledger (``kernelext.research``), so sessions and recorded
backtests skip the recording; Nautilus's own analyzer is otherwise untouched.
"""

from __future__ import annotations

from typing import Any


def _ignore(*args: Any, **kwargs: Any) -> None:
    """Nothing reads the analyzer's trade P&L."""


def skip_trade_recording(portfolio: Any) -> None:
    """Stop ``portfolio``'s analyzer recording each trade's P&L."""
    portfolio.analyzer.record_trade = _ignore
