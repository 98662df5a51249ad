"""ib_async against the local TWS peer: handshake, accounts, summary, positions, faults."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from ib_async import IB, util

from tests.peers.tws_peer import PLACE_ORDER, TwsPeer

T = TypeVar("T")
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def peer() -> Iterator[TwsPeer]:
    with TwsPeer(accounts=("DU1234567",)) as p:
        yield p


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run for ib_async: its ``util.getLoop`` caches ONE loop per process, so a
    fresh loop must be re-registered (PaperLab's probe keeps one dedicated loop instead)."""

    async def main() -> T:
        util.getLoop.cache_clear()
        util.getLoop()
        return await coro

    return asyncio.run(main())


async def _connect(port: int, readonly: bool = False) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=7, timeout=3, readonly=readonly, raiseSyncErrors=True)
    return ib


def test_full_connect_syncs_accounts_and_positions(peer: TwsPeer) -> None:
    async def go() -> tuple[list[str], list, list, float]:
        ib = await _connect(peer.port)
        try:
            now = await asyncio.wait_for(ib.reqCurrentTimeAsync(), 3)
            return ib.managedAccounts(), ib.positions(), ib.portfolio(), now.timestamp()
        finally:
            ib.disconnect()

    accounts, positions, portfolio, now = _run(go())
    assert accounts == ["DU1234567"]
    assert {(p.contract.symbol, p.position, p.avgCost) for p in positions} == {
        ("AAPL", 100.0, 150.25),
        ("MSFT", 20.0, 310.5),
    }
    assert {i.contract.symbol: i.marketValue for i in portfolio} == {"AAPL": 19000.0, "MSFT": 8000.0}
    assert now > 1.7e9
    # everything connectAsync awaits was asked for and answered (raiseSyncErrors=True)
    assert {71, 61, 5, 99, 6, 76, 7, 49} <= set(peer.requests)
    assert PLACE_ORDER not in peer.requests


def test_account_summary_values(peer: TwsPeer) -> None:
    async def go() -> dict[str, tuple[str, str]]:
        ib = await _connect(peer.port, readonly=True)
        try:
            rows = await asyncio.wait_for(ib.accountSummaryAsync("DU1234567"), 3)
            return {r.tag: (r.value, r.currency) for r in rows}
        finally:
            ib.disconnect()

    summary = _run(go())
    assert summary["NetLiquidation"] == ("100000.00", "USD")
    assert summary["TotalCashValue"] == ("73000.00", "USD")
    assert summary["BuyingPower"] == ("292000.00", "USD")
    assert summary["GrossPositionValue"] == ("27000.00", "USD")
    assert summary["AvailableFunds"] == ("73000.00", "USD")
    assert 62 in peer.requests and PLACE_ORDER not in peer.requests


def test_logged_out_peer_never_gets_ready() -> None:
    async def go(port: int) -> None:
        await _connect(port)

    with TwsPeer(logged_out=True) as peer:
        with pytest.raises(TimeoutError):
            _run(go(peer.port))
        assert peer.handshakes == 1 and peer.requests == [71]


def test_errors_and_drop_reach_the_client(peer: TwsPeer) -> None:
    async def go() -> tuple[list[int], bool]:
        ib = await _connect(peer.port, readonly=True)
        codes: list[int] = []
        ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
        peer.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
        peer.send_error(1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")
        await asyncio.sleep(0.2)
        peer.drop()
        for _ in range(50):
            if not ib.isConnected():
                break
            await asyncio.sleep(0.05)
        return codes, ib.isConnected()

    codes, connected = _run(go())
    assert codes == [1100, 1102]
    assert not connected


def test_restart_rebinds_same_port() -> None:
    peer = TwsPeer().start()
    port = peer.port
    peer.stop()
    peer.start()
    try:
        assert peer.port == port
    finally:
        peer.stop()
