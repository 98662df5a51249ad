"""SessionFeed: a session running here is pushed by its hub and completed by the ledger, each event once;
the ledger's change check; the hub's wake-up."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import kernelext
from kernelext.events import Event
from kernelext.ledger import Ledger
from widgets.feed import LedgerFeed
from widgets.live_feed import Ahead, SessionFeed, hub_envelopes, twin_key

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def _keys(envelopes: list[dict]) -> Counter:
    return Counter(twin_key(e) for e in envelopes)


def test_a_session_here_is_pushed_and_every_event_comes_once(paperlab_home: Path) -> None:
    woken = []
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed=600, duration="10s")
    try:
        feed = SessionFeed(runner.session_id, wake=lambda event: woken.append(event.stage))
        got = feed.poll()  # the history, then the hub is subscribed
        assert feed.pushed
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (runner.state in ("starting", "running") or not feed.idle):
            got += feed.poll()
            time.sleep(0.02)
        assert runner.wait(30) and runner.state == "stopped", runner.last_error
        for _ in range(3):  # the ledger's last copies
            time.sleep(0.2)
            got += feed.poll()
    finally:
        runner.kill()
    assert not feed.pushed  # the runner is gone: fed by the ledger alone
    assert "order.filled" in woken and feed.taken["hub"] > 0
    everything = LedgerFeed(runner.session_id, history_per_class=1_000_000).poll()
    assert _keys(got) == _keys(everything)  # each event and equity point exactly once
    fills = [e for e in got if e["stage"] == "order.filled"]
    assert fills and len({(e["trade_id"], e["client_order_id"]) for e in fills}) == len(fills)


def test_hub_events_look_like_the_ledgers(paperlab_home: Path) -> None:
    led = Ledger()
    led.create_session("A", label="A", kind="paper", venue="sandbox", feed="replay", spec={}, started_at=T0,
                       status="running", sleeves=[])
    events = [
        Event("A", "s", "order.filled", "BUY 1 BTC/USD @ 10", T0 + 1,
              {"client_order_id": "O-1", "trade_id": "T-1", "last_qty": 1.0, "last_px": 10.0, "side": "BUY"}),
        Event("A", None, "equity.batch", "2 equity points", T0 + 3, {"currency": "USD", "points": [
            (T0 + 2, 100.0, 100.0, 90.0, 0.0, 0.0, 10.0), (T0 + 3, 101.0, 100.0, 90.0, 1.0, 0.0, 10.0)]}),
        Event("A", None, "equity.update", "equity 101.00 USD", T0 + 3, {"equity": 101.0}),  # not stored
        Event("A", None, "bar.batch", "1 bars", T0 + 3, {"bars": [("BTC/USD.KRAKEN-1-MINUTE-LAST-EXTERNAL",
                                                                     T0 + 3, 1.0, 1.0, 1.0, 1.0, 1.0, 0)]}),
    ]
    from_hub = [env for ev in events for env in hub_envelopes(ev)]
    led.write_events([e for e in events if e.stage != "equity.update"])  # what the hub's sink stores
    from_ledger = LedgerFeed("A", led).poll()
    assert _keys(from_hub) == _keys(from_ledger)
    assert [e["stage"] for e in from_hub] == ["order.filled", "equity.update", "equity.update"]
    assert from_hub[0]["trade_id"] == "T-1" and from_hub[2]["equity"] == 101.0
    led.close()


def test_the_ledger_feed_reads_only_when_the_ledger_changed(paperlab_home: Path) -> None:
    led = Ledger()
    led.create_session("A", label="A", kind="paper", venue="sandbox", feed="replay", spec={}, started_at=T0,
                       status="running", sleeves=[])
    feed = LedgerFeed("A", led)
    assert feed.poll() == []
    reads = []
    real = led.query
    led.query = lambda *a, **k: reads.append(a) or real(*a, **k)  # type: ignore[method-assign]
    assert feed.poll() == [] and reads == []  # unchanged: nothing read
    other = Ledger(led.location)  # another connection (as another process would)
    other.write_events([Event("A", None, "session.running", "running", T0, {})])
    assert [e["stage"] for e in feed.poll()] == ["session.running"] and reads
    other.close()
    led.close()


def test_ahead_takes_each_key_once_and_forgets_the_oldest() -> None:
    ahead = Ahead(3)
    for key in ("a", "a", "b"):
        ahead.add(key)
    assert ahead.take("a") and ahead.take("a") and not ahead.take("a")
    for key in ("c", "d", "e"):
        ahead.add(key)
    assert not ahead.take("b")  # forgotten: past the bound
    assert ahead.take("e") and len(ahead) == 2
