"""The AlphaSwarm flow over a real uvicorn: start with starting cash and a duration, watch fills on
the websocket, kill everything, read the session's row; and a reconnect that resumes by event id."""

from __future__ import annotations

import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import ClientConnection, connect

from kernelext import api
from tests.httpapi.conftest import Api, start_body

ENVELOPE_KEYS = {"id", "session_id", "sleeve", "stage", "message", "ts"}


def recv(ws: ClientConnection, timeout: float = 30.0) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def until_closed(ws: ClientConnection, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every envelope until the server closes the stream (the session ended)."""
    out = []
    try:
        while True:
            out.append(recv(ws, timeout))
    except ConnectionClosedOK:
        return out


def test_alphaswarm_flow_start_stream_kill_all_row(api_server: Api) -> None:
    with api_server.client("trade") as trade, api_server.client("admin") as admin:
        r = trade.post("/sessions", json=start_body(starting_cash="25000 USD", duration="5m"))
        assert r.status_code == 201, r.text
        sid = r.json()["session_id"]
        with connect(api_server.ws_url(f"/ws/sessions/{sid}"), additional_headers=api_server.auth("read")) as ws:
            seen = [recv(ws)]
            while seen[-1]["stage"] != "order.filled":
                seen.append(recv(ws))
            assert ENVELOPE_KEYS <= set(seen[-1]) and seen[-1]["session_id"] == sid
            refused = admin.delete(f"/sessions/{sid}")
            assert refused.status_code == 409 and "running" in refused.json()["error"]
            killed = trade.post("/sessions/kill-all")
            assert killed.status_code == 200 and sid in killed.json()["killed"]
            seen += until_closed(ws)
        stages = [e["stage"] for e in seen]
        assert "control.kill" in stages and stages[-1] in ("session.stopped", "session.error"), stages[-5:]
        ids = [e["id"] for e in seen]
        assert ids == sorted(set(ids)), "every event once, in ledger order"
        row = trade.get(f"/sessions/{sid}").json()
        assert row["state"] == "stopped" and not row["alive"]
        assert row["fills"] == api.fill_count(sid) >= 1
        assert row["fills"] == stages.count("order.filled")
        equity = row["equity"]
        assert row["total_pnl"] == round(equity["realized_pnl"] + (equity["unrealized_pnl"] or 0.0), 2)
        listed = [s for s in trade.get("/sessions").json() if s["session_id"] == sid]
        assert listed and listed[0]["status"] == "stopped" and listed[0]["fills"] == row["fills"]


def test_reconnect_with_after_misses_and_doubles_nothing(api_server: Api) -> None:
    with api_server.client("trade") as trade:
        sid = trade.post("/sessions", json=start_body(speed=300)).json()["session_id"]
        url = api_server.ws_url(f"/ws/sessions/{sid}")
        with connect(url, additional_headers=api_server.auth("read")) as ws:
            first = [recv(ws) for _ in range(12)]
        time.sleep(1.0)  # the session goes on trading while no one listens
        with connect(f"{url}?after={first[-1]['id']}", additional_headers=api_server.auth("read")) as ws:
            second = [recv(ws) for _ in range(5)]
            assert trade.post(f"/sessions/{sid}/stop").status_code == 200
            second += until_closed(ws)
    got = [e["id"] for e in first + second]
    stored = [row[0] for row in api.events_after(sid, 0, limit=1_000_000)[0]]
    assert got == stored, "the two connections together are the ledger's events, each once"
    assert second[0]["id"] > first[-1]["id"]


def test_all_sessions_stream_from_now_and_after(api_server: Api) -> None:
    with api_server.client("trade") as trade:
        url = api_server.ws_url("/ws/sessions")
        with connect(url, additional_headers=api_server.auth("read")) as ws:
            sid = trade.post("/sessions", json=start_body()).json()["session_id"]
            live = [recv(ws) for _ in range(3)]
            assert all(e["session_id"] == sid for e in live) and live[0]["stage"].startswith("session.")
        with connect(f"{url}?after={live[0]['id'] - 1}", additional_headers=api_server.auth("read")) as ws:
            again = [recv(ws) for _ in range(3)]
        assert [e["id"] for e in again] == [e["id"] for e in live]
        assert trade.post(f"/sessions/{sid}/kill").status_code == 200
