"""Frames: schemas, round trips (partial closes, flips), performance numbers worked out by hand."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from kernelext import frames
from kernelext.events import Event
from kernelext.ledger import Ledger, LedgerWriter

REPO = Path(__file__).resolve().parents[1]
MIN = 60_000_000_000  # one minute in ns
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
UTC_NS = pl.Datetime("ns", "UTC")


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """A ledger under an isolated PAPERLAB_HOME."""
    monkeypatch.setenv("PAPERLAB_HOME", str(tmp_path))
    led = Ledger()
    yield led
    led.close()


def new_session(led: Ledger, sid: str, started_at: int = T0) -> None:
    """Sleeves a -> ema_cross, b -> rsi_rules."""
    led.create_session(
        sid, label=sid, kind="paper", venue="sandbox", feed="replay", spec={},
        started_at=started_at, status="running",
        sleeves=[
            {"sleeve": "a", "strategy_key": "ema_cross", "instrument": "BTC", "bar_spec": "1m",
             "params": {}, "strategy_id": "S-a"},
            {"sleeve": "b", "strategy_key": "rsi_rules", "instrument": "ETH", "bar_spec": "1m",
             "params": {}, "strategy_id": "S-b"},
        ],
    )


class Fills:
    """Builds order.filled events with unique ids."""

    def __init__(self, sid: str) -> None:
        self.sid, self.n = sid, 0

    def __call__(self, sleeve: str, instrument: str, side: str, qty: float, px: float,
                 fee: float, minute: float) -> Event:
        self.n += 1
        return Event(self.sid, sleeve, "order.filled", "filled", T0 + int(minute * MIN), {
            "client_order_id": f"O-{self.n}", "instrument": instrument, "side": side,
            "order_type": "MARKET", "quantity": qty, "price": None, "status": "FILLED",
            "strategy_id": f"S-{sleeve}", "trade_id": f"T-{self.n}", "venue_order_id": f"V-{self.n}",
            "position_id": f"{instrument}-S-{sleeve}", "last_qty": qty, "last_px": px,
            "commission": fee, "commission_currency": "USD", "liquidity": "TAKER",
        })


def equity_events(sid: str, points: list[tuple[int, float]]) -> list[Event]:
    """equity.update at (minute, equity) points."""
    return [
        Event(sid, None, "equity.update", "equity", T0 + m * MIN, {
            "equity": e, "balance": e, "available": e, "unrealized_pnl": 0.0,
            "realized_pnl": 0.0, "exposure": 0.0, "currency": "USD"})
        for m, e in points
    ]


# -- round trips -------------------------------------------------------------------
@pytest.fixture
def trips_ledger(ledger: Ledger) -> Ledger:
    """Partial closes, a flip through zero, two instruments interleaved, one open trip."""
    new_session(ledger, "rt-1")
    f = Fills("rt-1")
    ledger.write_events([
        f("a", "BTC", "BUY", 1.0, 100.0, 0.10, 1),
        f("a", "BTC", "BUY", 1.0, 110.0, 0.10, 2),    # long 2 @ VWAP 105
        f("a", "ETH", "SELL", 2.0, 10.0, 0.02, 2.5),  # ETH short opens
        f("a", "BTC", "SELL", 0.5, 120.0, 0.06, 3),   # partial close, 1.5 left
        f("a", "BTC", "SELL", 2.5, 130.0, 0.25, 4),   # closes 1.5 (fee 0.15), opens short 1.0 (fee 0.10)
        f("a", "BTC", "BUY", 0.4, 125.0, 0.04, 5),    # partial cover, short 0.6 left
        f("a", "ETH", "BUY", 2.0, 9.0, 0.02, 5.5),    # ETH short closes
        f("a", "BTC", "BUY", 0.6, 140.0, 0.06, 6),    # short closes exactly
        f("b", "BTC", "BUY", 1.0, 100.0, 0.10, 7),    # open trip: excluded
    ])
    return ledger


def test_round_trips_by_hand(trips_ledger: Ledger) -> None:
    rt = frames.round_trips("rt-1", trips_ledger)
    assert rt.height == 3
    assert rt["direction"].to_list() == ["LONG", "SHORT", "SHORT"]
    assert rt["instrument"].to_list() == ["BTC", "ETH", "BTC"]
    assert rt["strategy"].to_list() == ["ema_cross"] * 3
    long_, eth, short = rt.row(0, named=True), rt.row(1, named=True), rt.row(2, named=True)

    # LONG BTC: in 1 @ 100 + 1 @ 110 -> 105; out 0.5 @ 120 + 1.5 @ 130 -> 127.5
    assert long_["qty"] == pytest.approx(2.0)
    assert long_["entry_px"] == pytest.approx(105.0)
    assert long_["exit_px"] == pytest.approx(127.5)
    assert long_["gross_pnl"] == pytest.approx(45.0)  # (127.5 - 105) * 2
    assert long_["fees"] == pytest.approx(0.41)  # 0.10 + 0.10 + 0.06 + 0.25 * 1.5 / 2.5
    assert long_["net_pnl"] == pytest.approx(44.59)
    assert long_["return_pct"] == pytest.approx(44.59 / 210.0 * 100)
    assert long_["entry_ts_ns"] == T0 + MIN and long_["exit_ts_ns"] == T0 + 4 * MIN
    assert long_["fills"] == 4

    # ETH SHORT: 2 @ 10 -> 2 @ 9
    assert (eth["gross_pnl"], eth["fees"], eth["net_pnl"]) == pytest.approx((2.0, 0.04, 1.96))

    # SHORT BTC opened by the flip: 1 @ 130; covered 0.4 @ 125 + 0.6 @ 140 -> 134
    assert short["qty"] == pytest.approx(1.0)
    assert short["entry_px"] == pytest.approx(130.0)
    assert short["exit_px"] == pytest.approx(134.0)
    assert short["gross_pnl"] == pytest.approx(-4.0)
    assert short["fees"] == pytest.approx(0.20)  # 0.25 * 1.0 / 2.5 + 0.04 + 0.06
    assert short["net_pnl"] == pytest.approx(-4.20)
    assert short["return_pct"] == pytest.approx(-4.20 / 130.0 * 100)
    assert short["entry_ts_ns"] == T0 + 4 * MIN and short["exit_ts_ns"] == T0 + 6 * MIN

    assert rt.schema["entry_ts"] == UTC_NS and rt.schema["exit_ts"] == UTC_NS
    assert rt["duration"].to_list()[0].total_seconds() == 180


def test_round_trip_fee_split_conserves_fees(trips_ledger: Ledger) -> None:
    rt = frames.round_trips("rt-1", trips_ledger)
    all_fees = frames.fills("rt-1", trips_ledger)["fee"].sum()
    assert rt["fees"].sum() + 0.10 == pytest.approx(all_fees)  # + the open trip's entry fee


def test_round_trips_netting_tolerates_float_residue(ledger: Ledger) -> None:
    new_session(ledger, "fp")
    f = Fills("fp")
    ledger.write_events([f("a", "BTC", "BUY", 0.1, 100.0, 0.0, 1), f("a", "BTC", "BUY", 0.2, 100.0, 0.0, 2),
                         f("a", "BTC", "SELL", 0.3, 101.0, 0.0, 3)])  # 0.1 + 0.2 != 0.3 in floats
    rt = frames.round_trips("fp", ledger)
    assert rt.height == 1 and rt["gross_pnl"][0] == pytest.approx(0.3)


# -- performance ---------------------------------------------------------------------
@pytest.fixture
def perf_ledger(ledger: Ledger) -> Ledger:
    """Four closed trips (+10, -4, +6 in sleeve a; -2 in sleeve b), one open, an equity curve."""
    new_session(ledger, "perf-1")
    f = Fills("perf-1")
    ledger.write_events([
        f("a", "BTC", "BUY", 1.0, 100.0, 1.0, 1), f("a", "BTC", "SELL", 1.0, 112.0, 1.0, 2),  # net +10
        f("b", "ETH", "SELL", 1.0, 20.0, 0.0, 2), f("b", "ETH", "BUY", 1.0, 22.0, 0.0, 3),    # net -2
        f("a", "BTC", "BUY", 1.0, 100.0, 0.5, 3), f("a", "BTC", "SELL", 1.0, 97.0, 0.5, 4),   # net -4
        f("a", "BTC", "BUY", 2.0, 50.0, 0.5, 5), f("a", "BTC", "SELL", 2.0, 53.5, 0.5, 6),    # net +6
        f("b", "ETH", "BUY", 1.0, 30.0, 0.25, 7),                                            # open
        *equity_events("perf-1", [(0, 1000.0), (1, 1010.0), (2, 1006.0), (4, 1012.0), (5, 1010.0)]),
    ])
    return ledger


def test_performance_session(perf_ledger: Ledger) -> None:
    p = frames.performance("perf-1", ledger=perf_ledger)
    assert p.height == 1
    row = p.row(0, named=True)
    assert row["trades"] == 4 and row["wins"] == 2 and row["losses"] == 2
    assert row["win_rate"] == pytest.approx(0.5)
    assert row["profit_factor"] == pytest.approx(16.0 / 6.0)  # (10 + 6) / (4 + 2)
    assert row["realized_pnl"] == pytest.approx(10.0)
    assert row["gross_pnl"] == pytest.approx(12.0 - 3.0 + 7.0 - 2.0)
    assert row["fees"] == pytest.approx(4.25)  # all fills, also the open trip's 0.25
    assert row["max_drawdown"] == pytest.approx(4.0)  # 1010 -> 1006
    assert row["max_drawdown_pct"] == pytest.approx(4.0 / 1010.0 * 100)
    # per-minute grid 0..5 with minute 3 forward filled from minute 2
    curve = [1000.0, 1010.0, 1006.0, 1006.0, 1012.0, 1010.0]
    rets = [b / a - 1 for a, b in zip(curve, curve[1:])]
    expected = statistics.mean(rets) / statistics.stdev(rets) * math.sqrt(525_600)
    assert row["sharpe"] == pytest.approx(expected)


def test_a_ts_marked_again_after_a_flush_counts_once_the_last_mark(ledger: Ledger) -> None:
    """The telemetry re-marks a ts when a fill follows its bar; a writer flush in between leaves both
    rows. The curve and its drawdown take the last: they must not depend on when the writer flushed."""
    new_session(ledger, "s")
    ledger.write_events(equity_events("s", [(0, 1000.0), (1, 1020.0)]))
    ledger.write_events(equity_events("s", [(1, 990.0), (2, 995.0)]))  # minute 1 after its fill
    assert frames.equity("s", ledger).select("equity").to_series().to_list() == [1000.0, 990.0, 995.0]
    row = frames.performance("s", ledger=ledger).row(0, named=True)
    assert row["max_drawdown"] == pytest.approx(10.0)  # 1000 -> 990, not 1020 -> 990


def test_performance_by_sleeve_strategy_instrument(perf_ledger: Ledger) -> None:
    by_sleeve = frames.performance("perf-1", by="sleeve", ledger=perf_ledger)
    assert by_sleeve["sleeve"].to_list() == ["a", "b"]
    a, b = by_sleeve.row(0, named=True), by_sleeve.row(1, named=True)
    assert (a["trades"], a["wins"], a["losses"]) == (3, 2, 1)
    assert a["win_rate"] == pytest.approx(2 / 3)
    assert a["profit_factor"] == pytest.approx(16.0 / 4.0)
    assert a["realized_pnl"] == pytest.approx(12.0)
    assert a["fees"] == pytest.approx(4.0)
    assert a["max_drawdown"] == pytest.approx(4.0)  # cumulative 10, 6, 12
    assert a["max_drawdown_pct"] is None and a["sharpe"] is None
    assert (b["trades"], b["wins"], b["win_rate"]) == (1, 0, 0.0)
    assert b["profit_factor"] == pytest.approx(0.0)
    assert b["realized_pnl"] == pytest.approx(-2.0)
    assert b["fees"] == pytest.approx(0.25)
    assert b["max_drawdown"] == pytest.approx(2.0)  # from the 0 start

    by_strategy = frames.performance("perf-1", by="strategy", ledger=perf_ledger)
    assert by_strategy["strategy"].to_list() == ["ema_cross", "rsi_rules"]
    assert by_strategy["realized_pnl"].to_list() == pytest.approx([12.0, -2.0])
    by_instrument = frames.performance("perf-1", by="instrument", ledger=perf_ledger)
    assert by_instrument["instrument"].to_list() == ["BTC", "ETH"]
    assert by_instrument["fees"].to_list() == pytest.approx([4.0, 0.25])
    with pytest.raises(ValueError, match="by="):
        frames.performance("perf-1", by="month", ledger=perf_ledger)


def test_profit_factor_null_without_losses_and_drawdown_fallback(ledger: Ledger) -> None:
    new_session(ledger, "win-only")
    f = Fills("win-only")
    ledger.write_events([f("a", "BTC", "BUY", 1.0, 100.0, 0.0, 1), f("a", "BTC", "SELL", 1.0, 101.0, 0.0, 2)])
    row = frames.performance("win-only", ledger=ledger).row(0, named=True)
    assert row["trades"] == 1 and row["win_rate"] == 1.0
    assert row["profit_factor"] is None
    assert row["max_drawdown"] == 0.0 and row["max_drawdown_pct"] is None  # no equity: P&L curve
    assert row["sharpe"] is None


# -- plain frames, sessions, empties -----------------------------------------------
def test_sessions_frame(perf_ledger: Ledger) -> None:
    new_session(perf_ledger, "perf-2", started_at=T0 + MIN)
    df = frames.sessions(perf_ledger)
    assert df["session_id"].to_list() == ["perf-2", "perf-1"]  # newest first
    old = df.row(1, named=True)
    assert (old["fills"], old["orders"], old["sleeves"]) == (9, 9, 2)
    assert old["realized_pnl"] == pytest.approx(10.0)
    assert old["fees"] == pytest.approx(4.25)
    new = df.row(0, named=True)
    assert (new["fills"], new["orders"], new["realized_pnl"], new["fees"]) == (0, 0, 0.0, 0.0)
    assert df.schema["started_at"] == UTC_NS and df["started_at_ns"][1] == T0


def test_plain_frames_and_resolution(perf_ledger: Ledger) -> None:
    fills = frames.fills("perf", perf_ledger)  # unique prefix
    assert fills.height == 9 and fills.schema["ts"] == UTC_NS
    assert fills["ts_ns"].is_sorted()
    assert fills["notional"][0] == pytest.approx(100.0)
    assert frames.orders(None, perf_ledger)["status"].unique().to_list() == ["FILLED"]  # None = latest
    eq = frames.equity("latest", perf_ledger)
    assert eq["equity"].to_list() == [1000.0, 1010.0, 1006.0, 1012.0, 1010.0]
    assert eq["ts"][0].isoformat() == "2026-01-01T00:00:00+00:00"
    assert frames.events("perf-1", ledger=perf_ledger).height == 14
    assert frames.events("perf-1", "equity.update", perf_ledger).height == 5
    assert frames.events("perf-1", "order.*", perf_ledger).height == 9
    assert frames.positions("perf-1", perf_ledger).height == 0
    with pytest.raises(ValueError, match="no session matches"):
        frames.fills("zzz", perf_ledger)


def test_default_ledger_comes_from_paperlab_home(perf_ledger: Ledger) -> None:
    assert frames.fills("perf-1").height == 9  # no ledger given: $PAPERLAB_HOME/ledger.sqlite


def test_empty_session_gives_empty_frames_with_schema(ledger: Ledger) -> None:
    assert frames.sessions(ledger).is_empty()
    assert "realized_pnl" in frames.sessions(ledger).columns
    new_session(ledger, "empty")
    for fn in (frames.fills, frames.orders, frames.positions, frames.equity, frames.events,
               frames.round_trips, frames.performance):
        df = fn("empty", ledger=ledger)
        assert df.is_empty(), fn.__name__
        assert df.width > 5, fn.__name__
    assert frames.round_trips("empty", ledger).schema["entry_ts"] == UTC_NS
    for by in ("sleeve", "strategy", "instrument"):
        df = frames.performance("empty", by=by, ledger=ledger)
        assert df.is_empty() and by in df.columns
    assert frames.fills("empty", ledger).schema["ts"] == UTC_NS


READER = textwrap.dedent(
    """
    import sys
    from kernelext import frames
    from kernelext.ledger import Ledger
    led = Ledger(sys.argv[1])
    print(frames.fills("live", led).height, frames.sessions(led)["status"][0])
    """
)


def test_another_process_reads_during_a_session(ledger: Ledger) -> None:
    new_session(ledger, "live")
    writer = LedgerWriter(ledger)
    f = Fills("live")
    for i in range(500):
        writer.put(f("a", "BTC", "BUY" if i % 2 == 0 else "SELL", 1.0, 100.0 + i, 0.01, i))
    assert writer.flush()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", READER, str(ledger.path)], capture_output=True,
                         text=True, timeout=60, cwd=REPO, env=env, check=True).stdout.split()
    assert out == ["500", "running"]
    writer.close()
    assert frames.round_trips("live", ledger).height == 250
