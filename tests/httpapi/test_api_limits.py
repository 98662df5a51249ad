"""The ceilings (per token, whole ledger) and the rate limits: 429 with Retry-After."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelext.surfaces.http.config import ApiConfig
from tests.httpapi.conftest import serve, start_body


def test_ceiling_then_start_rate_429_with_retry_after(api_home: Path) -> None:
    server = serve(ApiConfig(token_sessions=1, ledger_sessions=50, starts_per_minute=2))
    made = next(server)
    try:
        with made.client("trade") as c:
            first = c.post("/sessions", json=start_body())
            assert first.status_code == 201, first.text
            over = c.post("/sessions", json=start_body())
            assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
            assert over.json()["error"].startswith("sessions: token trade-") and "ceiling is 1" in over.json()["error"]
            with made.client("admin") as other:  # the ceiling is per token: another token may start
                second = other.post("/sessions", json=start_body())
                assert second.status_code == 201, second.text
                assert other.post("/sessions/kill-all").status_code == 200
            rate = c.post("/sessions", json=start_body())  # 2 starts a minute used up
            assert rate.status_code == 429 and int(rate.headers["Retry-After"]) >= 1
            assert "Rate limit exceeded, try again in a few seconds" in rate.json()["error"]
            assert rate.json()["error"].startswith("rate: more than 2 session starts a minute")
    finally:
        server.close()


def test_ledger_ceiling(api_home: Path) -> None:
    server = serve(ApiConfig(token_sessions=5, ledger_sessions=1))
    made = next(server)
    try:
        with made.client("trade") as c:
            assert c.post("/sessions", json=start_body()).status_code == 201
            over = c.post("/sessions", json=start_body())
            assert over.status_code == 429 and over.json()["error"].startswith("sessions: the ledger runs 1")
            assert c.post("/sessions/kill-all").status_code == 200
            assert c.post("/sessions", json=start_body()).status_code == 201
            assert c.post("/sessions/kill-all").status_code == 200
    finally:
        server.close()


def test_request_rate_429_per_token(api_home: Path) -> None:
    server = serve(ApiConfig(requests_per_second=3))
    made = next(server)
    try:
        with made.client("read") as c, made.client("trade") as other:
            codes = [c.get("/sessions").status_code for _ in range(20)]
            assert codes[:3] == [200] * 3 and 429 in codes
            limited = next(r for r in (c.get("/sessions") for _ in range(5)) if r.status_code == 429)
            assert limited.headers["Retry-After"] == "1"
            assert other.get("/sessions").status_code == 200  # per token
    finally:
        server.close()


def test_bad_limit_in_env_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelext.errors import SpecError

    monkeypatch.setenv("PAPERLAB_API_REQUESTS_PER_S", "lots")
    with pytest.raises(SpecError, match=r"^PAPERLAB_API_REQUESTS_PER_S: expected a positive number \(got 'lots'\)$"):
        ApiConfig.from_env()
