"""``/approvals``: live approvals (read with ``read``; approving and revoking are ``admin``, audited)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from kernelext import api
from kernelext.surfaces.http.auth import Caller, acting, need
from kernelext.surfaces.http.formats import frame_response, json_response
from kernelext.surfaces.http.routes.models import ApprovalBody, RevokeBody

router = APIRouter(prefix="/approvals", tags=["approvals"])


@router.get("", summary="Live approvals, newest first (all=true: revoked ones too)")
def approvals(request: Request, all: bool = False, format: str | None = None,  # noqa: A002  (the CLI's --all)
              _: Caller = Depends(need("read"))) -> Response:
    return frame_response(api.approvals(include_revoked=all), request, format)


@router.post("", status_code=201, summary="Approve a strategy on an instrument for live trading (after paper)")
def approve(body: ApprovalBody, caller: Caller = Depends(need("admin"))) -> Response:
    with acting(caller):
        row = api.approve_live(body.strategy, body.instrument, note=body.note, params=body.params,
                               paper_session=body.paper_session)
    return json_response(row, 201)


@router.post("/revoke", summary="Revoke the live approvals of a strategy on an instrument")
def revoke(body: RevokeBody, caller: Caller = Depends(need("admin"))) -> Response:
    with acting(caller):
        ids = api.revoke_live(body.strategy, body.instrument, params=body.params)
    return json_response({"revoked": ids})
