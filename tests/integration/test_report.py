"""``paperlab report``: a replay paper session that trades, reported as one HTML file in a subprocess.

We assert what the person sees: the exit code, the path printed, and the page's session id, round
trips, realized P&L, two embedded PNG charts, the comparison table and the recommendation. With
``speed="max"`` replay the paper run matches its own backtest fill for fill. No timed assertions.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import kernelext
from kernelext import frames
from kernelext.research.report import CAUTION, DIVERGES, VALIDATED


def paperlab(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m kernelext ARGS`` in a subprocess (same PAPERLAB_HOME as this test)."""
    return subprocess.run([sys.executable, "-m", "kernelext", *args], env=dict(os.environ), capture_output=True,
                          text=True, timeout=300)


def test_report_of_a_replay_paper_session_matches_its_backtest(paperlab_home: Path, tmp_path: Path) -> None:
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 3, "slow": 8}, feed="replay", speed="max",
                             max_bars=600)
    assert runner.wait(180) and runner.state == "stopped", runner.last_error
    sid = runner.session_id
    trips = frames.round_trips(sid).height
    perf = frames.performance(sid).row(0, named=True)
    assert trips > 0

    out = tmp_path / "r.html"
    done = paperlab("report", sid, "--html", str(out))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert f"report {sid} -> {out}" in done.stdout
    assert f"recommendation: {VALIDATED}" in done.stdout

    page = out.read_text(encoding="utf-8")
    assert sid in page
    assert f"<th class='k'>round trips</th><td>{trips:,}</td>" in page
    assert f"<th class='k'>realized P&amp;L</th><td>{perf['realized_pnl']:,.2f}</td>" in page
    assert page.count('<img alt="equity" src="data:image/png;base64,') == 1
    assert page.count('<img alt="price" src="data:image/png;base64,') == 1
    assert page.count("data:image/png;base64,") == 2
    assert "<table class='metrics'>" in page and "bars_matching_ref" in page
    assert "<script" not in page
    sentences = [s for s in (VALIDATED, CAUTION, DIVERGES) if s in page]
    assert sentences == [VALIDATED]


def test_report_of_a_backtest_has_no_comparison_and_goes_to_the_reports_folder(paperlab_home: Path) -> None:
    bt = kernelext.backtest(strategy="ema_cross", instrument="BTC/USD", params={"fast": 3, "slow": 8}, bars=400)
    done = paperlab("report", bt)
    assert done.returncode == 0, (done.stdout, done.stderr)
    m = re.search(r"-> (\S+\.html)$", done.stdout.strip())
    assert m, done.stdout
    path = Path(m.group(1))
    assert path.parent == paperlab_home / "reports" and path.name.startswith(f"{bt}-")
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    page = path.read_text(encoding="utf-8")
    assert "a backtest session: no comparison" in page and page.count("data:image/png;base64,") == 2
    assert not any(s in page for s in (VALIDATED, CAUTION, DIVERGES))
