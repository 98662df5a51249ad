"""The title and text of each notification: plain words a phone shows well, one fact a line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INFO, SUCCESS, WARNING, FAILURE = "info", "success", "warning", "failure"  # apprise's notify types


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: ``kind`` is an apprise notify type (info, success, warning, failure)."""

    title: str
    body: str
    kind: str = INFO


def _who(session_id: str, label: str | None) -> str:
    return f"session {session_id}" + (f" ({label})" if label else "")


def _money(value: Any, currency: str | None = None) -> str:
    text = f"{float(value):,.2f}" if isinstance(value, int | float) else "-"
    return f"{text} {currency}" if currency and text != "-" else text


def _pct(value: Any) -> str:
    return f"{float(value):.2f}%" if isinstance(value, int | float) else "-"


def relaunched(session_id: str, label: str | None, attempt: int, reason: str) -> Message:
    """The supervisor relaunched a session whose process died."""
    return Message(f"PaperLab: {session_id} relaunched (attempt {attempt})",
                   f"{_who(session_id, label)} relaunched, attempt {attempt}\ncause: {reason}", WARNING)


def session_error(session_id: str, label: str | None, error: str | None) -> Message:
    """A session ended in ``error`` (its own failure, or relaunched too often)."""
    return Message(f"PaperLab: {session_id} ended in error",
                   f"{_who(session_id, label)} ended in error\nerror: {error or 'unknown'}", FAILURE)


def risk_halted(session_id: str, label: str | None, message: str) -> Message:
    """A risk rule halted the session's trading (or a margin call, a liquidation)."""
    return Message(f"PaperLab: {session_id} risk halt", f"{_who(session_id, label)}: {message}", WARNING)


def fills(session_id: str, label: str | None, count: int, last: dict[str, Any], since_s: float | None) -> Message:
    """``count`` fills since the previous fills message (``since_s`` ago; None: the first)."""
    qty, px = last.get("last_qty", last.get("quantity")), last.get("last_px", last.get("price"))
    latest = f"{last.get('side', '')} {qty if qty is not None else ''} {last.get('instrument', '')} @ {px}".split()
    window = f" in the last {since_s:.0f}s" if since_s else ""
    return Message(f"PaperLab: {session_id} {count} fill{'s' if count != 1 else ''}",
                   f"{_who(session_id, label)}: {count} fill{'s' if count != 1 else ''}{window}\n"
                   f"latest: {' '.join(latest)}")


def report(session_id: str, label: str | None, figures: dict[str, Any], path: str, *, final: bool = False) -> Message:
    """A report was written; ``figures``: status, trades, realized_pnl, fees, win_rate,
    max_drawdown_pct, equity, currency, recommendation."""
    f = figures
    what = "final report" if final else "report"
    win = _pct(100.0 * f["win_rate"]) if isinstance(f.get("win_rate"), int | float) else "-"
    lines = [
        f"{_who(session_id, label)} {f.get('status') or ''}".rstrip(),
        (f"round trips {f.get('trades') or 0}, realized P&L {_money(f.get('realized_pnl'), f.get('currency'))}, "
         f"fees {_money(f.get('fees'))}, win rate {win}, max drawdown {_pct(f.get('max_drawdown_pct'))}"),
        f"equity {_money(f.get('equity'), f.get('currency'))}",
    ]
    if f.get("recommendation"):
        lines.append(f"recommendation: {f['recommendation']}")
    lines.append(f"{what}: {path}")
    return Message(f"PaperLab {what}: {session_id}", "\n".join(lines), SUCCESS if final else INFO)


def report_failed(session_id: str, label: str | None, error: str) -> Message:
    """A scheduled report could not be written."""
    return Message(f"PaperLab: {session_id} report failed", f"{_who(session_id, label)}: report failed: {error}",
                   FAILURE)
