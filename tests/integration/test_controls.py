"""Session controls on a real TradingNode (replay feed, sandbox execution), from Python.

Every test drives a ``SessionRunner`` the way a notebook user would and checks what
the user sees: fills and positions in the node's cache while it runs, rows in the
ledger (read back through ``kernelext.research.frames``), the runner's status and state.
Sessions that must stay alive while we act on them replay 1-minute bars at a real
speed (600-1200 x, i.e. 10-20 bars per wall second); bounded ones use
``speed="max"`` with ``max_bars``. Waits poll with generous deadlines; nothing
asserts on elapsed time.
"""

from __future__ import annotations

from tests.helpers import wait_for as _wait_for

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import kernelext
from kernelext import frames
from kernelext.session.runner import SessionRunner
from kernelext.spec import SessionSpec, build_spec, make_sleeve
from kernelext.strategies import PaperStrategy, PaperStrategyConfig, registry

DEADLINE_S = 45.0
FAST_EMA = {"fast": 2, "slow": 5}  # flips often on 1-minute replay bars


# -- helpers ----------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    """Poll ``predicate`` until it is truthy; fail (saying what we waited for) at the deadline."""
    return _wait_for(predicate, what, timeout, interval=0.02)


def ema_spec(speed: float | str = 600, name: str | None = None, instrument: str = "BTC/USD", **options: Any) -> SessionSpec:
    return build_spec(sleeves=[make_sleeve("ema_cross", instrument, params=FAST_EMA, name=name)], speed=speed, **options)


def extras(df_row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(df_row["extras_json"]) if df_row["extras_json"] else {}


def stage_rows(runner: SessionRunner, stage: str) -> list[dict[str, Any]]:
    return frames.events(runner.session_id, stage, ledger=runner.ledger).to_dicts()


def ledger_session(runner: SessionRunner) -> dict[str, Any]:
    rows = frames.sessions(ledger=runner.ledger).filter(session_id=runner.session_id).to_dicts()
    assert len(rows) == 1, f"session {runner.session_id} should have exactly one ledger row"
    return rows[0]


def order_seq(client_order_id: str) -> int:
    """Nautilus client order ids end with a per-strategy counter: O-<date>-<time>-<trader>-<tag>-<n>."""
    return int(client_order_id.rsplit("-", 1)[1])


@pytest.fixture
def runners(paperlab_home) -> Iterator[list[SessionRunner]]:
    """Runners started by a test; whatever is still alive at the end is stopped."""
    started: list[SessionRunner] = []
    yield started
    for r in started:
        if r.is_alive:
            r.stop(timeout=20)


def start(runners: list[SessionRunner], spec: SessionSpec) -> SessionRunner:
    runner = SessionRunner(spec)
    runners.append(runner)
    return runner.start()


def open_positions(runner: SessionRunner) -> list[tuple[str, str, float]]:
    return [(p.id.value, p.side.name, p.quantity.as_double()) for p in runner.node.kernel.cache.positions_open()]


# -- pause / resume ---------------------------------------------------------------------------


def test_pause_denies_new_orders_holds_the_position_and_resume_trades_again(runners) -> None:
    runner = start(runners, ema_spec(speed=1200))
    wait_for(runner.positions, "an open position")

    runner.pause()
    st = runner.status()
    assert runner.state == "paused" and st.state == "paused"
    assert st.trading_state == "HALTED"

    # The first order denied after the pause shows the halt has reached the risk engine; from
    # then on nothing the strategy creates may reach the venue.
    denied_at_pause = st.denied
    wait_for(lambda: runner.status().denied > denied_at_pause, "an order denied while paused")
    base = runner.status()
    held = open_positions(runner)
    assert held, "pause must not close the position"

    wait_for(
        lambda: (s := runner.status()).bars >= base.bars + 15 and s.denied >= base.denied + 2,
        "more bars and more denied orders while paused",
    )
    paused = runner.status()
    assert paused.bars > base.bars, "bars keep arriving while paused"
    assert paused.orders == base.orders, "no order may be submitted while paused"
    assert paused.fills == base.fills
    assert open_positions(runner) == held, "the position stays open, untouched, while paused"

    assert runner.writer.flush()
    denied = stage_rows(runner, "order.denied")
    assert len(denied) >= 3
    assert all("HALTED" in (extras(r).get("reason") or "") for r in denied), denied
    submitted = stage_rows(runner, "order.submitted")
    assert len(submitted) == paused.orders
    first_denied = min(order_seq(extras(r)["client_order_id"]) for r in denied)
    assert all(order_seq(extras(r)["client_order_id"]) < first_denied for r in submitted), (
        "an order created after the pause took effect was submitted"
    )
    assert ledger_session(runner)["status"] == "paused"

    runner.resume()
    assert runner.state == "running"
    assert runner.status().trading_state == "ACTIVE"
    wait_for(lambda: runner.status().fills > paused.fills, "a new fill after resume")
    resumed = runner.status()
    assert resumed.orders > paused.orders
    assert runner.writer.flush()
    assert len(stage_rows(runner, "order.submitted")) > len(submitted)
    assert frames.fills(runner.session_id, ledger=runner.ledger).height >= resumed.fills  # still trading
    assert ledger_session(runner)["status"] == "running"
    assert [r["stage"] for r in stage_rows(runner, "control.*")] == ["control.pause", "control.resume"]


# -- a test strategy -------------------------------------------------------------------------


class BoomConfig(PaperStrategyConfig, frozen=True):
    """Trades on every live bar, then raises on bar ``boom_after``."""

    boom_after: int = 4


class Boom(PaperStrategy):
    def __init__(self, config: BoomConfig) -> None:
        super().__init__(config)
        self.decisions = 0

    def _decide(self, bar) -> None:
        self.decisions += 1
        if self.decisions >= self.config.boom_after:
            raise RuntimeError("boom on bar")
        self._go_to(1 if self.decisions % 2 else -1)


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register ``boom`` for this test only (the registry is process-wide)."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    kernelext.register("boom")(Boom)
    return "boom"


def events_after(runner: SessionRunner, stage: str) -> list[dict[str, Any]]:
    """The session's events stored after the first ``stage`` event, in the order they were published."""
    ev = frames.events(runner.session_id, ledger=runner.ledger).sort("id").to_dicts()
    first = next(i for i, r in enumerate(ev) if r["stage"] == stage)
    return ev[first + 1 :]


# -- flatten / kill / stop --------------------------------------------------------------------

# After flatten new exposure must be refused: REDUCING while the closes fill, HALTED once flat
# (the runner halts then, because Nautilus's REDUCING lets a strategy re-enter from flat).
NO_NEW_EXPOSURE = {"REDUCING", "HALTED"}


def test_flatten_closes_every_position_and_order(runners) -> None:
    runner = start(runners, ema_spec(speed=600))
    wait_for(runner.positions, "an open position")

    runner.flatten()
    cache = runner.node.kernel.cache
    assert cache.positions_open() == []
    assert cache.orders_open() == []
    st = runner.status()
    assert st.trading_state in NO_NEW_EXPOSURE
    assert st.positions == []
    assert runner.is_alive, "flatten does not stop the session"

    assert runner.writer.flush()
    pos = frames.positions(runner.session_id, ledger=runner.ledger)
    assert pos.height == 1
    assert pos["closed_ts"].null_count() == 0, pos
    assert pos["side"].to_list() == ["FLAT"]
    after = [r["stage"] for r in events_after(runner, "control.flatten")]
    assert "order.filled" in after and "position.closed" in after
    assert not any("incomplete" in r["message"] for r in stage_rows(runner, "control.flatten"))
    assert ledger_session(runner)["status"] == runner.state


def test_flatten_stays_flat_while_the_strategy_keeps_signalling(runners) -> None:
    # Regression: Nautilus's REDUCING only denies orders that ADD to a position; from flat,
    # ema_cross (always long or short) re-entered on the very next bar.
    runner = start(runners, ema_spec(speed=600))
    wait_for(runner.positions, "an open position")
    runner.flatten()
    cache = runner.node.kernel.cache
    assert cache.positions_open() == []
    st = runner.status()
    wait_for(lambda: runner.status().bars >= st.bars + 20, "20 more bars after flatten")
    assert cache.positions_open() == [], "a new position was opened after flatten"
    after = runner.status()
    assert after.fills == st.fills
    assert after.denied > st.denied, "the strategy's re-entries are denied"
    assert after.trading_state in NO_NEW_EXPOSURE


def test_kill_flattens_then_stops(runners) -> None:
    runner = start(runners, ema_spec(speed=600))
    wait_for(runner.positions, "an open position")
    assert runner.node.kernel.cache.positions_open()

    runner.kill()
    assert runner.state == "stopped"
    assert not runner.is_alive
    assert runner.status().positions == []

    # The writer is closed by now: the ledger holds everything.
    row = ledger_session(runner)
    assert row["status"] == "stopped"
    assert row["ended_at"] is not None
    pos = frames.positions(runner.session_id, ledger=runner.ledger)
    assert pos.height == 1
    assert pos["closed_ts"].null_count() == 0, f"a position was left open by kill:\n{pos}"
    assert stage_rows(runner, "control.kill")
    after = [r["stage"] for r in events_after(runner, "control.kill")]
    assert "position.closed" in after
    stopped = stage_rows(runner, "session.stopped")
    assert len(stopped) == 1 and extras(stopped[0])["reason"] == "killed"
    fills = frames.fills(runner.session_id, ledger=runner.ledger)
    net = sum(q if side == "BUY" else -q for side, q in zip(fills["side"], fills["qty"], strict=True))
    assert net == pytest.approx(0.0, abs=1e-9), "fills must net to zero after kill"


def test_kill_leaves_no_position_open_when_a_bar_arrives_before_the_stop(runners) -> None:
    # Regression: kill() = flatten then stop. A bar between the two let the strategy re-enter
    # from flat (REDUCING allows it) and the stop left that position open (about 1 kill in 10 at
    # 10 bars/s, half or more at full speed). Widened here deterministically: the host thread (a
    # busy notebook kernel, the GIL) is descheduled for two bars before it requests the stop.
    runner = start(runners, ema_spec(speed=600))
    wait_for(runner.positions, "an open position")
    request_stop = runner._request_stop

    def request_stop_after_two_bars(reason: str) -> None:
        bars = runner.bars
        wait_for(lambda: runner.bars >= bars + 2, "two bars between flatten and stop")
        request_stop(reason)

    runner._request_stop = request_stop_after_two_bars
    runner.kill()
    assert runner.state == "stopped"
    pos = frames.positions(runner.session_id, ledger=runner.ledger)
    assert pos["closed_ts"].null_count() == 0, f"kill left a position open:\n{pos}"


@pytest.mark.parametrize("account", [{}, {"margin": 3}], ids=["cash", "margin"])
def test_kill_at_full_speed_leaves_the_session_flat(runners, account: dict[str, Any]) -> None:
    # Regression: at --speed max ema_cross flips on almost every bar, and Nautilus's REDUCING
    # passes a SELL that flips a long into a short: the flatten chased the flips for its whole
    # 3 s and kill left a position open ("flatten incomplete"). Closes only pass now.
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], speed="max", **account)
    runner = start(runners, spec)
    wait_for(lambda: runner.fills >= 100 and runner.positions(), "100 fills and an open position")
    runner.kill()
    assert runner.state == "stopped"
    assert not [r for r in stage_rows(runner, "control.flatten") if "incomplete" in r["message"]]
    pos = frames.positions(runner.session_id, ledger=runner.ledger)
    assert pos["closed_ts"].null_count() == 0, f"kill left a position open:\n{pos}"
    fills = frames.fills(runner.session_id, ledger=runner.ledger)
    net = sum(q if side == "BUY" else -q for side, q in zip(fills["side"], fills["qty"], strict=True))
    assert net == pytest.approx(0.0, abs=1e-9), "fills must net to zero after kill"


def test_stop_leaves_the_position_open(runners) -> None:
    runner = start(runners, ema_spec(speed=600))
    wait_for(runner.positions, "an open position")
    before = runner.node.kernel.cache.positions_open()
    assert before  # ema_cross is always long or short once in: it never goes flat by itself
    ids = {p.id.value for p in before}

    runner.stop()
    assert runner.state == "stopped"
    assert not runner.is_alive

    assert ledger_session(runner)["status"] == "stopped"
    pos = frames.positions(runner.session_id, ledger=runner.ledger)
    still_open = pos.filter(pos["closed_ts"].is_null())
    assert set(still_open["position_id"]) == ids, f"stop must leave the position open:\n{pos}"
    assert set(still_open["side"]) <= {"LONG", "SHORT"}
    assert not stage_rows(runner, "control.kill") and not stage_rows(runner, "control.flatten")
    stopped = stage_rows(runner, "session.stopped")
    assert len(stopped) == 1 and extras(stopped[0])["reason"] == "stopped"


def test_duration_auto_stops(runners) -> None:
    runner = start(runners, ema_spec(speed=60, duration="2s"))
    assert runner.stop_at is not None
    assert runner.wait(DEADLINE_S), "the session did not stop by itself"
    assert runner.state == "stopped"
    assert runner.ended_at >= runner.stop_at
    stopped = stage_rows(runner, "session.stopped")
    assert len(stopped) == 1
    assert extras(stopped[0])["reason"] == "auto-stop"
    assert ledger_session(runner)["status"] == "stopped"


# -- a strategy that raises -------------------------------------------------------------------


def test_strategy_that_raises_ends_in_error_and_the_process_lives_on(runners, boom) -> None:
    spec = build_spec(sleeves=[make_sleeve(boom, "BTC/USD")], speed="max", max_bars=300)
    runner = start(runners, spec)
    assert runner.wait(DEADLINE_S), "the failing session did not end"
    assert runner.state == "error"
    assert "boom on bar" in (runner.last_error or "")
    assert runner.fills >= 1, "Boom trades before it raises"
    assert runner.session_id not in SessionRunner.live()

    row = ledger_session(runner)
    assert row["status"] == "error"
    assert "boom on bar" in (row["last_error"] or "")
    errors = stage_rows(runner, "session.error")
    assert len(errors) == 1 and "boom on bar" in errors[0]["message"]

    # The process (the notebook kernel) is fine: the next session runs and fills.
    after = start(runners, ema_spec(speed="max", max_bars=200))
    assert after.wait(DEADLINE_S)
    assert after.state == "stopped", after.last_error
    assert after.fills > 0
    assert frames.fills(after.session_id, ledger=after.ledger).height == after.fills
    assert ledger_session(after)["status"] == "stopped"


# -- several sessions in one process ----------------------------------------------------------


def test_two_sessions_side_by_side_do_not_cross_talk(runners) -> None:
    a = start(runners, ema_spec(speed=1200, name="A-ema"))
    b = start(
        runners,
        build_spec(
            sleeves=[make_sleeve("tsmom", "BTC/USD", params={"lookback": 3}, name="B-tsmom")],
            speed=1200,
            seed=3,
        ),
    )
    assert a.session_id != b.session_id and a.trader_id != b.trader_id
    wait_for(lambda: a.fills >= 3 and b.fills >= 3, "fills in both sessions")
    assert a.is_alive and b.is_alive, "both sessions run at the same time"
    # Each node's cache holds only its own strategy's orders.
    assert {o.strategy_id.value for o in a.node.kernel.cache.orders()} == {"EmaCross-001"}
    assert {o.strategy_id.value for o in b.node.kernel.cache.orders()} == {"Tsmom-001"}

    a.stop()
    b.stop()
    assert a.state == b.state == "stopped"
    for runner, sleeve in ((a, "A-ema"), (b, "B-tsmom")):
        fills = frames.fills(runner.session_id, ledger=runner.ledger)
        assert fills.height == runner.fills >= 3
        assert set(fills["session_id"]) == {runner.session_id}
        assert set(fills["sleeve"]) == {sleeve}
        orders = frames.orders(runner.session_id, ledger=runner.ledger)
        assert set(orders["sleeve"]) == {sleeve}
    ids = set(frames.sessions(ledger=a.ledger)["session_id"])
    assert ids == {a.session_id, b.session_id}
    statuses = dict(frames.sessions(ledger=a.ledger).select("session_id", "status").iter_rows())
    assert statuses == {a.session_id: "stopped", b.session_id: "stopped"}


def test_a_session_starting_while_another_starts_is_not_marked_crashed(runners) -> None:
    # Regression: start() ran ledger.mark_crashed(live_ids=_live) before the new session was in
    # _live, so a session started from another thread in that window marked it 'crashed'.
    # Deterministic reproduction of two threads starting sessions at the same moment: B starts
    # exactly when A has written its ledger row but has not yet registered itself as live
    # (A's hub delivers 'session.starting' in that window; a hub sink may run any code).
    a = SessionRunner(ema_spec(speed=600, name="A-ema"))
    b = SessionRunner(ema_spec(speed=600, name="B-ema", instrument="ETH/USD"))
    runners.extend([a, b])

    def start_b_now(event) -> None:
        if event.stage == "session.starting" and b._thread is None:
            b.start()

    a.hub.add_sink(start_b_now)
    a.start()
    assert b.is_alive
    wait_for(lambda: a.fills >= 1 and b.fills >= 1, "fills in both sessions")
    assert a.writer.flush() and b.writer.flush()
    statuses = dict(frames.sessions(ledger=a.ledger).select("session_id", "status").iter_rows())
    assert statuses == {a.session_id: "running", b.session_id: "running"}


# -- drawdown halt ----------------------------------------------------------------------------


def test_max_drawdown_halts_trading(runners) -> None:
    # 0.01 % of 100,000 USD is 10 USD: the first fill's fee alone crosses it.
    runner = start(runners, ema_spec(speed=600, max_drawdown_pct=0.01))
    wait_for(lambda: runner.status().trading_state == "HALTED", "the drawdown halt")
    st = runner.status()
    assert st.fills >= 1
    assert runner.state == "running", "a drawdown halt stops trading, not the session"

    denied = st.denied
    wait_for(lambda: runner.status().denied > denied, "an order denied after the halt")
    assert runner.status().orders == st.orders

    assert runner.writer.flush()
    halted = stage_rows(runner, "risk.halted")
    assert len(halted) == 1
    x = extras(halted[0])
    assert x["drawdown_pct"] >= 0.01
    assert x["equity"] < x["peak_equity"]
    reasons = [extras(r).get("reason") or "" for r in stage_rows(runner, "order.denied")]
    assert reasons and all("HALTED" in r for r in reasons)
