"""A session's report: one self-contained HTML file (inline CSS, PNG charts as base64, no scripts).

Status, round trips, realized P&L, max drawdown, fees and win rate (``frames.performance``), the
equity curve and the price with entries and exits (``charts``), and, for a paper session that
recorded bars, the comparison with its own ``backtest --like`` re-run and a recommendation:

- the paper run matches the backtest: ``validated; consider going live small``
- it does worse (or differs): ``diverges from the backtest; likely causes: <the comparison's reasons>``
- it does better: ``caution: short sample; keep paper trading``
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from kernelext.ledger import Ledger, queries
from kernelext.research import charts, frames
from kernelext.research.compare import CSS, HTML_PAGE, Comparison, fmt_metric, sections_html

VALIDATED = "validated; consider going live small"
DIVERGES = "diverges from the backtest; likely causes: "
CAUTION = "caution: short sample; keep paper trading"
SUMMARY: tuple[tuple[str, str], ...] = (
    ("round trips", "trades"), ("wins", "wins"), ("losses", "losses"), ("win rate", "win_rate"),
    ("realized P&L", "realized_pnl"), ("fees", "fees"), ("max drawdown", "max_drawdown"),
    ("max drawdown %", "max_drawdown_pct"), ("profit factor", "profit_factor"), ("sharpe", "sharpe"),
)
TRIP_COLUMNS = ("sleeve", "instrument", "direction", "entry_ts", "exit_ts", "qty", "entry_px", "exit_px", "fees",
                "net_pnl")
MAX_TRIP_ROWS = 200
_CSS_MORE = "img { max-width: 100%; display: block; margin: 8px 0; } .recommendation { font-size: 15px; }"


@dataclass
class Report:
    """What the report shows; ``html`` is the page, ``path`` where it was written (if it was)."""

    session_id: str
    session: dict[str, Any]
    metrics: dict[str, Any]
    round_trips: pl.DataFrame
    charts: dict[str, str]
    comparison: Comparison | None = None
    backtest_id: str | None = None
    recommendation: str | None = None
    no_comparison: str | None = None
    path: Path | None = field(default=None)
    deliveries: list[Any] = field(default_factory=list)  # notify.notifier.Delivery per URL (masked)

    @property
    def html(self) -> str:
        """The self-contained page."""
        title = html.escape(f"PaperLab report: {self.session.get('label') or ''} {self.session_id}")
        return HTML_PAGE.format(title=title, css=CSS + _CSS_MORE, body=self._repr_html_())

    def _repr_html_(self) -> str:
        return _body(self)

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path``; returns it."""
        self.path = Path(path)
        self.path.write_text(self.html, encoding="utf-8")
        return self.path


def comparable(ledger: Ledger, session_id: str) -> str | None:
    """None when the session can be compared with a backtest of its own bars, else why not."""
    row = ledger.session(session_id) or {}
    if row.get("kind") == "backtest":
        return "a backtest session: no comparison"
    if not queries.live_bar_facts(ledger, session_id)[0]:
        return "the session recorded no bars: no backtest to compare with"
    return None


def recommendation(comparison: Comparison) -> str:
    """The plain-words recommendation from the paper run's verdict against the backtest."""
    verdict = comparison.verdicts[0]
    if verdict.outcome == "matches":
        return VALIDATED
    if verdict.outcome == "better":
        return CAUTION
    return DIVERGES + "; ".join(verdict.reasons)


def build(session_id: str, *, comparison: Comparison | None = None, backtest_id: str | None = None,
          no_comparison: str | None = None, ledger: Ledger) -> Report:
    """The report of a resolved session (``comparison``: with its backtest, from ``api.compare``)."""
    perf = frames.performance(session_id, ledger=ledger)
    trips = frames.round_trips(session_id, ledger=ledger)
    closes: dict[str, tuple[list[int], list[float]]] = {}
    for bar_type, ts, close in queries.live_closes(ledger, session_id):
        closes.setdefault(bar_type, ([], []))[0].append(ts)
        closes[bar_type][1].append(close)
    session = dict(ledger.session(session_id) or {})
    session["bars"] = sum(len(ts) for ts, _ in closes.values())
    metrics = perf.row(0, named=True) if perf.height else {"trades": 0, "realized_pnl": 0.0, "fees": 0.0}
    return Report(
        session_id=session_id, session=session, metrics=metrics, round_trips=trips,
        charts={"equity": charts.equity_png(frames.equity(session_id, ledger=ledger)),
                "price": charts.price_png(closes, trips)},
        comparison=comparison, backtest_id=backtest_id, no_comparison=no_comparison,
        recommendation=recommendation(comparison) if comparison is not None else None,
    )


def default_path(home: Path, session_id: str) -> Path:
    """``<home>/reports/<session>-<UTC time>.html`` (the folder created owner-only)."""
    from kernelext.paths import private_dir

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return private_dir(Path(home) / "reports") / f"{session_id}-{stamp}.html"


# -- HTML -------------------------------------------------------------------------------------------


def _utc(ns: int | None) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ns else "-"


def _rows(pairs: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th class='k'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs)
    return f"<table class='summary'>{cells}</table>"


def _status(r: Report) -> str:
    s = r.session
    pairs = [("session", r.session_id), ("label", s.get("label") or "-"), ("kind", s.get("kind") or "-"),
             ("status", s.get("status") or "-"), ("venue", s.get("venue") or "-"), ("feed", s.get("feed") or "-"),
             ("started", _utc(s.get("started_at"))), ("ended", _utc(s.get("ended_at"))), ("bars", s["bars"])]
    if s.get("last_error"):
        pairs.append(("error", s["last_error"]))
    return _rows(pairs)


def _summary(r: Report) -> str:
    return _rows([(label, fmt_metric(key, r.metrics.get(key))) for label, key in SUMMARY])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return html.escape("-" if value is None else str(value))


def _trips(r: Report) -> str:
    if r.round_trips.is_empty():
        return "<p>No closed round trips.</p>"
    shown = r.round_trips.select(TRIP_COLUMNS).head(MAX_TRIP_ROWS)
    head = "".join(f"<th>{c}</th>" for c in TRIP_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in shown.iter_rows())
    more = (f"<p>First {MAX_TRIP_ROWS} of {r.round_trips.height} round trips.</p>"
            if r.round_trips.height > MAX_TRIP_ROWS else "")
    return f"<table class='trips'><tr>{head}</tr>{body}</table>{more}"


def _img(name: str, png: str) -> str:
    return f'<img alt="{name}" src="data:image/png;base64,{png}">'


def _comparison(r: Report) -> str:
    if r.comparison is None:
        return f"<h2>Backtest comparison</h2><p>{html.escape(r.no_comparison or 'not compared')}</p>"
    return "\n".join([
        f"<h2>Backtest comparison</h2><p>Backtest {html.escape(r.backtest_id or '')}: the same strategies over"
        " exactly the bars this session saw.</p>",
        sections_html(r.comparison),
        f"<h2>Recommendation</h2><p class='recommendation'>{html.escape(r.recommendation or '')}</p>",
    ])


def _body(r: Report) -> str:
    return "\n".join([
        f"<h1>PaperLab report: {html.escape(r.session.get('label') or '')} {html.escape(r.session_id)}</h1>",
        "<h2>Session</h2>", _status(r),
        "<h2>Performance</h2>", _summary(r),
        "<h2>Charts</h2>", _img("equity", r.charts["equity"]), _img("price", r.charts["price"]),
        "<h2>Round trips</h2>", _trips(r),
        _comparison(r),
    ])
