"""Live approvals through the API: read with ``read``; approving (after a paper session that traded)
and revoking need ``admin``, and are audited with the token's name."""

from __future__ import annotations

import json

import polars as pl

from kernelext import api
from tests.helpers import wait_for
from tests.httpapi.conftest import Api, start_body


def test_approve_after_paper_then_revoke(api_server: Api) -> None:
    with api_server.client("read") as reader, api_server.client("trade") as trader, api_server.client("admin") as admin:
        listed = reader.get("/approvals")
        assert listed.status_code == 200, listed.text
        body = {"strategy": "ema_cross", "instrument": "BTC/USD", "note": "paper held up"}
        assert trader.post("/approvals", json=body).status_code == 403
        early = admin.post("/approvals", json={**body, "instrument": "ETH/USD"})
        assert early.status_code == 409 and early.json()["error"].startswith("approve: no paper session of ema_cross")
        bad = admin.post("/approvals", json={**body, "note": " "})
        assert bad.status_code == 400 and bad.json()["error"].startswith("note:")

        started = trader.post("/sessions", json=start_body(speed="max", max_bars=400))
        assert started.status_code == 201, started.text
        sid = started.json()["session_id"]
        wait_for(lambda: api.fill_count(sid) > 0 and api.session_row(sid)["status"] not in ("starting", "running"),
                 "the paper session to trade and end", 60)
        made = admin.post("/approvals", json=body)
        assert made.status_code == 201, made.text
        row = made.json()
        assert row["paper_session"] == sid and row["approved_by"].endswith("via api")
        assert [r["id"] for r in reader.get("/approvals").json()] [:1] == [row["id"]]

        revoked = admin.post("/approvals/revoke", json={"strategy": "ema_cross", "instrument": "BTC/USD"})
        assert revoked.status_code == 200 and row["id"] in revoked.json()["revoked"]
        assert row["id"] not in [r["id"] for r in reader.get("/approvals").json()]
        assert row["id"] in [r["id"] for r in reader.get("/approvals?all=true").json()]
    audit = api.audit().filter(pl.col("action").is_in(["live.approve", "live.revoke"]))
    assert audit["action"].to_list()[-2:] == ["live.approve", "live.revoke"]
    assert all(a.endswith("via api") for a in audit["actor"].to_list()[-2:])
    assert json.loads(audit["detail"][-2])["paper_session"] == sid
