"""``/sessions``: list, detail, start (single, book, detached), controls, kill-all, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from kernelext import api
from kernelext.errors import SpecError
from kernelext.surfaces.http.auth import Caller, acting, need
from kernelext.surfaces.http.formats import frame_response, json_response
from kernelext.surfaces.http.routes.models import StartBody

router = APIRouter(prefix="/sessions", tags=["sessions"])


@router.get("", summary="Sessions, newest first (JSON, CSV or Arrow)")
def list_sessions(request: Request, status: str | None = None, kind: str | None = None, running: bool = False,
                  limit: int | None = Query(None, ge=1, le=100_000), format: str | None = None,
                  _: Caller = Depends(need("read"))) -> Response:
    import polars as pl

    df = api.sessions()
    if running:
        df = df.filter(pl.col("session_id").is_in(api.running_sessions()))
    if status:
        df = df.filter(pl.col("status") == status)
    if kind:
        df = df.filter(pl.col("kind") == kind)
    return frame_response(df.head(limit) if limit else df, request, format)


@router.post("/kill-all", summary="Kill (flatten, then stop) every running session")
def kill_all(caller: Caller = Depends(need("trade"))) -> Response:
    with acting(caller):
        return json_response({"killed": api.kill_all()})


@router.get("/{session}", summary="One session: state, counters, positions, equity, total P&L")
def detail(session: str, _: Caller = Depends(need("read"))) -> Response:
    report = api.status_report(session)
    equity = report.get("equity") or {}
    parts = [equity.get("realized_pnl"), equity.get("unrealized_pnl")]
    report["total_pnl"] = None if all(p is None for p in parts) else round(sum(p or 0.0 for p in parts), 2)
    return json_response(report)


@router.post("", status_code=201, summary="Start a session (one strategy, or a book of sleeves)")
def start(body: StartBody, request: Request, caller: Caller = Depends(need("trade"))) -> Response:
    state = request.app.state.paperlab
    spec = _spec(body)  # bad input is 400 before anything counts against the limits
    state.limits.start(caller.name)
    with state.limits.ceiling(caller.name) as started, acting(caller):
        found = api.start_spec(spec, require_backtest=body.require_backtest, detach=body.detach,
                               i_understand=body.i_understand)
        session_id = found if isinstance(found, str) else found.session_id
        started.append(session_id)
    return json_response({"session_id": session_id, "detached": body.detach}, 201)


def _spec(body: StartBody) -> Any:
    options = body.options("detach", "require_backtest", "i_understand")
    if body.sleeves is not None:
        return api.spec(sleeves=options.pop("sleeves"), **options)
    if not body.strategy:
        raise SpecError("strategy: required (a registered strategy key, e.g. ema_cross), or give sleeves")
    return api.spec(options.pop("strategy"), options.pop("instrument", None), **options)


@router.post("/{session}/{verb}", summary="A control: pause, resume, flatten, kill or stop")
def control(session: str, verb: str, caller: Caller = Depends(need("trade"))) -> Response:
    if verb not in api.CONTROL_VERBS:
        raise SpecError(f"control: {verb!r} is not a control; allowed: {', '.join(api.CONTROL_VERBS)}")
    with acting(caller):
        return json_response({"session_id": api.control(session, verb), "control": verb})


@router.delete("/{session}", summary="Delete a finished session and all its rows")
def delete(session: str, caller: Caller = Depends(need("admin"))) -> Response:
    with acting(caller):
        return json_response({"deleted": api.delete_session(session)})
