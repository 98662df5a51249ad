"""Backtests, comparisons and reports (the facade does not audit backtests and reports: the
route records an ``api.request`` row naming the token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from kernelext import api
from kernelext.surfaces.http.auth import Caller, acting, need
from kernelext.surfaces.http.formats import json_response
from kernelext.surfaces.http.routes.models import BacktestBody

router = APIRouter(tags=["research"])


@router.post("/backtests", status_code=201, summary="Backtest a spec, or like=SESSION over the bars it saw")
def backtest(body: BacktestBody, request: Request, caller: Caller = Depends(need("trade"))) -> Response:
    options = body.options("like", "bars", "label")
    request.app.state.paperlab.limits.start(caller.name)
    with acting(caller):
        spec = None
        if options:
            sleeves = options.pop("sleeves", None)
            spec = (api.spec(sleeves=sleeves, **options) if sleeves is not None
                    else api.spec(options.pop("strategy", None), options.pop("instrument", None), **options))
        session_id = api.backtest(spec, like=body.like, bars=body.bars, label=body.label)
        api.record_audit("api.request", {"method": "POST", "path": "/backtests", "session_id": session_id})
    return json_response(api.backtest_summary(session_id), 201)


@router.get("/compare", summary="Backtest vs paper[ vs live]: metrics side by side and an assessment")
def compare(sessions: list[str] = Query(..., description="2 or 3 session ids (prefixes, 'latest')"),
            _: Caller = Depends(need("read"))) -> Response:
    result = api.compare(*sessions)
    return json_response({"columns": result.columns, "table": result.table.to_dicts(),
                          "assessment": result.assessment})


@router.post("/sessions/{session}/report", summary="Write a session's HTML report; ?format=html returns it")
def report(session: str, format: str = Query("json", pattern="^(json|html)$"),
           caller: Caller = Depends(need("trade"))) -> Response:
    with acting(caller):
        result = api.report(session, notify=())
        api.record_audit("api.request", {"method": "POST", "path": f"/sessions/{session}/report",
                                         "session_id": result.session_id, "report": str(result.path)})
    if format == "html" and result.path is not None:
        return HTMLResponse(result.path.read_text(encoding="utf-8"))
    return json_response({"session_id": result.session_id, "path": str(result.path), "metrics": result.metrics,
                          "recommendation": result.recommendation, "backtest_id": result.backtest_id})
