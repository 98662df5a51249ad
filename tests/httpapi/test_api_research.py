"""Backtests, comparisons, reports and open rows through the API (each a ``kernelext.api`` call)."""

from __future__ import annotations

from pathlib import Path

from kernelext import api
from tests.httpapi.conftest import FAST_EMA, Api

SPEC = {"strategy": "ema_cross", "instrument": "BTC/USD", "params": FAST_EMA, "max_bars": 300}


def test_backtest_compare_report(api_server: Api) -> None:
    with api_server.client("trade") as c:
        first = c.post("/backtests", json=SPEC)
        assert first.status_code == 201, first.text
        bt = first.json()
        assert bt["kind"] == "backtest" and bt["fills"] == api.fill_count(bt["session_id"]) > 0
        again = c.post("/backtests", json={"like": bt["session_id"]}).json()
        assert again["fills"] == bt["fills"]  # the same bars, the same trades
        cmp_ = c.get("/compare", params=[("sessions", bt["session_id"]), ("sessions", again["session_id"])])
        assert cmp_.status_code == 200, cmp_.text
        assert len(cmp_.json()["columns"]) == 2 and cmp_.json()["assessment"] and cmp_.json()["table"]
        one = c.get("/compare", params={"sessions": bt["session_id"]})
        assert one.status_code == 400 and one.json()["error"].startswith("sessions: give 2 or 3 sessions")
        assert c.post("/backtests", json={}).json()["error"].startswith("backtest: give a spec")
        rep = c.post(f"/sessions/{bt['session_id']}/report")
        assert rep.status_code == 200, rep.text
        assert Path(rep.json()["path"]).is_file() and rep.json()["metrics"]["trades"] >= 1
        html = c.post(f"/sessions/{bt['session_id']}/report?format=html")
        assert html.headers["content-type"].startswith("text/html") and "<html" in html.text.lower()
        openrows = c.get(f"/sessions/{bt['session_id']}/frames/positions?open=true").json()
        allrows = c.get(f"/sessions/{bt['session_id']}/frames/positions").json()
        assert len(openrows) <= len(allrows) and all(r["quantity"] for r in openrows)
        bad = c.get(f"/sessions/{bt['session_id']}/frames/fills?open=true")
        assert bad.status_code == 400 and bad.json()["error"].startswith("open: only for orders, positions")
