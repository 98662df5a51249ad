"""binance-sim: Binance public market data (the local peer's, no key) into the local sandbox on
BINANCE, labelled SIMULATED; with Binance unreachable, the labelled offline replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelext import frames, venues
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from tests.helpers import wait_for
from tests.peers.binance_peer import BinancePeer

BID, ASK = 65_000.00, 65_000.10
RULES = {"indicators": {"rsi": {"type": "rsi", "period": 2}}, "entry": ["close > 0"], "exit": [],
         "direction": "long", "stop_loss_pct": 5.0, "take_profit_pct": 0.5, "warmup_bars": 0,
         "trade_notional": 1000}


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[BinancePeer]:
    with BinancePeer() as p:
        monkeypatch.setenv("PAPERLAB_BINANCE_HTTP", p.http_url)
        monkeypatch.setenv("PAPERLAB_BINANCE_WS", p.ws_url)
        yield p


def test_public_data_with_sandbox_fills_labelled_simulated(peer: BinancePeer) -> None:
    peer.set_price("BTCUSDT", BID, ASK)
    spec = build_spec(sleeves=[make_sleeve("rsi_rules", "BTCUSDT.BINANCE", params=RULES, bar_spec="1-SECOND-LAST")],
                      venue="binance-sim", starting_cash="10000 USDT")
    runner = SessionRunner(spec).start()
    try:
        assert runner.spec.feed == "simulated" and runner.status().feed == "simulated"
        assert venues.badge(runner.spec.feed).text == "SIMULATED" == runner.spec.feed.upper()
        assert any(n.startswith("SIMULATED:") for n in runner.notes), runner.notes
        wait_for(lambda: runner.status().fills >= 1, "the sandbox's entry fill", 40, 0.1)
        peer.set_price("BTCUSDT", BID * 1.01, ASK * 1.01)
        wait_for(lambda: runner.status().fills >= 2, "the take-profit exit", 40, 0.1)
        runner.writer.flush()
        fills = frames.fills(runner.session_id, ledger=runner.ledger).sort("ts_ns")
        assert fills["side"].to_list()[:2] == ["BUY", "SELL"]
        assert fills["price"][0] == ASK, "the sandbox fills a market buy at Binance's ask"
        assert fills["fee"][0] == pytest.approx(fills["price"][0] * fills["qty"][0] * 0.001, rel=1e-6)
        assert runner.ledger.session(runner.session_id)["feed"] == "simulated"
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error
    assert not peer.executions() and "POST order" not in peer.requests, "no order reaches Binance"
    assert not any(r.startswith("WS ") or r == "GET account" for r in peer.requests), "no key used"


def _cli(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kernelext", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_unreachable_binance_replays_offline_labelled_replay(paperlab_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PAPERLAB_HOME": str(paperlab_home), "PAPERLAB_BINANCE_HTTP": "http://127.0.0.1:9",
           "PAPERLAB_BINANCE_WS": "ws://127.0.0.1:9"}
    base = ("paper", "--venue", "binance-sim", "--strategy", "ema_cross", "--instrument", "BTCUSDT.BINANCE",
            "--starting-cash", "10000 USDT")
    auto = _cli(env, tmp_path, *base, "--speed", "max", "--bars", "300")
    assert auto.returncode == 0, auto.stderr
    assert "[REPLAY]" in auto.stdout and "REPLAY: Binance is not reachable" in auto.stdout, auto.stdout
    rows = json.loads(_cli(env, tmp_path, "sessions", "--json").stdout)
    assert [(r["venue"], r["feed"]) for r in rows] == [("binance-sim", "replay")]
    assert rows[0]["fills"] > 0, "the replay traded on BINANCE instruments"
    asked = _cli(env, tmp_path, *base, "--feed", "simulated", "--for", "5s")
    err = asked.stderr.strip().splitlines()
    assert asked.returncode != 0 and len(err) == 1 and "feed: Binance is not reachable" in err[0], asked.stderr
    assert len(json.loads(_cli(env, tmp_path, "sessions", "--json").stdout)) == 1, "the refused start wrote nothing"
