"""Charts in Debian's chromium: the served dashboard's price chart with its fill markers, and the
comparison page (``compare --html``) with the equity overlay and each run's price chart.

Screenshots go to a ``chart-screenshots`` folder under pytest's tmp dir; their paths are printed.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kernelext
from kernelext import api, frames
from tests.browser.conftest import serving
from widgets.price_chart import BUY, SELL

GRID = {"step_pct": 0.1, "levels": 2}
TIGHT_GRID = {"step_pct": 0.05, "levels": 2}  # on the replay feed: fills both ways within its first dozen bars
FILLS_JS = """() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  for (const doc of docs) {
    const src = doc.get_model_by_name('paperlab-fill-markers');
    if (src) { return Array.from(src.data.side || []); }
  }
  return null;
}"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chart-screenshots")


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def pixels_of(png: bytes, color: str, tol: int = 8) -> int:
    """How many pixels of a PNG are ``color`` (within ``tol`` per channel)."""
    from PIL import Image

    want = _rgb(color)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(n for n, px in img.getcolors(img.width * img.height) if all(abs(a - b) <= tol for a, b in
                                                                              zip(px, want, strict=True)))


def distinct_colors(png: bytes) -> int:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    return len(img.getcolors(img.width * img.height))


@pytest.fixture
def running_grid(paperlab_home: Path) -> Iterator[Any]:
    """A grid session running in this process (600x: 10 bars a wall second), killed afterwards."""
    runner = kernelext.start("grid", "BTC/USD", params=TIGHT_GRID, speed=600, max_bars=3000)
    try:
        yield runner
    finally:
        runner.stop()


def test_dashboard_price_chart_with_fill_markers(page: Any, free_port: int, paperlab_home: Path,
                                                 running_grid: Any, shots: Path) -> None:
    sid = running_grid.session_id
    deadline = time.monotonic() + 120
    while (fills := frames.fills(sid)).height < 6 or set(fills["side"]) != {"BUY", "SELL"}:  # filled both ways
        assert time.monotonic() < deadline and running_grid.state == "running", "no buy and sell fills"
        time.sleep(0.5)
    with serving(free_port, paperlab_home) as url:
        page.goto(url, wait_until="domcontentloaded")
        chart = page.locator(".paperlab-price-chart").first
        chart.wait_for(state="visible", timeout=90_000)
        page.locator(".paperlab-price-chart canvas").first.wait_for(state="visible", timeout=60_000)
        deadline = time.monotonic() + 60
        while True:  # the browser's own copy of the fill markers' source holds both sides
            sides = page.evaluate(FILLS_JS)
            if sides and {"BUY", "SELL"} <= set(sides):
                break
            assert time.monotonic() < deadline, f"fill markers never reached the browser: {sides}"
            time.sleep(0.5)
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)  # a last render of the canvas
        path = shots / "dashboard-price-chart.png"
        png = chart.screenshot(path=str(path), timeout=20_000, animations="disabled")
        page.screenshot(path=str(shots / "dashboard-full.png"), timeout=20_000, animations="disabled",
                        full_page=True)
    print(f"\ndashboard price chart screenshot: {path}\ndashboard page: {shots / 'dashboard-full.png'}")
    from PIL import Image

    width, height = Image.open(io.BytesIO(png)).size
    assert width > 600 and height > 250
    assert distinct_colors(png) > 50, "the chart is blank"
    assert pixels_of(png, BUY) > 20, "no buy (green) fill markers drawn"
    assert pixels_of(png, SELL) > 20, "no sell (red) fill markers drawn"


def test_compare_report_with_both_charts(page: Any, paperlab_home: Path, shots: Path) -> None:
    runner = kernelext.start("grid", "BTC/USD", params=GRID, speed="max", max_bars=1500)
    assert runner.wait(90) and runner.state == "stopped", runner.last_error
    backtest = api.backtest(like=runner.session_id)
    report = shots / "compare.html"
    comparison = api.compare(backtest, runner.session_id, html=str(report))

    page.goto(report.resolve().as_uri())
    figures = page.locator("figure.chart")
    figures.first.wait_for(state="visible", timeout=20_000)
    assert figures.count() == 3
    captions = figures.locator("figcaption").all_inner_texts()
    bt_name, paper_name = comparison.columns
    assert captions[0] == f"Equity curves: {bt_name} vs {paper_name}"
    assert captions[1].startswith(f"Price and fills: {bt_name}") and captions[2].startswith(
        f"Price and fills: {paper_name}")
    images = page.locator("figure.chart img")
    for i in range(3):
        img = images.nth(i)
        assert img.is_visible()
        assert img.evaluate("i => i.complete && i.naturalWidth") > 500
    path = shots / "compare-report.png"
    page.screenshot(path=str(path), timeout=20_000, animations="disabled", full_page=True)
    equity_png = images.nth(0).screenshot(path=str(shots / "compare-equity.png"), timeout=20_000)
    price_png = images.nth(2).screenshot(path=str(shots / "compare-price-paper.png"), timeout=20_000)
    print(f"\ncompare report screenshot: {path}\ncompare page: {report}")
    assert distinct_colors(equity_png) > 20 and distinct_colors(price_png) > 20
    assert pixels_of(price_png, "#1a7f37", tol=30) > 10 and pixels_of(price_png, "#cf222e", tol=30) > 10
