"""Real JupyterLab in Debian's chromium: open 01_quickstart, run its cells, see the
Panel dashboard render with a growing equity curve, and use the control bar."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import jupyter_lab, screenshot
from tests.browser.conftest import wait_js as wait_for

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/01_quickstart.ipynb"


@pytest.fixture
def lab(free_port: int, paperlab_home: Path) -> Iterator[str]:
    with jupyter_lab(ROOT, free_port, paperlab_home) as (base, token):
        yield f"{base}/lab/tree/{NOTEBOOK}?token={token}&reset"


EQUITY_POINTS = """() => {
  for (const doc of (window.Bokeh?.documents ?? [])) {
    for (const m of doc.all_models) {
      if (m.name === 'paperlab-equity' && m.data) { const k = Object.keys(m.data)[0]; return m.data[k].length; }
    }
  }
  return 0;
}"""


def test_quickstart_in_jupyterlab(page: Any, lab: str) -> None:
    page.goto(lab, wait_until="commit")
    wait_for(page, "() => !!document.querySelector('.jp-Notebook')", what="the notebook")
    wait_for(page, "() => document.body.innerText.includes('| Idle')", timeout=90, what="an idle kernel")
    # Run everything above the final '%paper kill' cell, so the session is still live.
    last_code = page.evaluate(
        """() => { const nb = window.jupyterapp.shell.currentWidget.content;
                   const cells = nb.model.cells; let last = -1;
                   for (let i = 0; i < cells.length; i++) if (cells.get(i).type === 'code') last = i;
                   nb.activeCellIndex = last; return last; }"""
    )
    assert last_code > 0
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-above')")
    wait_for(page, "() => document.body.innerText.includes('REPLAY')", timeout=120, what="the REPLAY badge")
    first = wait_for(page, EQUITY_POINTS, timeout=90, what="equity points")
    time.sleep(3)
    later = page.evaluate(EQUITY_POINTS)
    assert later > first, f"equity curve did not grow ({first} -> {later})"
    screenshot(page, "jupyterlab-quickstart")
    stderr = page.evaluate(
        """() => [...document.querySelectorAll(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")]
                 .map(e => e.innerText).join('\\n')"""
    )
    assert "Traceback" not in stderr
    # The control bar works: Pause in the dashboard shows up in its event feed.
    page.locator(".paperlab-pause button, button:has-text('Pause')").first.click()
    wait_for(page, "() => /paused/i.test(document.body.innerText)", timeout=30, what="the pause acknowledgement")
    screenshot(page, "jupyterlab-quickstart-paused")
