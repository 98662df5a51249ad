"""Backtest vs paper comparison: metrics table, slippage by hand, assessment rules, real sessions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import kernelext
from kernelext.research.compare import METRICS, USAGE, compare, slippage_bps
from kernelext.events import Event
from kernelext.ledger import Ledger

MIN = 60_000_000_000  # one minute in ns
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
INSTRUMENT = "BTC/USD.SIM"
BAR_TYPE = f"{INSTRUMENT}-1-MINUTE-LAST-EXTERNAL"
SLEEVE = "ema_cross:BTC/USD"
CLOSES = [100.0, 101.0, 103.0, 102.0, 104.0, 106.0, 105.0, 107.0, 108.0, 110.0]  # minutes 0..9
# The backtest fills at the signal bar's close: BUY 1 / SELL 2, BUY 4 / SELL 6, BUY 7 / SELL 9.
BT_FILLS = [("BUY", 1, 101.0), ("SELL", 2, 103.0), ("BUY", 4, 104.0), ("SELL", 6, 105.0),
            ("BUY", 7, 107.0), ("SELL", 9, 110.0)]
# The paper run misses the third trade and pays worse than the close on every fill.
PAPER_FILLS = [("BUY", 1, 101.5), ("SELL", 2, 102.5), ("BUY", 4, 104.4), ("SELL", 6, 104.9)]
SIGNAL_MINUTES = [1, 2, 4, 6, 7, 9]
BT, PP, LV, S1 = "20260101-000000-bt0001", "20260101-000100-pp0002", "20260101-000200-lv0003", "s-1"


@pytest.fixture
def ledger(paperlab_home: Path) -> Iterator[Ledger]:
    """A ledger in a fresh PAPERLAB_HOME."""
    led = Ledger()
    yield led
    led.close()


def new_session(led: Ledger, sid: str, kind: str, status: str = "stopped", started: int = T0) -> None:
    """One sleeve on BTC/USD.SIM 1-minute bars."""
    led.create_session(
        sid, label=f"{kind} ema", kind=kind, venue="sandbox", feed="replay", spec={}, started_at=started,
        status=status,
        sleeves=[{"sleeve": SLEEVE, "strategy_key": "ema_cross", "instrument": INSTRUMENT,
                  "bar_spec": "1-MINUTE-LAST", "params": {}, "strategy_id": "EmaCross-001"}],
    )


def fill(sid: str, n: int, side: str, minute: float, px: float, fee: float, qty: float = 1.0) -> Event:
    """An order.filled envelope."""
    return Event(sid, SLEEVE, "order.filled", f"{side} {qty} @ {px}", T0 + int(minute * MIN), {
        "client_order_id": f"O-{n}", "instrument": INSTRUMENT, "side": side, "order_type": "MARKET",
        "quantity": qty, "price": None, "status": "FILLED", "strategy_id": "EmaCross-001",
        "trade_id": f"T-{n}", "venue_order_id": f"V-{n}", "position_id": "P-1", "last_qty": qty,
        "last_px": px, "commission": fee, "commission_currency": "USD", "liquidity": "TAKER",
    })


def signal(sid: str, minute: float) -> Event:
    """A signal.emitted envelope of the sleeve at ``minute``."""
    return Event(sid, SLEEVE, "signal.emitted", "ema_cross_long", T0 + int(minute * MIN),
                 {"signal": "ema_cross_long", "value": 1.0, "reason": "test"})


def bars(sid: str, closes: list[float], first_minute: int = 0) -> Event:
    """A bar.batch envelope: one warm-up bar before, then ``closes`` one per minute."""
    rows = [(BAR_TYPE, T0 + (first_minute - 1) * MIN, 99.0, 99.0, 99.0, 99.0, 1.0, 1)]
    rows += [(BAR_TYPE, T0 + (first_minute + i) * MIN, c, c, c, c, 1.0, 0) for i, c in enumerate(closes)]
    return Event(sid, None, "bar.batch", f"{len(rows)} bars", rows[-1][1], {"bars": rows})


def equity(sid: str, values: list[float]) -> Event:
    """An equity.batch envelope: one point per minute."""
    points = [(T0 + i * MIN, v, v, v, 0.0, v - 1000.0, 0.0) for i, v in enumerate(values)]
    return Event(sid, None, "equity.batch", "equity", points[-1][0], {"currency": "USD", "points": points})


def write_run(led: Ledger, sid: str, kind: str, fills: list[tuple[str, float, float]], fee: float,
              *, first_minute: int = 0, status: str = "stopped") -> None:
    """A whole run: session, bars, signals, fills and equity."""
    new_session(led, sid, kind, status=status)
    events = [bars(sid, CLOSES, first_minute), equity(sid, [1000.0, 1002.0, 1001.0, 1004.0])]
    events += [signal(sid, m + first_minute) for m in SIGNAL_MINUTES]
    events += [fill(sid, i, side, m + first_minute, px, fee) for i, (side, m, px) in enumerate(fills)]
    led.write_events(events)


def hand_slippage(fills: list[tuple[str, float, float]]) -> list[float]:
    """side_sign * (px - close) / close * 1e4 per fill, the signal bar being the fill's minute."""
    return [(1 if side == "BUY" else -1) * (px - CLOSES[m]) / CLOSES[m] * 1e4 for side, m, px in fills]


# -- errors -----------------------------------------------------------------------------------
def test_one_line_errors(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    with pytest.raises(ValueError) as err:
        compare(BT, ledger=ledger)
    assert str(err.value) == USAGE == "compare: give 2 or 3 sessions (backtest, paper[, live])"
    with pytest.raises(ValueError, match="compare: give 2 or 3"):
        compare("a", "b", "c", "d", ledger=ledger)
    with pytest.raises(ValueError, match="no session matches 'nope'"):
        compare(BT, "nope", ledger=ledger)


# -- identical runs ---------------------------------------------------------------------------
def test_identical_fills_match(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    write_run(ledger, PP, "paper", BT_FILLS, 0.1)
    c = compare("20260101-0000", "20260101-0001", ledger=ledger)  # prefixes
    assert [r.session_id for r in c.runs] == [BT, PP]
    assert c.assessment.startswith("paper run paper ema pp0002 matches the backtest")
    assert "Likely reasons" not in c.assessment and "Notes" not in c.assessment
    assert c.verdicts[0].outcome == "matches"
    assert c.table.columns == ["metric", "backtest ema bt0001 (backtest)", "paper ema pp0002 (paper)"]
    assert c.table["metric"].to_list() == list(METRICS)
    bt, pp = c.table.columns[1:]
    assert c.table[bt].to_list() == c.table[pp].to_list()


def test_latest_and_reference_is_the_backtest(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    new_session(ledger, PP, "paper", started=T0 + MIN)
    ledger.write_events([bars(PP, CLOSES)])
    c = compare("latest", BT, ledger=ledger)
    assert c.runs[c.reference].session_id == BT
    assert c.verdicts[0].run.session_id == PP
    assert "degrades vs the backtest" in c.assessment
    assert "fewer trades: 0 vs 3 (0 fills vs 6)" in c.assessment


# -- a degraded paper run -------------------------------------------------------------------
@pytest.fixture
def degraded(ledger: Ledger) -> Ledger:
    """Backtest: 3 trades at the signal closes, fee 0.1/fill. Paper: 2 trades, worse prices, fee 0.3/fill."""
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    write_run(ledger, PP, "paper", PAPER_FILLS, 0.3)
    return ledger


def test_slippage_by_hand(degraded: Ledger) -> None:
    expected = hand_slippage(PAPER_FILLS)
    # BUY 101.5 vs 101: +49.50 bps; SELL 102.5 vs 103: +48.54; BUY 104.4 vs 104: +38.46; SELL 104.9 vs 105: +9.52
    assert expected == pytest.approx([49.504950, 48.543689, 38.461538, 9.523810], abs=1e-5)
    assert slippage_bps(degraded, PP) == pytest.approx(expected)
    assert slippage_bps(degraded, BT) == pytest.approx([0.0] * 6)


def test_slippage_falls_back_to_the_last_bar_before_the_fill(ledger: Ledger) -> None:
    new_session(ledger, S1, "paper")
    ledger.write_events([
        bars(S1, CLOSES),
        fill(S1, 0, "BUY", 0.5, 200.0, 0.0),  # no signal before it: not measured
        signal(S1, 2.5),  # between bars: no bar at the signal ts
        fill(S1, 1, "SELL", 3.2, 101.0, 0.0),  # last bar at or before 3.2 is minute 3 (102)
    ])
    assert slippage_bps(ledger, S1) == pytest.approx([-(101.0 - 102.0) / 102.0 * 1e4])


def test_table_numbers(degraded: Ledger) -> None:
    c = compare(BT, PP, ledger=degraded)
    rows = {r["metric"]: r for r in c.table.to_dicts()}
    bt, pp = c.columns
    assert (rows["trades"][bt], rows["trades"][pp]) == (3.0, 2.0)
    assert (rows["fills"][bt], rows["fills"][pp]) == (6.0, 4.0)
    assert rows["fees"][bt] == pytest.approx(0.6) and rows["fees"][pp] == pytest.approx(1.2)
    assert rows["fees_per_trade"][bt] == pytest.approx(0.2) and rows["fees_per_trade"][pp] == pytest.approx(0.6)
    # backtest: (103-101) + (105-104) + (110-107) - 0.6 = 5.4; paper: (102.5-101.5) + (104.9-104.4) - 1.2 = 0.3
    assert rows["realized_pnl"][bt] == pytest.approx(5.4) and rows["realized_pnl"][pp] == pytest.approx(0.3)
    assert rows["win_rate"][bt] == 1.0 and rows["win_rate"][pp] == 0.5
    assert rows["avg_slippage_bps"][bt] == pytest.approx(0.0)
    assert rows["avg_slippage_bps"][pp] == pytest.approx(sum(hand_slippage(PAPER_FILLS)) / 4)
    assert (rows["bars"][bt], rows["bars"][pp]) == (10.0, 10.0)  # warm-up bars not counted
    assert (rows["bars_matching_ref"][bt], rows["bars_matching_ref"][pp]) == (10.0, 10.0)
    assert rows["max_drawdown"][bt] == pytest.approx(1.0)
    assert rows["max_drawdown_pct"][bt] == pytest.approx(1.0 / 1002.0 * 100)


def test_degraded_paper_reasons(degraded: Ledger) -> None:
    c = compare(BT, PP, ledger=degraded)
    text = c.assessment
    avg = sum(hand_slippage(PAPER_FILLS)) / 4  # 36.51 bps
    assert f"{avg:.1f}" == "36.5"
    assert text.splitlines()[0] == (
        "paper run paper ema pp0002 degrades vs the backtest: realized P&L net of fees 0.30 vs 5.40 (-5.10),"
        " trades 2 vs 3."
    )
    assert "Likely reasons:" in text
    assert "- fewer trades: 2 vs 3 (4 fills vs 6)" in text
    assert "- higher slippage: 36.5 bps vs 0.0 bps on average against the signal bar's close" in text
    assert "- higher fees: 0.60 per trade vs 0.20 (total 1.20 vs 0.60)" in text
    assert "- lower win rate: 50.0% vs 100.0%" in text
    assert "different data" not in text and "running" not in text


def test_better_paper_run(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", PAPER_FILLS, 0.3)
    write_run(ledger, PP, "paper", BT_FILLS, 0.1)
    text = compare(BT, PP, ledger=ledger).assessment
    assert "is better than the backtest" in text
    assert "- more trades: 3 vs 2" in text
    assert "- lower slippage: 0.0 bps vs 36.5 bps" in text
    assert "- lower fees: 0.20 per trade vs 0.60" in text
    assert "- higher win rate: 100.0% vs 50.0%" in text
    assert "Other differences" not in text


def test_differences_that_cannot_explain_the_verdict_are_listed_apart(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    write_run(ledger, PP, "paper", PAPER_FILLS, 0.0)  # worse prices, no fees at all
    text = compare(BT, PP, ledger=ledger).assessment
    assert "degrades vs the backtest" in text
    assert text.index("Likely reasons:") < text.index("- higher slippage") < text.index("Other differences:")
    assert text.index("Other differences:") < text.index("- lower fees: 0.00 per trade vs 0.20 (total 0.00 vs 0.60)")


def test_different_bar_periods(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    write_run(ledger, PP, "paper", BT_FILLS, 0.1, first_minute=60)  # same prices, an hour later
    c = compare(BT, PP, ledger=ledger)
    assert c.verdicts[0].outcome == "matches"  # identical fills
    assert (
        "- different data: period 2026-01-01 01:00 -> 2026-01-01 01:09 UTC"
        " vs 2026-01-01 00:00 -> 2026-01-01 00:09 UTC"
    ) in c.assessment
    assert "Notes:" in c.assessment
    assert c.table.filter(metric="bars_matching_ref").row(0)[1:] == (10.0, 0.0)


def test_different_bar_counts_and_prices(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    new_session(ledger, PP, "paper")
    ledger.write_events([bars(PP, [c + 1 for c in CLOSES[:8]])])
    text = compare(BT, PP, ledger=ledger).assessment
    assert "different data: 8 bars vs 10; period 2026-01-01 00:00 -> 2026-01-01 00:07 UTC vs" in text
    assert "only 0 of 8 bars at the same times have the same prices" in text


def test_running_and_crashed_runs(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    write_run(ledger, PP, "paper", BT_FILLS, 0.1, status="running")  # pid = us, no live runner
    write_run(ledger, LV, "live", BT_FILLS, 0.1, status="running")
    with ledger.transaction() as con:  # a session on another host: we cannot tell, it counts as running
        con.execute("UPDATE sessions SET host = 'elsewhere' WHERE id = ?", (LV,))
    c = compare(BT, PP, LV, ledger=ledger)
    assert len(c.verdicts) == 2 and len(c.table.columns) == 4
    paper, live = (v.text() for v in c.verdicts)
    assert "paper run pp0002 crashed (process" in paper
    assert "live run lv0003 is still running: its numbers are not final" in live
    assert c.assessment == paper + "\n\n" + live


def test_html_export(degraded: Ledger, tmp_path: Path) -> None:
    c = compare(BT, PP, ledger=degraded)
    path = tmp_path / "cmp.html"
    page = c.to_html(path)
    assert path.read_text(encoding="utf-8") == page
    assert "<script" not in page and "http" not in page.replace('lang="en"', "")
    assert "<style>" in page
    for m in METRICS:
        assert f">{m}<" in page
    assert "degrades vs the backtest" in page and "higher slippage: 36.5 bps" in page
    assert BT in page and PP in page and "sandbox" in page and "replay" in page
    assert "2026-01-01 00:00 -&gt; 2026-01-01 00:09 UTC" in page


def test_compare_view(degraded: Ledger) -> None:
    import panel as pn

    from widgets.compare_view import CompareView, assessment_markdown

    view = CompareView(BT, PP, ledger=degraded)
    layout = view.panel()
    table = layout.select(pn.widgets.Tabulator)[0]
    assert list(table.value["metric"]) == list(METRICS)
    md = assessment_markdown(view.comparison)
    assert "**paper run paper ema pp0002 degrades vs the backtest" in md and "\n\n- fewer trades: 2 vs 3" in md
    download = layout.select(pn.widgets.FileDownload)[0]
    assert download.filename == "compare-bt0001-pp0002.html"
    assert b"degrades vs the backtest" in view._html_file().read()


# -- real sessions ----------------------------------------------------------------------------
def test_real_sessions_with_different_seeds(paperlab_home: Path) -> None:
    runs = []
    for seed in (3, 4):
        runner = kernelext.start("ema_cross", "BTC/USD", speed="max", max_bars=800, seed=seed, feed="replay")
        assert runner.wait(120), "the replay session did not finish"
        runs.append(runner.session_id)
    c = compare(*runs)
    rows = {r["metric"]: r for r in c.table.to_dicts()}
    first, second = c.columns
    assert rows["bars"][first] == rows["bars"][second] == 800.0
    assert rows["bars_matching_ref"][first] == 800.0
    assert rows["bars_matching_ref"][second] < 800.0  # another seed, other prices
    assert rows["fills"][first] > 0 and rows["fills"][second] > 0
    assert "different data:" in c.assessment
    assert "bars at the same times have the same prices" in c.assessment
    assert c.verdicts[0].outcome in ("degrades", "better")
    assert "the reference paper run" in c.assessment
