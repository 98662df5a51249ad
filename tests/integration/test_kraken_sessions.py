"""Paper sessions on the live-Kraken path, against the local Kraken protocol peer: the
real Nautilus Kraken adapter, INTERNAL bars from trades, sandbox fills at the peer's
quotes, feed health, reconnects, malformed frames, and the auto/replay fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kernelext import frames
from kernelext.ledger import Ledger
from kernelext.errors import SessionStartError
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from tests.helpers import wait_for
from tests.round_trip import round_trip_strategy  # noqa: F401  (registers test_round_trip)
from tests.peers.kraken_peer import KrakenPeer

BID, ASK = 65_000.0, 65_000.1


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[KrakenPeer]:
    with KrakenPeer(pairs=("BTC/USD", "ETH/USD"), tick_interval=0.05) as p:
        monkeypatch.setenv("PAPERLAB_KRAKEN_HTTP", p.http_url)
        monkeypatch.setenv("PAPERLAB_KRAKEN_WS", p.ws_url)
        yield p


def _wait(predicate, timeout: float, what: str) -> None:
    wait_for(predicate, what, timeout, interval=0.1)


def _kraken_spec(strategy: str, params: dict, **kw):
    return build_spec(
        sleeves=[make_sleeve(strategy, "BTC/USD", params=params, bar_spec="1-SECOND-LAST")], **kw
    )


def test_fills_at_the_peers_quotes_and_land_in_the_ledger(peer: KrakenPeer) -> None:
    peer.set_price("BTC/USD", BID, ASK, hold=True)
    runner = SessionRunner(_kraken_spec("test_round_trip", {"hold_bars": 3, "warmup_bars": 0}, feed="kraken")).start()
    try:
        assert runner.spec.feed == "kraken" and runner.status().feed == "kraken"
        _wait(lambda: runner.status().fills >= 2, 40, "the buy and the sell")
        runner.writer.flush()
        fills = frames.fills(runner.session_id, ledger=runner.ledger).sort("ts_ns")
        assert fills.height == 2
        buy, sell = fills.row(0, named=True), fills.row(1, named=True)
        assert (buy["side"], buy["price"]) == ("BUY", ASK), "a market buy fills at the ask"
        assert (sell["side"], sell["price"]) == ("SELL", BID), "a market sell fills at the bid"
        assert buy["fee_currency"] == "ZUSD"  # Kraken's instruments settle in its raw asset codes
        assert runner.ledger.session(runner.session_id)["feed"] == "kraken"
        # Kraken's pair list is cached for offline search (the start card's instrument picker).
        assert runner.ledger.cached_instruments("KRAKEN") == ["BTC/EUR", "BTC/USD", "ETH/USD", "SOL/USD"]
    finally:
        runner.stop()


def test_reconnect_silence_and_malformed_frames_do_not_end_the_session(peer: KrakenPeer) -> None:
    runner = SessionRunner(_kraken_spec("ema_cross", {"fast": 2, "slow": 4, "warmup_bars": 0}, feed="kraken")).start()
    try:
        _wait(lambda: runner.status().bars >= 3, 30, "internal bars from the peer's trades")
        peer.send_malformed()
        peer.drop_connections()
        bars = runner.status().bars
        _wait(lambda: runner.status().bars > bars + 2, 30, "bars after a dropped connection")
        peer.go_silent(7.0)  # longer than the feed's stale threshold (5 s)
        _wait(lambda: runner.status().feed_stale, 15, "feed.stale")
        _wait(lambda: not runner.status().feed_stale, 30, "feed.ok after the silence")
        bars = runner.status().bars
        _wait(lambda: runner.status().bars > bars + 2, 30, "bars after the silence")
        assert runner.state == "running", runner.last_error
        # Kraken re-sends its last trades after a reconnect: old ones never reach the node.
        assert runner.market_client.stale_dropped > 0
        runner.writer.flush()
        stages = frames.events(runner.session_id, ledger=runner.ledger)["stage"].to_list()
        assert "feed.stale" in stages and "feed.ok" in stages
        assert "feed.reconnected" in stages, "a reconnect is surfaced, never silent"
        assert stages.index("feed.stale") < len(stages) - 1 - stages[::-1].index("feed.ok")
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kernelext", *args], env=env, capture_output=True, text=True, timeout=120)


def test_unreachable_kraken_falls_back_to_replay_or_fails_when_asked_for(paperlab_home) -> None:
    env = {**os.environ, "PAPERLAB_HOME": str(paperlab_home),
           "PAPERLAB_KRAKEN_HTTP": "http://127.0.0.1:9", "PAPERLAB_KRAKEN_WS": "ws://127.0.0.1:9/v2"}
    auto = _cli(env, "paper", "--strategy", "ema_cross", "--instrument", "BTC/USD", "--speed", "max", "--bars", "500")
    assert auto.returncode == 0, auto.stderr
    assert "[REPLAY]" in auto.stdout and "REPLAY: Kraken is not reachable" in auto.stdout
    summary = json.loads(_cli(env, "sessions", "--json").stdout)
    assert [row["feed"] for row in summary] == ["replay"]
    asked = _cli(env, "paper", "--feed", "kraken", "--strategy", "ema_cross", "--instrument", "BTC/USD", "--for", "5s")
    assert asked.returncode != 0
    err = asked.stderr.strip().splitlines()
    assert len(err) == 1 and "feed: Kraken is not reachable" in err[0]
    assert len(json.loads(_cli(env, "sessions", "--json").stdout)) == 1, "the refused session wrote nothing"


def test_a_pair_kraken_does_not_list_is_one_line_with_a_suggestion(peer: KrakenPeer) -> None:
    with pytest.raises(ValueError, match=r"instrument: BTC/USDT is not a Kraken spot pair; did you mean BTC/USD"):
        SessionRunner(
            build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USDT")], feed="kraken", starting_cash="100000 USDT")
        ).start()
    assert frames.sessions(ledger=Ledger()).height == 0


def test_a_feed_that_fails_to_connect_ends_the_start_at_once_with_its_error(peer: KrakenPeer, monkeypatch) -> None:
    """Kraken answers over HTTP (the preflight passes) but its websocket refuses: the start
    ends with the adapter's own error in one line and where the log is, not after the 60 s
    start timeout; nothing keeps running."""
    monkeypatch.setenv("PAPERLAB_KRAKEN_WS", "ws://127.0.0.1:9/v2")
    runner = SessionRunner(_kraken_spec("ema_cross", {"fast": 2, "slow": 4}, feed="kraken"))
    with pytest.raises(SessionStartError) as failed:
        runner.start(timeout=60)
    first = str(failed.value).splitlines()[0]
    assert "Connection refused" in first and "log:" in first, first
    assert "did not start within" not in first  # the adapter's error ended the start, not the timeout
    assert not runner.is_alive and runner.session_id not in SessionRunner.live()
    assert frames.sessions().filter(session_id=runner.session_id)["status"][0] == "error"


def test_nautilus_error_lines_stay_off_the_terminal(peer: KrakenPeer, paperlab_home) -> None:
    """The same refused websocket from the shell: Nautilus logs its own [ERROR] line and the
    connect traceback, which belong in the session's log; the terminal shows one line."""
    env = {**os.environ, "PAPERLAB_HOME": str(paperlab_home), "PAPERLAB_KRAKEN_HTTP": peer.http_url,
           "PAPERLAB_KRAKEN_WS": "ws://127.0.0.1:9/v2"}
    out = _cli(env, "paper", "--feed", "kraken", "--strategy", "ema_cross", "--instrument", "BTC/USD", "--for", "5s")
    assert out.returncode == 1
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("paperlab: error:") and "Connection refused" in err[0], out.stderr
    assert "[ERROR]" not in out.stdout + out.stderr
    logs = "".join(p.read_text(errors="replace") for p in (paperlab_home / "logs").glob("nautilus-*.log"))
    assert "[ERROR]" in logs and "Connection refused" in logs


def test_kill_on_the_kraken_feed_leaves_the_session_flat(peer: KrakenPeer) -> None:
    # On the live path the flatten's closes fill at the peer's book like any market order;
    # a margin account lets ema_cross flip, the case where REDUCING alone was not flat.
    spec = _kraken_spec("ema_cross", {"fast": 1, "slow": 2, "warmup_bars": 0}, feed="kraken", margin=3)
    runner = SessionRunner(spec).start()
    try:
        _wait(lambda: runner.positions(), 60, "an open position")
        runner.kill()
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error
    sid = runner.session_id
    messages = " ".join(frames.events(sid, ledger=runner.ledger)["message"].to_list())
    assert "flatten incomplete" not in messages
    pos = frames.positions(sid, ledger=runner.ledger)
    assert pos.height > 0 and pos["closed_ts"].null_count() == 0, f"kill left a position open:\n{pos}"
    fills = frames.fills(sid, ledger=runner.ledger)
    net = sum(q if side == "BUY" else -q for side, q in zip(fills["side"], fills["qty"], strict=True))
    assert net == pytest.approx(0.0, abs=1e-9), "fills must net to zero after kill"
