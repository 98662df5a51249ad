"""``backtest --like`` a session whose bars were built in the node from trades (INTERNAL): the
live Kraken feed (the local Kraken peer). Its bars come back EXTERNAL for the BacktestEngine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import kernelext
from kernelext import frames
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from tests.helpers import wait_for
from tests.peers.kraken_peer import KrakenPeer


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[KrakenPeer]:
    with KrakenPeer(pairs=("BTC/USD",), tick_interval=0.05) as p:
        monkeypatch.setenv("PAPERLAB_KRAKEN_HTTP", p.http_url)
        monkeypatch.setenv("PAPERLAB_KRAKEN_WS", p.ws_url)
        yield p


def test_a_kraken_feed_session_backtests_like_itself(peer: KrakenPeer) -> None:
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", params={"fast": 1, "slow": 2, "warmup_bars": 0},
                                           bar_spec="1-SECOND-LAST")], feed="kraken")
    runner = SessionRunner(spec).start()
    try:
        wait_for(lambda: runner.status().bars >= 8, "bars from the peer's trades", 40, 0.1)
    finally:
        runner.stop()
    assert frames.bars(runner.session_id)["bar_type"].str.ends_with("-INTERNAL").all()
    backtest_id = kernelext.backtest(like=runner.session_id)
    row = frames.sessions().filter(session_id=backtest_id).row(0, named=True)
    assert row["status"] == "stopped", row
