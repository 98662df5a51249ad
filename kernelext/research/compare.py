"""Backtest vs paper (vs live): the same metrics side by side, and why they differ.

    from kernelext.research.compare import compare
    c = compare("latest-backtest-id", "a1b2c3")   # ids, unique prefixes or "latest"
    c.table          # one row per metric, one column per run
    print(c.assessment)
    c.to_html("compare.html")   # with the runs' equity curves overlaid and each run's price with its fills

The reference run is the first one of kind ``backtest`` (else the first one given);
every other run is judged against it.

Metrics (``table`` rows; numbers as :func:`kernelext.research.frames.performance` defines them):
``trades`` (closed round trips), ``win_rate`` (0..1), ``profit_factor``,
``max_drawdown_pct``, ``max_drawdown`` (absolute), ``sharpe``, ``fees`` (all fills),
``fees_per_trade`` (fees / trades), ``avg_slippage_bps``, ``realized_pnl`` (closed
round trips, net of fees), ``fills``, ``bars`` (non-historical bars the strategies
saw) and ``bars_matching_ref`` (bars with the same bar type, ts and OHLCV as the
reference run's).

Slippage against the signal bar's close: for each fill, the last ``signal.emitted``
event of the fill's sleeve at or before the fill (ts order) names the signal bar
(its ts). That bar's close is read from the ``bars`` table (same session,
non-historical, the sleeve's instrument bar type, ts == the signal ts); when that
bar is missing, the last bar at or before the fill stands in. Then
``bps = side_sign * (fill_price - close) / close * 1e4`` (BUY +1, SELL -1), so
positive means the fill paid worse than the close. ``avg_slippage_bps`` is the
plain mean over the fills that have a signal and a bar (null when none has).
A fill with no signal of its own (e.g. a stop) is measured against the last
earlier signal of its sleeve.

Assessment rules (deterministic; each run against the reference):

- verdict ``matches``: equal trade counts and either identical fills (instrument,
  side, qty, price, fee in order) or realized P&L within ``PNL_TOL`` (0.1 %) of
  the larger gross traded notional (sum of |qty x price|) of the two runs;
  otherwise ``degrades`` / ``better`` by realized P&L net of fees (``differs``
  when the P&L is exactly equal).
- reasons, in this order, each with its numbers: fewer/more trades (any
  difference); higher/lower slippage (more than ``SLIPPAGE_TOL_BPS``); higher/lower
  fees per trade (total fees when a run has no trade; more than ``FEE_REL_TOL``
  relative); lower/higher win rate (more than ``WIN_RATE_TOL`` = 1 point);
  different data (bar counts, first/last bar ts, instruments, or common bars
  whose prices differ); a run (either one) that is still running, crashed or ended
  in error. A reason that points the other way than the verdict (e.g. lower fees
  in a run that degrades) is listed under "Other differences" instead; for a
  match the reasons are "Notes".

Charts (the HTML page; matplotlib PNGs from ``research.charts``, inline as base64 like the session
report's, so the page stays one file without scripts): the runs' equity curves overlaid in one chart
(over UTC time when their periods overlap, else over the hours since each run's start), and each
run's price (the closes of the bars it saw) with its fills, buys and sells.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from kernelext.research import charts, frames
from kernelext.session import live
from kernelext.ledger import ACTIVE_STATUSES, Ledger, queries

USAGE = "compare: give 2 or 3 sessions (backtest, paper[, live])"
PNL_TOL = 0.001  # realized P&L within 0.1 % of the gross traded notional -> "matches"
SLIPPAGE_TOL_BPS = 0.5
FEE_REL_TOL = 0.01
WIN_RATE_TOL = 0.01
_SIGN = {"BUY": 1, "SELL": -1}
METRICS: tuple[str, ...] = (
    "trades", "win_rate", "profit_factor", "max_drawdown_pct", "max_drawdown", "sharpe",
    "fees", "fees_per_trade", "avg_slippage_bps", "realized_pnl", "fills", "bars",
    "bars_matching_ref",
)
_PERF_KEYS = ("trades", "win_rate", "profit_factor", "max_drawdown_pct", "max_drawdown", "sharpe",
              "fees", "realized_pnl")
_INT_METRICS = frozenset({"trades", "fills", "bars", "bars_matching_ref"})


# -- one run --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One session's facts and metrics, read once from the ledger."""

    session_id: str
    label: str
    kind: str
    status: str
    venue: str | None
    feed: str | None
    last_error: str | None
    instruments: tuple[str, ...]
    bars: int
    first_bar_ns: int | None
    last_bar_ns: int | None
    fill_keys: tuple[tuple[Any, ...], ...]
    notional: float
    slipped_fills: int
    metrics: dict[str, float | None] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        """The last 6 characters of the id (the random part of a PaperLab id)."""
        return self.session_id[-6:]

    @property
    def name(self) -> str:
        """Column name: label, short id and kind, e.g. ``ema_cross BTC/USD 9ec912 (paper)``."""
        return f"{self.label} {self.short_id} ({self.kind})"

    @property
    def period(self) -> str:
        """``first -> last`` bar (UTC), or ``no bars recorded``."""
        if self.first_bar_ns is None:
            return "no bars recorded"
        return f"{_utc(self.first_bar_ns)} -> {_utc(self.last_bar_ns)} UTC"


def _utc(ts_ns: int | None) -> str:
    """UTC nanoseconds -> ``YYYY-MM-DD HH:MM``."""
    if ts_ns is None:
        return "-"
    return dt.datetime.fromtimestamp(ts_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _sleeve_bar_types(ledger: Ledger, sid: str, bar_types: list[str]) -> dict[str | None, str | None]:
    """sleeve -> the bar type of its instrument and bar spec (among the session's bar types)."""
    out: dict[str | None, str | None] = {}
    for row in queries.sleeves(ledger, sid):
        sleeve, instrument, spec = row["sleeve"], row["instrument"], row["bar_spec"]
        prefix = f"{instrument}-{spec}-" if spec else f"{instrument}-"
        out[sleeve] = next((b for b in bar_types if b.startswith(prefix)), None)
    return out


def _bar_type_for(sleeve: str | None, instrument: str | None, by_sleeve: dict[str | None, str | None],
                  bar_types: list[str]) -> str | None:
    """The sleeve's bar type, else one of the fill's instrument, else the only bar type."""
    if by_sleeve.get(sleeve):
        return by_sleeve[sleeve]
    found = next((b for b in bar_types if instrument and b.startswith(f"{instrument}-")), None)
    if found is None and len(bar_types) == 1:
        return bar_types[0]
    return found


def _closes(ledger: Ledger, sid: str) -> dict[str, tuple[list[int], list[float]]]:
    """bar_type -> (ts list, close list) of the session's non-historical bars, ts-sorted."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for bar_type, ts, close in queries.live_closes(ledger, sid):
        tss, cls = out.setdefault(bar_type, ([], []))
        tss.append(ts)
        cls.append(close)
    return out


def _signals(ledger: Ledger, sid: str) -> dict[str | None, list[int]]:
    """sleeve -> sorted ts of its ``signal.emitted`` events."""
    out: dict[str | None, list[int]] = {}
    for sleeve, ts in queries.signal_times(ledger, sid):
        out.setdefault(sleeve, []).append(ts)
    return out


def _signal_close(signal_ts: int, fill_ts: int, bars: tuple[list[int], list[float]]) -> float | None:
    """Close of the bar at ``signal_ts``, else of the last bar at or before ``fill_ts``."""
    tss, closes = bars
    i = bisect_right(tss, signal_ts) - 1
    if i >= 0 and tss[i] == signal_ts:
        return closes[i]
    j = bisect_right(tss, fill_ts) - 1
    return closes[j] if j >= 0 else None


def slippage_bps(ledger: Ledger, session_id: str) -> list[float]:
    """Per-fill slippage in bps against the signal bar's close (see the module docstring)."""
    closes = _closes(ledger, session_id)
    bar_types = sorted(closes)
    by_sleeve = _sleeve_bar_types(ledger, session_id, bar_types)
    signals = _signals(ledger, session_id)
    out: list[float] = []
    for sleeve, instrument, side, price, ts in queries.fill_prices(ledger, session_id):
        sign, sig = _SIGN.get((side or "").upper()), signals.get(sleeve, [])
        k = bisect_right(sig, ts) - 1
        bar_type = _bar_type_for(sleeve, instrument, by_sleeve, bar_types)
        if sign is None or price is None or k < 0 or bar_type is None:
            continue
        close = _signal_close(sig[k], ts, closes[bar_type])
        if close:
            out.append(sign * (price - close) / close * 1e4)
    return out


def _perf(sid: str, ledger: Ledger) -> dict[str, float | None]:
    """The session's performance row as a dict (zeros/nulls when it has nothing)."""
    perf = frames.performance(sid, ledger=ledger)
    if perf.is_empty():
        return {k: (0.0 if k in ("trades", "fees", "realized_pnl") else None) for k in _PERF_KEYS}
    row = perf.row(0, named=True)
    return {k: (None if row[k] is None else float(row[k])) for k in _PERF_KEYS}


def _instruments(ledger: Ledger, sid: str, bar_types: list[str]) -> tuple[str, ...]:
    """Instruments of the session's sleeves, fills and bars (bar type minus its spec)."""
    names = queries.session_instruments(ledger, sid)
    names |= {b.split("-", 1)[0] for b in bar_types}
    return tuple(sorted(names))


def load_run(ledger: Ledger, session_id: str) -> Run:
    """Read one session's facts and metrics (``session_id`` must be resolved)."""
    row = ledger.session(session_id) or {}
    n_bars, first, last, bar_types = queries.live_bar_facts(ledger, session_id)
    fills = queries.fill_keys(ledger, session_id)
    slips = slippage_bps(ledger, session_id)
    metrics = _perf(session_id, ledger)
    trades = metrics["trades"] or 0.0
    metrics.update(
        fees_per_trade=(metrics["fees"] or 0.0) / trades if trades else None,
        avg_slippage_bps=sum(slips) / len(slips) if slips else None,
        fills=float(len(fills)),
        bars=float(n_bars),
    )
    return Run(
        session_id=session_id, label=row.get("label") or session_id, kind=row.get("kind") or "?",
        status=row.get("status") or "?", venue=row.get("venue"), feed=row.get("feed"),
        last_error=row.get("last_error"), instruments=_instruments(ledger, session_id, bar_types),
        bars=n_bars, first_bar_ns=first, last_bar_ns=last, fill_keys=tuple(fills),
        notional=sum(abs((q or 0.0) * (p or 0.0)) for _, _, q, p, _ in fills),
        slipped_fills=len(slips), metrics=metrics,
    )


@dataclass(frozen=True)
class RunSeries:
    """What a run's charts draw: its equity curve, the closes of its bars, its fills."""

    equity: pl.DataFrame
    closes: dict[str, tuple[list[int], list[float]]]
    fills: pl.DataFrame


def load_series(ledger: Ledger, session_id: str) -> RunSeries:
    """Read one session's chart series (``session_id`` must be resolved)."""
    return RunSeries(frames.equity(session_id, ledger=ledger), _closes(ledger, session_id),
                     frames.fills(session_id, ledger=ledger))


# -- assessment -------------------------------------------------------------------------------
Reason = tuple[str, int]  # (words, direction: -1 hurts the run, +1 helps it, 0 neutral)


@dataclass(frozen=True)
class Verdict:
    """One run judged against the reference: headline, reasons, then other differences."""

    run: Run
    outcome: str  # "matches" | "degrades" | "better" | "differs"
    headline: str
    reasons: tuple[str, ...]
    others: tuple[str, ...] = ()

    @property
    def reasons_title(self) -> str:
        """``Notes`` for a match, ``Likely reasons`` otherwise."""
        return "Notes" if self.outcome == "matches" else "Likely reasons"

    def sections(self) -> list[tuple[str, tuple[str, ...]]]:
        """The non-empty (title, lines) sections after the headline."""
        found = [(self.reasons_title, self.reasons), ("Other differences", self.others)]
        return [(title, lines) for title, lines in found if lines]

    def text(self) -> str:
        """Headline, then each section's title and one ``- line`` per item."""
        out = [self.headline]
        for title, lines in self.sections():
            out += [f"{title}:", *(f"- {x}" for x in lines)]
        return "\n".join(out)


def _money(x: float | None) -> str:
    """``1,234.56`` (``-`` for null)."""
    return "-" if x is None else f"{x:,.2f}"


def _same_fills(a: Run, b: Run) -> bool:
    """Same fills in order: instrument, side, and qty/price/fee within 1e-9 relative."""
    if len(a.fill_keys) != len(b.fill_keys):
        return False
    for (ia, sa, *na), (ib, sb, *nb) in zip(a.fill_keys, b.fill_keys, strict=True):
        if ia != ib or sa != sb:
            return False
        if not all(math.isclose(x or 0.0, y or 0.0, rel_tol=1e-9, abs_tol=1e-12) for x, y in zip(na, nb, strict=True)):
            return False
    return True


def _outcome(ref: Run, run: Run) -> str:
    """matches / degrades / better / differs (see the module docstring)."""
    pnl_ref, pnl = ref.metrics["realized_pnl"] or 0.0, run.metrics["realized_pnl"] or 0.0
    if ref.metrics["trades"] == run.metrics["trades"]:
        tol = PNL_TOL * max(ref.notional, run.notional)
        if _same_fills(ref, run) or abs(pnl - pnl_ref) <= tol:
            return "matches"
    if pnl < pnl_ref:
        return "degrades"
    return "better" if pnl > pnl_ref else "differs"


def _ref_words(ref: Run) -> str:
    """``the backtest`` or ``the reference paper run <id>``."""
    return "the backtest" if ref.kind == "backtest" else f"the reference {ref.kind} run {ref.short_id}"


def _headline(ref: Run, run: Run, outcome: str) -> str:
    """``<kind> run <name> degrades vs the backtest: realized P&L ... vs ...``."""
    verb = {"matches": "matches", "degrades": "degrades vs", "better": "is better than",
            "differs": "differs from"}[outcome]
    pnl_ref, pnl = run_pnl(ref), run_pnl(run)
    return (f"{run.kind} run {run.label} {run.short_id} {verb} {_ref_words(ref)}: realized P&L net of fees "
            f"{_money(pnl)} vs {_money(pnl_ref)} ({pnl - pnl_ref:+,.2f}), trades {int(run.metrics['trades'] or 0)}"
            f" vs {int(ref.metrics['trades'] or 0)}.")


def run_pnl(run: Run) -> float:
    """Realized P&L net of fees (0 when none)."""
    return run.metrics["realized_pnl"] or 0.0


def _trades_reason(ref: Run, run: Run) -> Reason | None:
    """fewer/more trades, with both counts (and fills)."""
    a, b = int(run.metrics["trades"] or 0), int(ref.metrics["trades"] or 0)
    if a == b:
        return None
    word = "fewer" if a < b else "more"
    return f"{word} trades: {a} vs {b} ({len(run.fill_keys)} fills vs {len(ref.fill_keys)})", 0


def _slippage_reason(ref: Run, run: Run) -> Reason | None:
    """higher/lower average slippage against the signal bar's close, in bps."""
    a, b = run.metrics["avg_slippage_bps"], ref.metrics["avg_slippage_bps"]
    if a is None and b is None:
        return None
    if a is None or b is None:
        missing = run if a is None else ref
        return f"slippage unknown for {missing.kind} run {missing.short_id}: no fill follows a recorded signal", 0
    if abs(a - b) <= SLIPPAGE_TOL_BPS:
        return None
    word = "higher" if a > b else "lower"
    return (f"{word} slippage: {a:.1f} bps vs {b:.1f} bps on average against the signal bar's close"
            f" ({run.slipped_fills} vs {ref.slipped_fills} fills measured)"), (-1 if a > b else 1)


def _fees_reason(ref: Run, run: Run) -> Reason | None:
    """higher/lower fees per trade (total fees when a run has no trade)."""
    a, b = run.metrics["fees_per_trade"], ref.metrics["fees_per_trade"]
    fa, fb = run.metrics["fees"] or 0.0, ref.metrics["fees"] or 0.0
    per_trade = a is not None and b is not None
    x, y = (a, b) if per_trade else (fa, fb)
    if abs(x - y) <= FEE_REL_TOL * max(abs(x), abs(y)) or abs(x - y) < 1e-9:
        return None
    word, sign = ("higher", -1) if x > y else ("lower", 1)
    if per_trade:
        return f"{word} fees: {x:,.2f} per trade vs {y:,.2f} (total {fa:,.2f} vs {fb:,.2f})", sign
    return f"{word} fees: {fa:,.2f} vs {fb:,.2f} in total", sign


def _win_rate_reason(ref: Run, run: Run) -> Reason | None:
    """lower/higher win rate, in percent."""
    a, b = run.metrics["win_rate"], ref.metrics["win_rate"]
    if a is None or b is None or abs(a - b) <= WIN_RATE_TOL:
        return None
    word = "lower" if a < b else "higher"
    return f"{word} win rate: {a * 100:.1f}% vs {b * 100:.1f}%", (-1 if a < b else 1)


def _data_reason(ref: Run, run: Run, common: tuple[int, int]) -> Reason | None:
    """different data: bar counts, period, instruments, or common bars with other prices."""
    if not run.bars and not ref.bars:
        return None
    if not run.bars or not ref.bars:
        missing = run if not run.bars else ref
        return f"data cannot be compared: no bars recorded for {missing.kind} run {missing.short_id}", 0
    parts = []
    if run.bars != ref.bars:
        parts.append(f"{run.bars} bars vs {ref.bars}")
    if (run.first_bar_ns, run.last_bar_ns) != (ref.first_bar_ns, ref.last_bar_ns):
        parts.append(f"period {run.period} vs {ref.period}")
    if run.instruments != ref.instruments:
        parts.append(f"instruments {', '.join(run.instruments)} vs {', '.join(ref.instruments)}")
    n, same = common
    if same < n:
        parts.append(f"only {same} of {n} bars at the same times have the same prices")
    if not parts:
        return None
    return "different data: " + "; ".join(parts), 0


def _status_reason(run: Run) -> Reason | None:
    """A run that is still running, crashed or ended in error."""
    if run.status in ACTIVE_STATUSES:
        return f"{run.kind} run {run.short_id} is still {run.status}: its numbers are not final", 0
    if run.status in ("crashed", "error"):
        why = f" ({run.last_error})" if run.last_error else ""
        word = "crashed" if run.status == "crashed" else "ended with an error"
        return f"{run.kind} run {run.short_id} {word}{why}: it may have stopped early", 0
    return None


def judge(ref: Run, run: Run, common: tuple[int, int]) -> Verdict:
    """The verdict on ``run`` against ``ref`` (see the module docstring)."""
    outcome = _outcome(ref, run)
    found = [
        _trades_reason(ref, run), _slippage_reason(ref, run), _fees_reason(ref, run),
        _win_rate_reason(ref, run), _data_reason(ref, run, common),
        _status_reason(ref), _status_reason(run),
    ]
    against = {"degrades": 1, "better": -1}.get(outcome, 0)  # the direction that cannot explain it
    reasons = tuple(words for words, d in filter(None, found) if not against or d != against)
    others = tuple(words for words, d in filter(None, found) if against and d == against)
    if outcome != "matches" and not reasons:
        reasons = ("no single cause found in the recorded trades, slippage, fees, win rate, data or status",)
    return Verdict(run, outcome, _headline(ref, run, outcome), reasons, others)


# -- the comparison ---------------------------------------------------------------------------
class Comparison:
    """2 or 3 runs side by side; ``runs[reference]`` is the one the others are judged against."""

    def __init__(self, runs: list[Run], common: list[tuple[int, int]], series: list[RunSeries] | None = None) -> None:
        """``common[i]`` = (common bars, identical bars) of run i with the reference; ``series[i]``: what
        run i's charts draw (None: a page without charts)."""
        self.runs = runs
        self.series = series
        self.reference = next((i for i, r in enumerate(runs) if r.kind == "backtest"), 0)
        self.common = common
        ref = runs[self.reference]
        self.verdicts = [judge(ref, r, common[i]) for i, r in enumerate(runs) if i != self.reference]

    @property
    def columns(self) -> list[str]:
        """One unique column name per run."""
        out: list[str] = []
        for r in self.runs:
            name = r.name
            out.append(name if name not in out else f"{name} #{len(out) + 1}")
        return out

    def value(self, i: int, metric: str) -> float | None:
        """Run ``i``'s value of ``metric``."""
        if metric == "bars_matching_ref":
            return float(self.common[i][1])
        return self.runs[i].metrics.get(metric)

    @property
    def table(self) -> pl.DataFrame:
        """One row per metric, one Float64 column per run (plus ``metric``)."""
        data: dict[str, Any] = {"metric": list(METRICS)}
        for i, col in enumerate(self.columns):
            data[col] = pl.Series(col, [self.value(i, m) for m in METRICS], dtype=pl.Float64)
        return pl.DataFrame(data)

    @cached_property
    def charts(self) -> dict[str, Any] | None:
        """``{"equity": PNG, "prices": [PNG per run]}`` (base64 text), drawn once; None without series."""
        if self.series is None:
            return None
        names = self.columns
        return {
            "equity": charts.equity_overlay_png({n: s.equity for n, s in zip(names, self.series, strict=True)}),
            "prices": [charts.fills_price_png(s.closes, s.fills, title=f"Price and fills: {n}",
                                              color=charts.RUN_COLORS[i % len(charts.RUN_COLORS)])
                       for i, (n, s) in enumerate(zip(names, self.series, strict=True))],
        }

    @property
    def assessment(self) -> str:
        """Plain words: one verdict per run against the reference, with reasons and numbers."""
        return "\n\n".join(v.text() for v in self.verdicts)

    def __repr__(self) -> str:
        return f"Comparison({', '.join(self.columns)})\n{self.assessment}"

    def _repr_html_(self) -> str:
        return _html_body(self)

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page (inline CSS, no scripts); written to ``path`` when given."""
        page = HTML_PAGE.format(title=html.escape(_title(self)), css=CSS, body=_html_body(self))
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page


def compare(*session_ids: str, ledger: Ledger | None = None) -> Comparison:
    """Compare 2 or 3 sessions (ids, unique prefixes or "latest"), typically backtest, paper[, live]."""
    if not 2 <= len(session_ids) <= 3:
        raise ValueError(USAGE)
    led = ledger if ledger is not None else Ledger()
    try:
        sids = [led.resolve_session(s) for s in session_ids]
        led.mark_crashed(live_ids=live.ids())
        runs = [load_run(led, s) for s in sids]
        ref = next((s for s, r in zip(sids, runs, strict=True) if r.kind == "backtest"), sids[0])
        common = [queries.common_bars(led, ref, s) for s in sids]
        series = [load_series(led, s) for s in sids]
    finally:
        if ledger is None:
            led.close()
    return Comparison(runs, common, series)


# -- HTML -------------------------------------------------------------------------------------
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #1b1f24; }
h1 { font-size: 20px; margin: 0 0 12px; } h2 { font-size: 16px; margin: 20px 0 8px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: right; }
th { background: #f6f8fa; } td.k, th.k { text-align: left; font-family: ui-monospace, monospace; }
.verdict { margin: 8px 0 14px; padding: 8px 12px; border-left: 4px solid #8c959f; background: #f6f8fa; }
.matches { border-color: #1a7f37; } .degrades { border-color: #cf222e; } .better { border-color: #0969da; }
.verdict p { margin: 0 0 4px; font-weight: 600; } .verdict ul { margin: 4px 0 0 18px; padding: 0; }
footer { margin-top: 20px; font-size: 12px; color: #57606a; }
figure.chart { margin: 8px 0 16px; } figure.chart img { max-width: 100%; display: block; }
figure.chart figcaption { font-size: 12px; color: #57606a; }
"""
HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{css}</style></head>
<body>
{body}
</body></html>
"""


_FOOTER = (
    "<footer>realized_pnl: closed round trips net of fees. avg_slippage_bps: fill price vs the close of the"
    " signal bar (positive = worse than the close). bars: non-historical bars the strategies saw;"
    " bars_matching_ref: bars identical to the reference run's at the same bar type and time.</footer>"
)


def _title(c: Comparison) -> str:
    """``PaperLab comparison: a vs b``."""
    return "PaperLab comparison: " + " vs ".join(c.columns)


def fmt_metric(metric: str, value: float | None) -> str:
    """A metric value for display."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if metric in _INT_METRICS:
        return f"{int(value):,}"
    if metric == "win_rate":
        return f"{value * 100:.1f}%"
    if metric in ("max_drawdown_pct",):
        return f"{value:.2f}%"
    if metric in ("avg_slippage_bps", "profit_factor", "sharpe"):
        return f"{value:.2f}"
    return f"{value:,.2f}"


def _metrics_table(c: Comparison) -> str:
    """The metric table as HTML."""
    head = "".join(f"<th>{html.escape(n)}</th>" for n in c.columns)
    rows = [f"<tr><th class='k'>metric</th>{head}</tr>"]
    for m in METRICS:
        cells = "".join(f"<td>{fmt_metric(m, c.value(i, m))}</td>" for i in range(len(c.runs)))
        rows.append(f"<tr><td class='k'>{m}</td>{cells}</tr>")
    return "<table class='metrics'>" + "".join(rows) + "</table>"


def _runs_table(c: Comparison) -> str:
    """Each run's id, kind, label, status, venue/feed and period."""
    heads = ("session", "kind", "label", "status", "venue", "feed", "period", "bars", "role")
    rows = ["<tr>" + "".join(f"<th class='k'>{h}</th>" for h in heads) + "</tr>"]
    for i, r in enumerate(c.runs):
        role = "reference" if i == c.reference else "compared"
        cells = (r.session_id, r.kind, r.label, r.status, r.venue or "-", r.feed or "-", r.period, str(r.bars), role)
        rows.append("<tr>" + "".join(f"<td class='k'>{html.escape(str(x))}</td>" for x in cells) + "</tr>")
    return "<table class='runs'>" + "".join(rows) + "</table>"


def _verdict_html(v: Verdict) -> str:
    """One verdict as a block with its sections."""
    parts = [f"<p>{html.escape(v.headline)}</p>"]
    for title, lines in v.sections():
        items = "".join(f"<li>{html.escape(x)}</li>" for x in lines)
        parts.append(f"<div>{title}:</div><ul>{items}</ul>")
    return f"<div class='verdict {v.outcome}'>{''.join(parts)}</div>"


def _html_body(c: Comparison) -> str:
    """Heading, then ``sections_html`` with the charts."""
    return f"<h1>{html.escape(_title(c))}</h1>\n" + sections_html(c, with_charts=True)


def _figure(kind: str, png: str, words: str) -> str:
    alt = html.escape(words, quote=True)
    return (f'<figure class="chart {kind}"><img alt="{alt}" src="data:image/png;base64,{png}">'
            f"<figcaption>{html.escape(words)}</figcaption></figure>")


def charts_html(c: Comparison) -> str:
    """The charts section: the equity curves overlaid, then each run's price with its fills ('' without)."""
    drawn = c.charts
    if drawn is None:
        return ""
    parts = ["<h2>Charts</h2>", _figure("equity", drawn["equity"], "Equity curves: " + " vs ".join(c.columns))]
    for name, run, png in zip(c.columns, c.runs, drawn["prices"], strict=True):
        parts.append(_figure("price", png, f"Price and fills: {name} ({len(run.fill_keys)} fills)"))
    return "\n".join(parts)


def sections_html(c: Comparison, *, with_charts: bool = False) -> str:
    """Assessment, metrics, (``with_charts``: the charts,) runs and the definitions used (no heading: a
    report embeds them)."""
    return "\n".join([
        "<h2>Assessment</h2>", *(_verdict_html(v) for v in c.verdicts),
        "<h2>Metrics</h2>", _metrics_table(c),
        *([charts_html(c)] if with_charts else []),
        "<h2>Runs</h2>", _runs_table(c),
        _FOOTER,
    ])
