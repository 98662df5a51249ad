"""The comparison's HTML export in Debian's chromium: the metric table and the assessment show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kernelext.research.compare import METRICS, compare
from kernelext.ledger import Ledger
from tests.browser.conftest import screenshot
from tests.test_compare import BT, BT_FILLS, PAPER_FILLS, PP, write_run


def test_html_export_in_chromium(page: Any, paperlab_home: Path, tmp_path: Path) -> None:
    led = Ledger()
    try:
        write_run(led, BT, "backtest", BT_FILLS, 0.1)
        write_run(led, PP, "paper", PAPER_FILLS, 0.3)
        comparison = compare(BT, PP, ledger=led)
    finally:
        led.close()
    path = tmp_path / "compare.html"
    comparison.to_html(path)

    page.goto(path.resolve().as_uri())
    table = page.locator("table.metrics")
    table.wait_for(state="visible", timeout=20_000)
    metric_cells = table.locator("td.k")
    assert metric_cells.all_inner_texts() == list(METRICS)
    for metric in ("trades", "win_rate", "avg_slippage_bps", "realized_pnl", "fees"):
        assert table.get_by_text(metric, exact=True).is_visible()
    headers = table.locator("th").all_inner_texts()
    assert headers[1:] == comparison.columns

    verdict = page.locator(".verdict.degrades")
    assert verdict.is_visible()
    text = verdict.inner_text()
    assert "degrades vs the backtest" in text
    assert "fewer trades: 2 vs 3" in text
    assert "higher slippage: 36.5 bps vs 0.0 bps" in text
    assert "higher fees: 0.60 per trade vs 0.20" in text
    assert page.get_by_text(BT, exact=True).is_visible() and page.get_by_text(PP, exact=True).is_visible()
    shot = screenshot(page, "compare-export")
    assert shot.exists() and shot.stat().st_size > 5_000
