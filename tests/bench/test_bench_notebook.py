"""Notebook benchmark: a fill's market time -> its row on screen in the dashboard of a JupyterLab
notebook (Debian's chromium).

Run with ``uv run pytest -m bench -o addopts="" -q -s tests/bench/test_bench_notebook.py``.
Prints ``BENCH`` lines (repeated in the terminal summary) and never asserts on speed.

JupyterLab runs as a subprocess on a notebook written for the run: its cells start an
``ema_cross`` session in the kernel (the app benchmark's parameters: fast=1, slow=3,
trade_notional=1000, 1-SECOND-LAST bars, speed 1) and show its ``SessionDashboard``. The session
runs in the kernel, so its hub pushes each fill to the dashboard, which is woken on the kernel's
loop and sends the row through the Jupyter comm (the kernel's websocket) to Tabulator in the
page. The page is watched as in the app benchmark (``tests.bench.screen``); the goal is the
same: fill -> screen p95 <= 250 ms.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelext import frames
from kernelext.ledger import Ledger
from tests.bench import screen
from tests.browser.conftest import chromium_path, free_port, jupyter_lab, page, screenshot, wait_js  # noqa: F401  (fixtures)

MEASURE_S = 40.0  # seconds of fills measured
SETTLE_S = 3.0  # after the window: fills of its last moments still reach the page
PARAMS = {"fast": 1, "slow": 3, "trade_notional": 1000}  # as the app benchmark's start card
CELLS = [
    "import panel as pn\nimport kernelext\nfrom widgets.dashboard import SessionDashboard\npn.extension('tabulator')",
    f"runner = kernelext.start('ema_cross', 'BTC/USD', params={PARAMS!r}, bar_spec='1-SECOND-LAST', speed=1,\n"
    "                          duration='180s', label='notebook bench')\nrunner.session_id",
    "SessionDashboard(runner.session_id).panel()",
]


def _notebook(cells: list[str]) -> dict[str, Any]:
    """An nbformat 4.5 notebook of code cells, with a kernelspec (no kernel dialog)."""
    return {
        "cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": src} for i, src in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


@pytest.fixture
def lab_notebook(free_port: int, paperlab_home: Path) -> Iterator[str]:  # noqa: F811
    """JupyterLab on a free port over a folder holding the benchmark's notebook; yields its URL."""
    folder = paperlab_home / "lab"
    folder.mkdir()
    (folder / "bench.ipynb").write_text(json.dumps(_notebook(CELLS)))
    with jupyter_lab(folder, free_port, paperlab_home) as (base, token):
        yield f"{base}/lab/tree/bench.ipynb?token={token}&reset"


@pytest.mark.bench
@pytest.mark.timeout(420)
def test_bench_fill_to_screen_notebook(
    page: Any, lab_notebook: str, paperlab_home: Path, bench_print: Callable[[str], None]  # noqa: F811
) -> None:
    t_begin = time.monotonic()
    page.add_init_script(screen.WS_JS)
    page.goto(lab_notebook, wait_until="commit")
    wait_js(page, "() => !!document.querySelector('.jp-Notebook')", 90, "the notebook")
    wait_js(page, "() => document.body.innerText.includes('| Idle')", 120, "an idle kernel")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    ledger = Ledger()
    session_id = screen.running_session(ledger, timeout=120)
    watch = screen.LedgerWatch(session_id)
    try:
        try:  # the dashboard renders once the kernel ran its cell; its Fills tab shows the table
            page.get_by_text("Fills", exact=True).first.click(timeout=120_000)
            page.locator(".paperlab-fills").first.wait_for(state="attached", timeout=60_000)
        except Exception:
            screenshot(page, "bench-notebook-no-dashboard")
            raise
        t0_ns, t1_ns, seen, frames_in = screen.observe(page, MEASURE_S, SETTLE_S, first_fill_timeout_ms=60_000)
        screenshot(page, "bench-notebook-fills")
    finally:
        watch.stop()

    got = screen.split(frames.fills(session_id, ledger=ledger), t0_ns, t1_ns, seen, frames_in, watch.seen)
    bench_print(f"fill_to_screen_notebook_ms {screen.summary(got.screen)} ({screen.goal(got.screen)})")
    bench_print(f"fill_to_ledger_notebook_ms {screen.summary(got.ledger)} (fill ts -> row readable in SQLite, "
                f"{screen.LEDGER_POLL_S * 1000:.0f} ms poll)")
    bench_print(f"fill_to_websocket_notebook_ms {screen.summary(got.wire)} (fill ts -> its frame on the kernel's "
                "websocket in the page: hub push, dashboard refresh, comm, Jupyter server)")
    bench_print(f"websocket_to_screen_notebook_ms {screen.summary(got.client)} (frame -> row rendered, 10 ms page "
                "poll)")
    bench_print(f"fill_to_screen_notebook_run fills_in_window={got.in_window} not_seen={got.missing} "
                f"doubled_rows={got.doubled} "
                f"page_changes={len(seen)} measure_s={MEASURE_S:.0f} total_s={time.monotonic() - t_begin:.1f}")
    assert got.in_window > 0, "no fills in the measurement window"
    assert got.screen, f"no fill of the window was seen on screen ({got.missing} missing)"
    assert got.doubled == 0, f"the page showed {got.doubled} fill rows twice"
