"""The crypto sandbox is a spot cash account, as Kraken's is without margin trading: buys up to
the free USD, sells up to the BTC held, no shorting, equity never below zero; a backtest of
the same run (``backtest --like``) gives the same fills."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

import kernelext
from kernelext import frames
from kernelext.session.runner import SessionRunner


@pytest.fixture(scope="module")
def thin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionRunner]:
    """ema_cross trading 5,000 USD a time from 6,000 USD: fees bleed it until buys are refused.
    ``runner.cache_sizes``: what Nautilus's cache held as each bar went out (node thread)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAPERLAB_HOME", str(tmp_path_factory.mktemp("cash-home")))
        runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed="max",
                                 max_bars=3000, starting_cash="6000 USD")
        runner.cache_sizes = []
        runner.venue_session.replay.on_bar_sent = lambda bar: runner.cache_sizes.append(_cache_sizes(runner))
        assert runner.wait(180) and runner.state == "stopped", runner.last_error
        yield runner


def _cache_sizes(runner: SessionRunner) -> dict[str, int]:
    cache = runner.node.kernel.cache
    return {"orders": len(cache.orders()), "positions": len(cache.positions()),
            "account_events": sum(a.event_count for a in cache.accounts())}


def test_a_spot_account_never_shorts_never_overdraws_and_says_why_it_refused(thin: SessionRunner) -> None:
    sid = thin.session_id
    assert any("spot cash account" in n for n in thin.notes)
    eq = frames.equity(sid)
    assert eq["equity"].min() >= 0 and eq["balance"].min() >= 0
    assert set(frames.positions(sid)["side"]) <= {"LONG", "FLAT"}
    balances = thin.telemetry.balances
    assert set(balances) == {"USD", "BTC"} and min(balances.values()) >= 0
    orders = frames.orders(sid)
    denied = orders.filter(status="DENIED")
    assert denied.height > 0, "the account never ran short of USD"
    assert all(r.startswith("insufficient USD balance: needs ") for r in denied["reason"])
    assert thin.status().denied == denied.height
    filled = frames.fills(sid)
    # every buy it could pay for: a refused buy needed more than the USD free at the time
    assert filled.filter(side="SELL")["qty"].sum() <= filled.filter(side="BUY")["qty"].sum() + 1e-9


def test_a_replay_purges_what_closed_from_the_cache_and_the_ledger_keeps_it(thin: SessionRunner) -> None:
    """Closed orders, closed positions and old account events leave Nautilus's cache every 15
    minutes of market time (one-minute bars: at most one order a bar in between)."""
    sizes = thin.cache_sizes
    assert len(sizes) > 2000  # seen as the replay went
    orders = frames.orders(thin.session_id)
    assert orders.height > 150 and orders.filter(status="DENIED").height == thin.status().denied  # 5x what it ever caches
    assert max(s["orders"] for s in sizes) <= 2 * 15
    assert max(s["positions"] for s in sizes) <= 1  # NETTING: one position, open or just closed
    assert max(s["account_events"] for s in sizes) <= 2 * 15


def test_the_same_run_as_a_backtest_gives_the_same_fills(thin: SessionRunner) -> None:
    bt = kernelext.backtest(like=thin.session_id)
    paper, back = frames.fills(thin.session_id), frames.fills(bt)
    cols = ["side", "qty", "price", "fee"]
    assert paper.height > 0 and paper.select(cols).equals(back.select(cols))
    assert frames.orders(bt).filter(status="DENIED").height == frames.orders(thin.session_id).filter(status="DENIED").height


def test_margin_on_replay_shorts_and_its_backtest_gives_the_same_fills(paperlab_home) -> None:
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed="max", max_bars=600,
                             margin=2)
    assert runner.wait(120) and runner.state == "stopped", runner.last_error
    sid = runner.session_id
    assert any("Kraken margin x2" in n for n in runner.notes)
    assert "SHORT" in set(frames.positions(sid)["side"]) | set(
        frames.events(sid, "position.*")["extras_json"].str.extract(r'"side":"(\w+)"').to_list())
    bt = kernelext.backtest(like=sid)
    cols = ["side", "qty", "price", "fee"]
    assert frames.fills(sid).select(cols).equals(frames.fills(bt).select(cols))


def test_a_fee_tier_charges_its_rates_in_paper_and_backtest(paperlab_home) -> None:
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed="max", max_bars=300,
                             fee_tier="50k")
    assert runner.wait(120) and runner.state == "stopped", runner.last_error
    assert any("0.14% maker / 0.24% taker" in n for n in runner.notes)
    fills = frames.fills(runner.session_id)
    assert fills.height > 0
    for f in fills.iter_rows(named=True):  # market orders: the taker rate of the $50k tier
        assert f["fee"] == pytest.approx(f["qty"] * f["price"] * 0.0024, rel=1e-6, abs=0.011)
    bt = kernelext.backtest(like=runner.session_id)
    assert frames.fills(bt)["fee"].to_list() == fills["fee"].to_list()


def test_a_refused_buy_waits_for_the_next_signal_instead_of_every_bar(thin: SessionRunner) -> None:
    # Once broke, ema_cross stayed in its long regime for many bars and asked again on each:
    # one denied order (and one signal row) per bar. Each signal is tried once now.
    sid = thin.session_id
    denied = frames.orders(sid).filter(status="DENIED")
    longs = frames.events(sid, "signal.emitted").filter(pl.col("message").str.starts_with("ema_cross_long"))
    buys = frames.orders(sid).filter(side="BUY")
    assert denied.height > 0
    assert longs.height == buys.height, "one long signal per buy order, none held back in the ledger"
    ts = longs["ts_ns"].sort()
    steps = ts.diff().drop_nulls()
    assert steps.min() > 60_000_000_000, "a long signal repeated on the very next bar"
