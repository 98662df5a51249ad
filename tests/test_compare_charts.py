"""The comparison's HTML page carries its charts: the runs' equity curves overlaid, each run's price with fills."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelext.ledger import Ledger
from kernelext.research import charts
from kernelext.research.compare import compare, sections_html
from tests.test_compare import BT, BT_FILLS, LV, PAPER_FILLS, PP, write_run

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def ledger(paperlab_home: Path) -> Iterator[Ledger]:
    led = Ledger()
    yield led
    led.close()


def figures(page: str) -> list[tuple[str, str, bytes]]:
    """(class, alt text, PNG bytes) of each chart figure of a page."""
    found = re.findall(r'<figure class="chart (\w+)"><img alt="([^"]*)" src="data:image/png;base64,([^"]+)">', page)
    return [(kind, alt, base64.b64decode(png)) for kind, alt, png in found]


def test_the_page_has_the_equity_overlay_and_each_runs_price_chart(ledger: Ledger, tmp_path: Path) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    write_run(ledger, PP, "paper", PAPER_FILLS, 0.3)
    c = compare(BT, PP, ledger=ledger)
    page = c.to_html(tmp_path / "compare.html")
    assert (tmp_path / "compare.html").read_text(encoding="utf-8") == page
    found = figures(page)
    assert [kind for kind, _, _ in found] == ["equity", "price", "price"]
    bt_name, pp_name = c.columns
    assert found[0][1] == f"Equity curves: {bt_name} vs {pp_name}"
    assert found[1][1] == f"Price and fills: {bt_name} (6 fills)"
    assert found[2][1] == f"Price and fills: {pp_name} (4 fills)"
    assert all(png.startswith(PNG) and len(png) > 10_000 for _, _, png in found)
    assert page.index("<h2>Metrics</h2>") < page.index("<h2>Charts</h2>") < page.index("<h2>Runs</h2>")
    assert "<script" not in page  # still one file, no scripts
    assert c.charts is c.charts  # drawn once
    # the session report embeds the comparison's sections without these charts (it draws its own)
    assert "<h2>Charts</h2>" not in sections_html(c) and "<figure" not in sections_html(c)
    assert "<h2>Charts</h2>" in c._repr_html_()


def test_three_runs_of_other_periods_still_overlay(ledger: Ledger) -> None:
    write_run(ledger, BT, "backtest", BT_FILLS, 0.1)
    write_run(ledger, PP, "paper", PAPER_FILLS, 0.3)
    write_run(ledger, LV, "live", [], 0.0, first_minute=600)
    c = compare(BT, PP, LV, ledger=ledger)
    found = figures(c.to_html())
    assert [kind for kind, _, _ in found] == ["equity", "price", "price", "price"]
    assert found[0][1] == "Equity curves: " + " vs ".join(c.columns)
    assert found[3][1] == f"Price and fills: {c.columns[2]} (0 fills)"


def test_overlap_decides_the_time_axis() -> None:
    assert charts._overlap([(0, 10), (5, 20)]) and charts._overlap([(0, 10), (10, 20)])
    assert not charts._overlap([(0, 10), (11, 20)]) and not charts._overlap([])


def test_runs_of_periods_apart_overlay_from_their_starts() -> None:
    import polars as pl

    hour = 3_600_000_000_000

    def curve(start: int) -> pl.DataFrame:
        return pl.DataFrame({"ts_ns": [start, start + hour, start + 2 * hour], "equity": [100.0, 101.0, 99.0],
                             "currency": ["USD"] * 3})

    png = base64.b64decode(charts.equity_overlay_png({"a": curve(0), "b": curve(100 * hour)}))
    assert png.startswith(PNG) and len(png) > 10_000
    assert base64.b64decode(charts.equity_overlay_png({})).startswith(PNG)  # "no equity recorded"
