"""``--margin 3`` on the Kraken peer: long at 3x, the price falls through Kraken's margin call level
(80 %) and then its liquidation level (40 %): a margin call, then a liquidation that closes the
position, and equity stays above zero; an order beyond the free margin is denied in one line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nautilus_trader.model.enums import OrderSide

import kernelext
from kernelext import frames
from kernelext.errors import SpecError
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from kernelext.strategies import PaperStrategy, registry
from tests.helpers import wait_for
from tests.peers.kraken_peer import KrakenPeer

BID, ASK = 65_000.0, 65_000.1


class LongOnce(PaperStrategy):
    """Long ``trade_size`` on the first live bar; on the second, asks for as much again."""

    def _decide(self, bar) -> None:
        if self.live_bars == 1:
            self._go_long()
        elif self.live_bars == 2:
            self._submit_qty(OrderSide.BUY, self.config.trade_size)  # beyond the free margin: denied


@pytest.fixture(autouse=True)
def long_once() -> Iterator[None]:
    kernelext.register("test_long_once")(LongOnce)
    yield
    registry.unregister("test_long_once")


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[KrakenPeer]:
    with KrakenPeer(pairs=("BTC/USD",), tick_interval=0.05) as p:
        p.set_price("BTC/USD", BID, ASK, hold=True)
        monkeypatch.setenv("PAPERLAB_KRAKEN_HTTP", p.http_url)
        monkeypatch.setenv("PAPERLAB_KRAKEN_WS", p.ws_url)
        yield p


def test_a_margin_call_then_a_liquidation_and_equity_stays_above_zero(peer: KrakenPeer) -> None:
    # 4.4 BTC at 65,000 = 286,000 USD of exposure on 100,000 USD: used margin 95,333 at 3x
    spec = build_spec(sleeves=[make_sleeve("test_long_once", "BTC/USD", bar_spec="1-SECOND-LAST",
                                           params={"warmup_bars": 0, "trade_size": 4.4})],
                      feed="kraken", margin=3, max_notional_per_order=1_000_000)
    runner = SessionRunner(spec).start()
    try:
        assert any("Kraken margin x3" in n for n in runner.notes)
        wait_for(lambda: runner.status().fills >= 1, "the long to fill", 30)
        wait_for(lambda: runner.status().denied >= 1, "the second order to be denied", 30)
        peer.set_price("BTC/USD", 59_000.0, 59_000.1, hold=True)  # level ~77 %: a margin call
        wait_for(lambda: frames.events(runner.session_id, "risk.margin_call", runner.ledger).height == 1,
                 "a margin call", 30)
        peer.set_price("BTC/USD", 51_000.0, 51_000.1, hold=True)  # level ~37 %: liquidation
        wait_for(lambda: frames.events(runner.session_id, "risk.liquidated", runner.ledger).height == 1,
                 "a liquidation", 30)
        wait_for(lambda: not runner.status().positions or all(p["quantity"] == 0 for p in runner.status().positions),
                 "the position closed", 30)
    finally:
        runner.stop()
    runner.writer.flush()
    sid = runner.session_id
    denied = frames.orders(sid, ledger=runner.ledger).filter(status="DENIED")
    assert denied["reason"][0].startswith("insufficient margin: needs ")
    fills = frames.fills(sid, ledger=runner.ledger)
    assert fills.filter(side="SELL")["qty"].sum() == pytest.approx(fills.filter(side="BUY")["qty"].sum())  # liquidated
    eq = frames.equity(sid, ledger=runner.ledger)
    assert eq["equity"].min() > 0
    call = frames.events(sid, "risk.margin_call", runner.ledger)["message"][0]
    assert "below the 80% margin call level" in call


def test_margin_beyond_the_pairs_leverage_is_one_line(paperlab_home) -> None:
    with pytest.raises(SpecError, match=r"^margin: Kraken allows leverage up to 5 on BTC/USD \(got 8\)$"):
        build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], feed="replay", margin=8)
    with pytest.raises(SpecError, match=r"^margin: expected a leverage"):
        build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], feed="replay", margin="lots")
