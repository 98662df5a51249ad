"""The read-only IB gateway probe and health monitor against the local TWS peer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from kernelext.venues.ib.probe import (
    START_COMMAND,
    AccountSnapshot,
    GatewayHealth,
    GatewayTarget,
    Holding,
    ProbeFailure,
    check_paper_account,
    probe_account,
)
from tests.peers.tws_peer import PLACE_ORDER, TwsPeer

pytestmark = pytest.mark.timeout(60)
SECRET = "s3cret-pw"


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway password in the environment must never show up anywhere."""
    monkeypatch.setenv("TWS_PASSWORD", SECRET)


@pytest.fixture
def peer() -> Iterator[TwsPeer]:
    with TwsPeer(accounts=("DU1234567",)) as p:
        yield p


def _target(port: int, account_id: str = "") -> GatewayTarget:
    return GatewayTarget(port=port, client_id=21, account_id=account_id)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


def test_probe_reads_the_paper_account_and_sends_no_order(peer: TwsPeer, caplog: pytest.LogCaptureFixture) -> None:
    snap = probe_account(_target(peer.port, "DU1234567"), timeout=3)
    assert isinstance(snap, AccountSnapshot), snap
    assert snap.account_id == "DU1234567" and snap.is_paper
    assert (snap.equity, snap.cash, snap.buying_power, snap.exposure) == (100000.0, 73000.0, 292000.0, 27000.0)
    assert snap.currency == "USD"
    assert set(snap.holdings) == {Holding("AAPL", "NASDAQ", 100.0, 150.25), Holding("MSFT", "NASDAQ", 20.0, 310.5)}
    assert 62 in peer.requests and PLACE_ORDER not in peer.requests
    _no_secret(repr(snap), caplog.text)


def test_probe_twice_and_from_a_running_loop(peer: TwsPeer) -> None:
    """A Jupyter kernel calls from inside a running loop; ib_async must not use that loop."""

    async def from_kernel() -> object:
        return probe_account(_target(peer.port), timeout=3)

    assert isinstance(probe_account(_target(peer.port), timeout=3), AccountSnapshot)
    snap = asyncio.run(from_kernel())
    assert isinstance(snap, AccountSnapshot) and snap.account_id == "DU1234567"
    assert PLACE_ORDER not in peer.requests


def test_gateway_down_says_how_to_start_it(caplog: pytest.LogCaptureFixture) -> None:
    result = probe_account(_target(_free_port()), timeout=2)
    assert isinstance(result, ProbeFailure) and result.state == "gateway down"
    assert START_COMMAND in result.message and "\n" not in result.message
    _no_secret(result.message, caplog.text)


def test_logged_out_gateway_needs_relogin_within_timeout(caplog: pytest.LogCaptureFixture) -> None:
    with TwsPeer(logged_out=True) as peer:
        result = probe_account(_target(peer.port), timeout=1.5)
        health = GatewayHealth(_target(peer.port), timeout=1.5).check()
    assert isinstance(result, ProbeFailure) and result.state == "logged out"
    assert "re-login needed" in result.message
    assert health == "re-login needed"
    assert PLACE_ORDER not in peer.requests
    _no_secret(result.message, caplog.text)


def test_a_silent_listener_is_the_wrong_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        result = probe_account(_target(listener.getsockname()[1]), timeout=1)
    assert isinstance(result, ProbeFailure) and result.state == "wrong port"
    assert "PAPERLAB_IB_PORT" in result.message


def test_live_account_is_refused_before_connecting(peer: TwsPeer) -> None:
    with pytest.raises(ValueError) as err:
        check_paper_account("U1234567")
    msg = str(err.value)
    assert msg == "account: ib-paper needs a paper account id starting with DU (got U12…)"
    assert "4567" not in msg
    check_paper_account("DU1234567")  # paper accounts pass

    result = probe_account(_target(peer.port, "U1234567"), timeout=2)
    assert isinstance(result, ProbeFailure) and result.state == "not a paper account"
    assert result.message == msg
    assert peer.connections == 0 and peer.requests == []


def test_live_login_on_the_paper_port_is_not_a_paper_account() -> None:
    with TwsPeer(accounts=("U7654321",)) as peer:
        result = probe_account(_target(peer.port), timeout=2)
    assert isinstance(result, ProbeFailure) and result.state == "not a paper account"
    assert "U76…" in result.message and "7654321" not in result.message
    assert PLACE_ORDER not in peer.requests


def test_target_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PAPERLAB_IB_HOST", "PAPERLAB_IB_PORT", "PAPERLAB_IB_CLIENT_ID", "PAPERLAB_IB_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert GatewayTarget.from_env().port == 4002
    assert GatewayTarget.from_env(paper=False).port == 4001
    monkeypatch.setenv("PAPERLAB_IB_PORT", "4102")
    monkeypatch.setenv("PAPERLAB_IB_CLIENT_ID", "5")
    monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", "DU999")
    t = GatewayTarget.from_env()
    assert (t.host, t.port, t.client_id, t.account_id) == ("127.0.0.1", 4102, 5, "DU999")
    monkeypatch.setenv("PAPERLAB_IB_PORT", "x")
    with pytest.raises(ValueError, match="PAPERLAB_IB_PORT"):
        GatewayTarget.from_env()


def test_health_transitions_ok_off_ok(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str | None, str, str]] = []
    peer = TwsPeer().start()
    health = GatewayHealth(_target(peer.port), lambda old, new, msg: seen.append((old, new, msg)), timeout=2)
    try:
        assert health.check() == "ok"
        assert health.check() == "ok"  # no change, no report
        peer.stop()
        assert health.check() == "off"
        peer.start()  # same port: the gateway came back
        assert health.check() == "ok"
    finally:
        peer.stop()
    assert [(old, new) for old, new, _ in seen] == [(None, "ok"), ("ok", "off"), ("off", "ok")]
    assert START_COMMAND in seen[1][2]
    assert PLACE_ORDER not in peer.requests
    _no_secret(*(m for *_, m in seen), caplog.text)


def test_health_monitor_thread_reports_and_stops() -> None:
    seen: list[str] = []
    with TwsPeer() as peer:
        health = GatewayHealth(_target(peer.port), lambda old, new, msg: seen.append(new), timeout=2)
        health.start(interval_s=0.2)
        try:
            for _ in range(100):
                if seen:
                    break
                asyncio.run(asyncio.sleep(0.05))
        finally:
            health.stop()
    assert seen[:1] == ["ok"] and health.state == "ok"


def test_cli_ib_status_shows_the_account_or_one_line(paperlab_home) -> None:
    import os
    import subprocess
    import sys

    from tests.peers.tws_peer import TwsPeer

    def status(port: int) -> subprocess.CompletedProcess:
        env = {**os.environ, "PAPERLAB_IB_PORT": str(port), "PAPERLAB_IB_ACCOUNT_ID": "DU1234567"}
        return subprocess.run([sys.executable, "-m", "kernelext", "ib", "status", "--timeout", "3"],
                              env=env, capture_output=True, text=True, timeout=60)

    with TwsPeer(accounts=("DU1234567",)) as peer:
        out = status(peer.port)
        assert out.returncode == 0, out.stderr
        assert "gateway: ok" in out.stdout and "(paper): equity" in out.stdout
        assert 3 not in peer.requests  # never a placeOrder
        port = peer.port
    down = status(port)
    assert down.returncode == 1
    assert down.stderr.strip().splitlines() == [down.stderr.strip()]  # one line
    assert START_COMMAND in down.stderr and START_COMMAND.startswith("docker compose -f /")
    from kernelext.ledger import Ledger

    rows = Ledger().gateway_health(f"127.0.0.1:{port}", limit=5)  # each status check is kept
    assert [(r["previous"], r["state"]) for r in rows] == [("ok", "off"), (None, "ok")]
    assert "DU1234567" not in out.stdout  # account ids are masked
