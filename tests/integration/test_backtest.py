"""Backtests recorded as sessions: `backtest --like` re-runs a paper session over exactly
its own bars with identical fills and metrics; the --require-backtest gate."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

import kernelext
from kernelext import frames
from kernelext.research.gate import require_backtest
from kernelext.ledger import Ledger
from kernelext.spec import SpecError, build_spec, make_sleeve

METRICS = ["trades", "wins", "win_rate", "profit_factor", "realized_pnl", "fees", "max_drawdown", "max_drawdown_pct", "sharpe"]


def _fills(session_id: str) -> list[tuple]:
    return frames.fills(session_id).sort("ts_ns", "sleeve", "client_order_id").select(
        "sleeve", "side", "qty", "price", "fee", "ts_ns"
    ).rows()


def _start_late(monkeypatch, instrument: str, seconds: float) -> None:
    """One bar type's replay stream begins ``seconds`` late, as on a loaded machine."""
    from kernelext.venues.sandbox.replay import ReplayDataClient

    stream = ReplayDataClient._stream

    async def late(self, bar_type, *args):
        if instrument in str(bar_type):
            await asyncio.sleep(seconds)
        return await stream(self, bar_type, *args)

    monkeypatch.setattr(ReplayDataClient, "_stream", late)


@pytest.mark.parametrize("book,late", [(False, None), (True, None), (True, "ETH"), (True, "BTC")])
def test_backtest_like_a_paper_session_gives_identical_fills_and_metrics(book: bool, late, paperlab_home, monkeypatch) -> None:
    if late:
        _start_late(monkeypatch, late, 0.3)
    if book:
        runner = kernelext.start_book(
            [{"strategy": "ema_cross", "instrument": "BTC/USD", "params": {"fast": 8, "slow": 21}},
             {"strategy": "tsmom", "instrument": "ETH/USD", "params": {"lookback": 30}}],
            feed="replay", speed="max", max_bars=1500, seed=9)
    else:
        runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 8, "slow": 21},
                                 feed="replay", speed="max", max_bars=1500, seed=9)
    assert runner.wait(120) and runner.state == "stopped", runner.last_error
    backtest_id = kernelext.backtest(like=runner.session_id)
    paper, bt = _fills(runner.session_id), _fills(backtest_id)
    assert len(paper) > 10
    assert paper == bt
    arrival = [ts for (ts,) in Ledger().query(
        "SELECT ts FROM bars WHERE session_id = ? AND historical = 0 ORDER BY rowid", (runner.session_id,))]
    assert arrival == sorted(arrival)  # one market timeline, whichever stream began first
    assert frames.performance(runner.session_id).select(METRICS).rows() == frames.performance(backtest_id).select(METRICS).rows()
    assert frames.round_trips(runner.session_id).height == frames.round_trips(backtest_id).height
    by = frames.performance(backtest_id, by="sleeve")
    assert by.height == len(runner.spec.sleeves)
    comparison = kernelext.compare(backtest_id, runner.session_id)
    assert "matches the backtest" in comparison.assessment
    row = Ledger().session(backtest_id)
    assert row["kind"] == "backtest" and row["feed"] == f"session {runner.session_id}" and row["status"] == "stopped"


@pytest.mark.parametrize("sleeves", [
    [("ema_cross", "BTC/USD", {"fast": 8, "slow": 21}), ("tsmom", "ETH/USD", {"lookback": 30}), ("rsi_rules", "SOL/USD", {})],
    [("grid", "BTC/USD", {"step_pct": 0.2, "levels": 3})],  # resting orders: the available cash moves between fills
], ids=["book", "grid"])
def test_a_backtest_marked_after_its_run_has_the_equity_curve_marked_bar_by_bar(sleeves, paperlab_home,
                                                                               monkeypatch) -> None:
    """Without a drawdown cap nothing acts on a bar's equity point, so a recorded backtest marks its
    points from account snapshots as its run goes; a cap that never triggers marks each on its bar.
    The curves are one (marked 97 bars at a time here, so chunks end next to fills)."""
    from kernelext.session import telemetry

    monkeypatch.setattr(telemetry, "AFTER_RUN_CHUNK", 97)
    def run(cap):
        spec = build_spec(sleeves=[make_sleeve(k, i, params=p) for k, i, p in sleeves], feed="replay", seed=3,
                          max_drawdown_pct=cap)
        sid = kernelext.backtest(spec, bars=2500, anchor_ns=1_795_900_000_000_000_000)
        return sid, frames.equity(sid).drop("session_id")

    after_run, per_bar = run(None), run(99.0)
    assert after_run[1].height >= 2500 and frames.fills(after_run[0]).height > 20
    assert after_run[1].rows() == per_bar[1].rows()
    assert frames.performance(after_run[0]).drop("session_id").rows() == frames.performance(per_bar[0]).drop("session_id").rows()
    assert frames.bars(after_run[0], historical=True).rows() == frames.bars(per_bar[0], historical=True).rows()


def test_backtest_over_the_generator_is_a_session_frames_read(paperlab_home) -> None:
    spec = build_spec(sleeves=[make_sleeve("tsmom", "ETH/USD", params={"lookback": 20})], feed="replay", seed=2)
    session_id = kernelext.backtest(spec, bars=3000)
    assert frames.fills(session_id).height > 0
    assert frames.equity(session_id).height >= 3000  # a point per bar
    assert frames.sessions().filter(frames.sessions()["session_id"] == session_id)["kind"].to_list() == ["backtest"]


def test_require_backtest_refuses_then_allows(paperlab_home) -> None:
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", params={"fast": 5, "slow": 13})], feed="replay")
    with pytest.raises(SpecError, match=r"require_backtest: no backtest of ema_cross on BTC/USD.*paperlab backtest --strategy ema_cross"):
        require_backtest(spec)
    other = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", params={"fast": 6, "slow": 13})], feed="replay")
    kernelext.backtest(other, bars=2000)
    with pytest.raises(SpecError):
        require_backtest(spec)  # different params do not count
    kernelext.backtest(spec, bars=2000)
    require_backtest(spec)


def test_cli_backtest_like_and_gate(paperlab_home) -> None:
    env = {**os.environ, "PAPERLAB_HOME": str(paperlab_home)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kernelext", *args], env=env, capture_output=True, text=True, timeout=120)

    refused = cli("paper", "--feed", "replay", "--strategy", "tsmom", "--instrument", "ETH/USD", "--require-backtest")
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "paperlab backtest --strategy tsmom --instrument ETH/USD" in refused.stderr
    paper = cli("paper", "--feed", "replay", "--strategy", "tsmom", "--instrument", "ETH/USD", "--bars", "1200", "--json")
    paper_id = json.loads(paper.stdout.strip().splitlines()[-1])["session_id"]
    out = cli("backtest", "--like", paper_id, "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["kind"] == "backtest" and summary["fills"] == frames.fills(paper_id).height > 0


def test_a_recorded_backtest_stores_its_orders_but_audits_none(paperlab_home) -> None:
    """A backtest's simulated orders are ledger rows (orders, fills, events) but not order intents
    in the audit chain, nor kept to be rebuilt (a backtest is never relaunched); its writer runs in a
    child process and has committed everything on return."""
    from kernelext import api

    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", params={"fast": 5, "slow": 12})],
                      feed="replay", seed=3)
    backtest_id = kernelext.backtest(spec, bars=3000)
    ledger = Ledger()
    orders = ledger.query("SELECT COUNT(*) FROM orders WHERE session_id = ?", (backtest_id,))[0][0]
    assert orders > 10 and frames.fills(backtest_id).height == orders
    assert ledger.query("SELECT COUNT(*) FROM orders WHERE session_id = ? AND init_json IS NOT NULL",
                        (backtest_id,))[0][0] == 0
    assert ledger.query("SELECT COUNT(*) FROM bars WHERE session_id = ? AND historical = 0", (backtest_id,))[0][0] == 3000
    assert frames.equity(backtest_id).height >= 3000
    assert api.audit(backtest_id).filter(api.audit(backtest_id)["action"].str.starts_with("order")).height == 0
    assert api.verify_audit().ok


def test_a_recorded_backtest_purges_its_cache_and_loses_no_fill(paperlab_home, monkeypatch) -> None:
    """A recorded backtest purges closed orders and positions from Nautilus's cache every 15 minutes
    of market time (the ledger has them): the same fills, in the same order, as an unrecorded run
    whose cache keeps everything, and every order and fill is a ledger row."""
    from kernelext.research.backtest import fills_as_rows, run_backtest
    from kernelext.session.telemetry import Telemetry

    anchor = 1_767_225_600_000_000_000
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", params={"fast": 5, "slow": 12})],
                      feed="replay", seed=3, anchor_ns=anchor)
    engine, kept = run_backtest(spec, anchor_ns=anchor, bars=3000)
    assert len(engine.cache.orders()) == len(kept) > 100  # the unrecorded run's cache holds every order
    cached_at_stop = []
    stop = Telemetry.on_stop
    monkeypatch.setattr(Telemetry, "on_stop", lambda self: cached_at_stop.append(len(self.cache.orders())) or stop(self))
    backtest_id = kernelext.backtest(spec, bars=3000, anchor_ns=anchor)
    recorded = frames.fills(backtest_id).sort("ts_ns", "client_order_id").select("sleeve", "side", "qty", "price").rows()
    assert recorded == fills_as_rows(kept)
    orders = Ledger().query("SELECT COUNT(*) FROM orders WHERE session_id = ?", (backtest_id,))[0][0]
    assert orders == len(kept)
    assert cached_at_stop[0] < 5  # at its end, the recorded run's cache holds only the last 15 minutes' orders
