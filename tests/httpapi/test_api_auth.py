"""Every status code, the scopes, tokens, the audit trail and the docs, over a real uvicorn."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kernelext import api
from kernelext.ledger import queries
from tests.httpapi.conftest import Api, start_body


def error(response) -> str:  # noqa: ANN001
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def _name(server: Api, scope: str) -> str:
    return f"{scope}-{server.url.rsplit(':', 1)[1]}"


def test_401_without_or_with_a_bad_or_revoked_token(api_server: Api) -> None:
    with api_server.client(None) as anon:
        r = anon.get("/sessions")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert error(r).startswith("token: missing")
        bad = anon.get("/sessions", headers={"Authorization": "Bearer plk_00000000_guess"})
        assert bad.status_code == 401 and error(bad).startswith("token: not a live token")
        assert anon.get("/health").json() == {"status": "ok"}
    made = api.create_token("short-lived", "read")
    with api_server.client(None) as c:
        headers = {"Authorization": f"Bearer {made['token']}"}
        assert c.get("/sessions", headers=headers).status_code == 200
        api.revoke_token("short-lived")
        assert c.get("/sessions", headers=headers).status_code == 401
        wrong = made["token"][:-2] + ("xx" if not made["token"].endswith("xx") else "yy")
        assert c.get("/sessions", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401


def test_tokens_are_stored_as_salted_hashes_only(api_home) -> None:  # noqa: ANN001
    a, b = api.create_token("hash-a", "read"), api.create_token("hash-b", "read")
    row_a, row_b = queries.api_token(api.open_ledger(), a["id"]), queries.api_token(api.open_ledger(), b["id"])
    assert row_a["salt"] != row_b["salt"] and len(row_a["hash"]) == 64
    secret = a["token"].split("_", 2)[2]
    dump = "\n".join(str(v) for t in api.api_tokens() for v in t.values()) + str(row_a)
    assert secret not in dump and a["token"] not in dump
    assert all("hash" not in t and "salt" not in t for t in api.api_tokens())


def test_400_names_the_field(api_server: Api) -> None:
    with api_server.client("trade") as c:
        assert error(c.post("/sessions", json=start_body(speed="warp"))).startswith("speed:")
        assert error(c.post("/sessions", json=start_body(bogus=1))).startswith("bogus: not an option")
        assert error(c.post("/sessions", json={"instrument": "BTC/USD"})).startswith("strategy: required")
        assert error(c.post("/sessions", json=start_body(seed="x"))).startswith("seed:")
        assert c.post("/sessions", json=start_body(speed="warp")).status_code == 400
        sid = api.sessions()["session_id"].to_list() or ["latest"]
        r = c.get(f"/sessions/{sid[0]}/frames/fills?format=xml")
        assert r.status_code in (400, 404)
        r = c.post("/sessions/latest/dance")
        assert r.status_code == 400 and error(r).startswith("control: 'dance' is not a control")
        r = c.get("/audit/verify")
        assert r.status_code == 403


def test_404_409_and_formats(api_server: Api) -> None:
    with api_server.client("admin") as c:
        r = c.get("/sessions/zz-no-such")
        assert r.status_code == 404 and error(r).startswith("session:")
        assert c.get("/no/such/route").status_code == 404
        r = c.post("/tokens", json={"name": "twice", "scope": "read"})
        assert r.status_code == 201 and r.json()["token"].startswith("plk_")
        again = c.post("/tokens", json={"name": "twice", "scope": "read"})
        assert again.status_code == 409 and error(again).startswith("name:")
        assert error(c.post("/tokens", json={"name": "x", "scope": "root"})).startswith("scope:")
        sid = c.post("/backtests", json={"strategy": "ema_cross", "instrument": "BTC/USD", "params": {"fast": 2, "slow": 5},
                                         "max_bars": 300}).json()["session_id"]
        audited = c.get(f"/audit?session={sid}").json()
        assert [(r["action"], r["actor"]) for r in audited] == [("api.request", f"{_name(api_server, 'admin')} via api")]
        as_json = c.get(f"/sessions/{sid}/frames/fills").json()
        assert as_json and {"side", "qty", "price"} <= set(as_json[0])
        csv = c.get(f"/sessions/{sid}/frames/fills", headers={"Accept": "text/csv"})
        assert csv.headers["content-type"].startswith("text/csv") and len(csv.text.splitlines()) == len(as_json) + 1
        import io

        import polars as pl

        arrow = c.get(f"/sessions/{sid}/frames/fills?format=arrow")
        assert pl.read_ipc_stream(io.BytesIO(arrow.content)).height == len(as_json)
        r = c.get(f"/sessions/{sid}/frames/fills?format=xml")
        assert r.status_code == 400 and error(r).startswith("format: 'xml' is not a format")
        assert c.get(f"/sessions/{sid}/frames/nope").status_code == 400
        assert c.get("/docs").status_code == 200
        assert "/sessions/kill-all" in c.get("/openapi.json").json()["paths"]
        assert c.delete(f"/sessions/{sid}").json() == {"deleted": sid}
        assert c.get(f"/sessions/{sid}").status_code == 404


def test_scopes_read_trade_admin_and_the_audit_names_the_token(api_server: Api) -> None:
    with api_server.client("read") as read, api_server.client("trade") as trade, api_server.client("admin") as admin:
        assert read.get("/sessions").status_code == 200
        r = read.post("/sessions", json=start_body())
        assert r.status_code == 403 and error(r) == f"scope: this needs a trade token; token read-{api_server.url.rsplit(':', 1)[1]} is read"
        assert read.post("/sessions/kill-all").status_code == 403
        assert trade.get("/tokens").status_code == 403
        assert trade.get("/audit").status_code == 403
        sid = trade.post("/sessions", json=start_body()).json()["session_id"]
        assert trade.post(f"/sessions/{sid}/pause").status_code == 200
        assert read.post(f"/sessions/{sid}/resume").status_code == 403
        assert trade.post(f"/sessions/{sid}/stop").status_code == 200
        assert trade.delete(f"/sessions/{sid}").status_code == 403
        rows = admin.get(f"/audit?session={sid}").json()
        token = [n for n in api.api_tokens() if n["name"].startswith("trade-")][-1]["name"]
        by_action = {r["action"]: r["actor"] for r in rows}
        assert by_action["session.start"] == by_action["control.pause"] == f"{token} via api"
        assert admin.delete(f"/sessions/{sid}").status_code == 200
        assert admin.get("/audit/verify").json()["ok"] is True
        names = [t["name"] for t in admin.get("/tokens").json()]
        assert token in names


def test_websocket_needs_a_token_and_a_session(api_server: Api) -> None:
    with pytest.raises(InvalidStatus) as no_token:
        connect(api_server.ws_url("/ws/sessions"))
    assert no_token.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as missing:
        connect(api_server.ws_url("/ws/sessions/zz-no-such"), additional_headers=api_server.auth("read"))
    assert missing.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as bad_after:
        connect(api_server.ws_url("/ws/sessions?after=x"), additional_headers=api_server.auth("read"))
    assert bad_after.value.response.status_code == 400


def test_no_auth_on_loopback_acts_as_no_auth_admin_and_says_so(api_home) -> None:  # noqa: ANN001
    from kernelext.surfaces.http.config import ApiConfig
    from kernelext.surfaces.http.server import banner
    from tests.httpapi.conftest import serve

    text = banner("127.0.0.1", 8000, tls=False, no_auth=True, behind_proxy=False, config=ApiConfig(no_auth=True))
    assert "WARNING: --no-auth" in text and "plk_" not in text
    server = serve(ApiConfig(no_auth=True))
    made = next(server)
    try:
        with made.client(None) as anon:
            r = anon.post("/tokens", json={"name": "from-no-auth", "scope": "read"})
            assert r.status_code == 201
        rows = [r for r in api.audit().to_dicts() if r["action"] == "token.create" and "from-no-auth" in r["detail"]]
        assert [r["actor"] for r in rows] == ["no-auth via api"]
    finally:
        server.close()
