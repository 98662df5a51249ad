"""``/audit``: the audit log (read) and its hash-chain check (admin: it says who did what)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from kernelext import api
from kernelext.surfaces.http.auth import Caller, need
from kernelext.surfaces.http.formats import frame_response, json_response

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", summary="Audit rows, oldest first (JSON, CSV or Arrow)")
def audit(request: Request, session: str | None = None, since: str | None = None,
          limit: int | None = Query(200, ge=1, le=1_000_000), format: str | None = None,
          _: Caller = Depends(need("admin"))) -> Response:
    return frame_response(api.audit(session, since=since, limit=limit), request, format)


@router.get("/verify", summary="Walk the hash chain; names the first broken row")
def verify(_: Caller = Depends(need("admin"))) -> Response:
    check = api.verify_audit()
    return json_response({"ok": check.ok, "rows": check.rows, "broken_row": check.broken_row, "line": check.line()})
