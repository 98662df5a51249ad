"""Fill -> screen, observed in the page: what the app and the notebook benchmarks share.

``WS_JS`` (installed before the page loads) stamps every websocket frame that carries fills-table
data (the Fills table is the only one with a ``trade_id`` column; text frames, and binary ones as
Jupyter's kernel protocol sends them, decoded). ``WATCH_JS`` (installed once the Fills table is
shown) records ``Date.now()`` whenever the rendered rows of the Fills table change, with the cells
of every rendered row; a fill is matched to the first observation whose rows hold its
``client_order_id`` and ``trade_id`` (Tabulator reuses row elements and renders only the visible
rows, so neither a row count nor the k-th change is reliable). ``LedgerWatch`` polls the ledger
every few milliseconds for the ledger-only part (fill ts -> row committed and readable). Everything
is timed with one machine clock; at speed 1 a fill's ``ts`` (market time) is wall time.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from kernelext.ledger import Ledger

GOAL_P95_MS = 250  # the goal: fill -> screen p95
LEDGER_POLL_S = 0.005

# Every 10 ms, the cells of the rendered Fills rows; one observation {t, rows} per change.
# Panel renders in shadow roots, hence the deep search.
WATCH_JS = """
() => {
  if (window.__fillWatch) return true;
  const deepAll = (root, sel, out) => {
    root.querySelectorAll(sel).forEach((e) => out.push(e));
    root.querySelectorAll('*').forEach((e) => { if (e.shadowRoot) deepAll(e.shadowRoot, sel, out); });
    return out;
  };
  let table = null;
  const findTable = () => {
    if (table && table.isConnected) return table;
    const hosts = deepAll(document, '.paperlab-fills', []);
    for (const h of hosts) {
      const t = deepAll(h.shadowRoot || h, '.tabulator', [])[0] || (h.classList.contains('tabulator') ? h : null);
      if (t) { table = t; return t; }
    }
    return null;
  };
  window.__fillSeen = [];
  let last = null;
  const tick = () => {
    const t = findTable();
    if (!t) return;
    const rows = Array.from(t.querySelectorAll('.tabulator-row')).map(
      (r) => Array.from(r.querySelectorAll('.tabulator-cell')).map((c) => c.textContent.trim()));
    const sig = JSON.stringify(rows);
    if (sig !== last) { last = sig; window.__fillSeen.push({t: Date.now(), rows}); }
  };
  tick();
  window.__fillWatch = setInterval(tick, 10);
  return true;
}
"""

# The arrival time of every websocket frame that carries fills-table data.
WS_JS = """
(() => {
  window.__wsSeen = [];
  const decoder = new TextDecoder();
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        const t = Date.now();
        let data = ev.data;
        if (data instanceof ArrayBuffer) data = decoder.decode(data);
        if (typeof data === 'string' && data.includes('trade_id')) window.__wsSeen.push({t, data});
      });
    }
  };
})();
"""


def observe(page: Any, measure_s: float, settle_s: float, first_fill_timeout_ms: int = 60_000
            ) -> tuple[int, int, list[dict[str, Any]], list[dict[str, Any]]]:
    """Watch the page's Fills table (``WATCH_JS``) from its first fill for ``measure_s``, then
    ``settle_s`` more; returns the window (ns) and what the page saw: row changes and frames."""
    assert page.evaluate(WATCH_JS)
    page.wait_for_function("() => window.__fillSeen.length > 0", timeout=first_fill_timeout_ms)
    t0_ns = time.time_ns()
    time.sleep(measure_s)
    t1_ns = time.time_ns()
    time.sleep(settle_s)
    return t0_ns, t1_ns, page.evaluate("() => window.__fillSeen"), page.evaluate("() => window.__wsSeen")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> str:
    """``p50=.. p95=.. max=.. n=..`` in ms."""
    if not values:
        return "p50=nan p95=nan max=nan n=0"
    return (f"p50={statistics.median(values):.0f} p95={pct(values, 95):.0f} "
            f"max={max(values):.0f} n={len(values)}")


def goal(values: list[float]) -> str:
    """``goal p95 <= 250, p95/goal=0.62`` (below 1: the goal is met)."""
    ratio = f"{pct(values, 95) / GOAL_P95_MS:.2f}" if values else "nan"
    return f"goal p95 <= {GOAL_P95_MS}, p95/goal={ratio}"


def running_session(ledger: Ledger, timeout: float = 60) -> str:
    """The id of the (only) session, once it runs."""
    deadline = time.monotonic() + timeout
    while True:
        rows = ledger.query("SELECT id, status FROM sessions ORDER BY started_at DESC")
        if rows and rows[0][1] == "running":
            return rows[0][0]
        assert time.monotonic() < deadline, f"no running session (sessions: {rows})"
        time.sleep(0.1)


class LedgerWatch:
    """A thread that records when each fill of a session becomes readable in the ledger."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.seen: dict[tuple[str, str], int] = {}  # (client_order_id, trade_id) -> time.time_ns()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-ledger-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ledger = Ledger()
        try:
            while not self._stop.is_set():
                rows = ledger.query("SELECT client_order_id, trade_id FROM fills WHERE session_id = ?",
                                    (self.session_id,))
                now = time.time_ns()
                for key in rows:
                    self.seen.setdefault(tuple(key), now)
                time.sleep(LEDGER_POLL_S)
        finally:
            ledger.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Split:
    """Per fill of the window (ms): fill -> screen and its parts."""

    screen: list[float] = field(default_factory=list)  # fill ts -> row on screen
    ledger: list[float] = field(default_factory=list)  # fill ts -> row readable in SQLite
    tail: list[float] = field(default_factory=list)  # row readable -> row on screen
    server: list[float] = field(default_factory=list)  # row readable -> its websocket frame in the page
    client: list[float] = field(default_factory=list)  # websocket frame -> row on screen
    wire: list[float] = field(default_factory=list)  # fill ts -> its websocket frame in the page
    in_window: int = 0
    missing: int = 0
    doubled: int = 0  # rows the page showed twice at once (a fill must show once)


def split(fills: pl.DataFrame, t0_ns: int, t1_ns: int, seen: list[dict[str, Any]], frames_in: list[dict[str, Any]],
          committed: dict[tuple[str, str], int]) -> Split:
    """Match the fills with ``t0_ns <= ts <= t1_ns`` to the page's observations (``seen``: WATCH_JS's,
    the first one being what was on screen already), its websocket frames and the ledger's times."""
    out = Split()
    shown_first = seen[0]["rows"] if seen else []
    out.doubled = max((len(o["rows"]) - len({tuple(r) for r in o["rows"]}) for o in seen), default=0)
    window = fills.filter((fills["ts_ns"] >= t0_ns) & (fills["ts_ns"] <= t1_ns))
    out.in_window = window.height
    for f in window.iter_rows(named=True):
        coid, tid = f["client_order_id"], f["trade_id"]
        if any(coid in r and tid in r for r in shown_first):
            continue
        appeared = next((o["t"] for o in seen if any(coid in r and tid in r for r in o["rows"])), None)
        if appeared is None:
            out.missing += 1
            continue
        out.screen.append(appeared - f["ts_ns"] / 1e6)
        stored = committed.get((coid, tid))
        if stored is not None:
            out.ledger.append((stored - f["ts_ns"]) / 1e6)
            out.tail.append(appeared - stored / 1e6)
        sent = next((m["t"] for m in frames_in if coid in m["data"] and tid in m["data"]), None)
        if sent is not None:
            out.client.append(appeared - sent)
            out.wire.append(sent - f["ts_ns"] / 1e6)
            if stored is not None:
                out.server.append(sent - stored / 1e6)
    return out
