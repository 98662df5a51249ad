"""ib-paper input checks, market hours, gateway health in the ledger, one session per gateway."""

from __future__ import annotations

import datetime as dt
import json
import socket
from types import SimpleNamespace

import pytest

from kernelext.ledger import Ledger
from kernelext.spec import SpecError, build_spec, make_sleeve
from kernelext.venues.ib.probe import GatewayTarget
from kernelext.venues.ib.health import check_gateway, latest_health
from kernelext.venues.ib.config import order_tags
from kernelext.venues.ib.session import active_session_on, preflight
from kernelext.venues.ib.hours import MarketHours, parse_ib_hours
from tests.peers.tws_peer import TwsPeer


def _ib_spec(**kw):
    sleeve = make_sleeve("ibs_reversion", kw.pop("instrument", "QQQ.NASDAQ"), bar_spec="1-DAY-LAST")
    return build_spec(sleeves=[sleeve], venue="ib-paper", **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ib_spec_keeps_ib_symbology_and_masks_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAPERLAB_IB_ACCOUNT_ID", raising=False)
    spec = _ib_spec(account_id="DU7654321", outside_rth=True, until="16:05")
    assert spec.feed == "ib" and spec.venue == "ib-paper" and spec.speed is None
    assert spec.sleeves[0].instrument == "QQQ.NASDAQ" and spec.instruments == ["QQQ.NASDAQ"]
    assert spec.sleeves[0].bar_type_on(spec.feed) == "QQQ.NASDAQ-1-DAY-LAST-EXTERNAL"
    assert "IB symbology" in spec.describe() and "outside RTH" in spec.describe()
    stored = json.dumps(spec.to_dict())
    assert "DU7654321" not in stored and '"account_id": "DU7\\u2026"' in stored
    assert order_tags(spec) and "outsideRth" in order_tags(spec)[0]
    assert order_tags(_ib_spec(account_id="DU1")) is None


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"account_id": "U1234567"}, "account:", "DU"),
        ({"instrument": "BTC/USD"}, "instrument:", "QQQ.NASDAQ"),
        ({"feed": "kraken"}, "feed:", "ib"),
        ({"speed": "60"}, "speed:", "real time"),
    ],
)
def test_ib_spec_refuses_bad_input_in_one_line(kw: dict, field: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        _ib_spec(**kw)
    msg = str(err.value)
    assert msg.startswith(field) and words in msg and "\n" not in msg
    assert "1234567" not in msg  # account ids are masked


def test_live_account_from_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", "U9999999")
    with pytest.raises(SpecError, match=r"^account: .*DU"):
        _ib_spec()


def test_ib_symbols_are_refused_on_the_sandbox_and_rth_flag_on_crypto() -> None:
    with pytest.raises(SpecError, match=r"^instrument: QQQ.NASDAQ is IB symbology"):
        build_spec(sleeves=[make_sleeve("ema_cross", "QQQ.NASDAQ")], feed="replay")
    with pytest.raises(SpecError, match=r"^outside_rth:"):
        build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], feed="replay", outside_rth=True)


def test_market_hours_from_ib_liquid_hours() -> None:
    info = {
        "timeZoneId": "US/Eastern",
        "liquidHours": "20261123:0930-20261123:1600;20261124:0930-20261124:1600;20261126:CLOSED",
    }
    hours = MarketHours.from_instrument(SimpleNamespace(info=info))
    assert hours.source == "IB liquidHours" and len(hours.sessions) == 2

    def ns(y: int, mo: int, d: int, h: int, mi: int) -> int:
        eastern = dt.datetime(y, mo, d, h, mi, tzinfo=hours.sessions[0][0].tzinfo)
        return int(eastern.timestamp() * 1e9)

    assert hours.is_open(ns(2026, 11, 23, 9, 30)) and hours.is_open(ns(2026, 11, 24, 15, 59))
    assert not hours.is_open(ns(2026, 11, 23, 9, 29)) and not hours.is_open(ns(2026, 11, 23, 16, 0))
    assert not hours.is_open(ns(2026, 11, 26, 12, 0))  # Thanksgiving: CLOSED
    assert parse_ib_hours("garbage;20261123:CLOSED", hours.sessions[0][0].tzinfo) == []


def test_market_hours_default_is_us_equity_hours() -> None:
    hours = MarketHours.from_instrument(SimpleNamespace(info=None))
    monday_10_et = int(dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC).timestamp() * 1e9)
    saturday = int(dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.UTC).timestamp() * 1e9)
    monday_17_et = int(dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.UTC).timestamp() * 1e9)
    assert hours.is_open(monday_10_et) and not hours.is_open(saturday) and not hours.is_open(monday_17_et)


def test_gateway_health_transitions_land_in_the_ledger() -> None:
    led = Ledger()
    with TwsPeer(accounts=("DU1234567",)) as peer:
        target = GatewayTarget(port=peer.port, client_id=31)
        assert check_gateway(led, target, timeout=3)[0] == "ok"
        assert check_gateway(led, target, timeout=3)[0] == "ok"  # no change: no new row
        peer.stop()
        state, message = check_gateway(led, target, timeout=2)
    assert state == "off" and "gateway down" not in message and "start it with" in message
    rows = led.gateway_health(target.where, limit=10)
    assert [(r["previous"], r["state"]) for r in rows] == [("ok", "off"), (None, "ok")]
    assert latest_health(led).state == "off"


def test_a_second_ib_session_on_one_gateway_is_refused() -> None:
    led = Ledger()
    port = _free_port()
    spec = _ib_spec(account_id="DU1234567")
    where = f"127.0.0.1:{port}"
    led.create_session("s-ib-1", label="x", kind="paper", venue="ib-paper", feed="ib",
                       spec={**spec.to_dict(), "ib_gateway": where}, sleeves=[], started_at=1)
    led.set_status("s-ib-1", "running")
    assert active_session_on(led, where) == "s-ib-1"
    assert active_session_on(led, "127.0.0.1:1") is None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAPERLAB_IB_PORT", str(port))
        with pytest.raises(SpecError, match=r"^venue: an ib-paper session \(s-ib-1\) is already running"):
            preflight(spec, led)


def test_ib_fixed_rate_commission() -> None:
    from decimal import Decimal as D

    from kernelext.venues.ib.backtest import ib_commission

    assert ib_commission(D(24), D("405.94")) == D("1.00")  # the minimum
    assert ib_commission(D(1000), D("50")) == D("5.00")  # 0.005 a share
    assert ib_commission(D(100), D("0.50")) == D("0.50")  # at most 1 % of the value


def test_gateway_monitor_records_transitions_on_its_own() -> None:
    from kernelext.venues.ib.health import stop_watching, watch_gateway
    from tests.helpers import wait_for

    led = Ledger()
    with TwsPeer(accounts=("DU1234567",)) as peer:
        target = GatewayTarget(port=peer.port, client_id=33)
        watch_gateway(led, target, interval_min=0.01, timeout=2)  # every 0.6 s here (15 min by default)
        try:
            wait_for(lambda: latest_health(led, target.where), "the first check", timeout=15)
            assert latest_health(led, target.where).state == "ok"
            peer.stop()
            wait_for(lambda: latest_health(led, target.where).state == "off", "the monitor to see it down", timeout=15)
        finally:
            stop_watching(target)
    states = [r["state"] for r in led.gateway_health(target.where, limit=10)]
    assert states == ["off", "ok"]
