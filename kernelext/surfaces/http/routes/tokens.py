"""``/tokens``: list, create (the secret shown once), revoke. Admin only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from kernelext import api
from kernelext.surfaces.http.auth import Caller, acting, need
from kernelext.surfaces.http.formats import json_response
from kernelext.surfaces.http.routes.models import TokenBody

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", summary="Every token (no secrets, no hashes)")
def list_tokens(_: Caller = Depends(need("admin"))) -> Response:
    return json_response(api.api_tokens())


@router.post("", status_code=201, summary="A new token; its secret is in this answer only")
def create(body: TokenBody, caller: Caller = Depends(need("admin"))) -> Response:
    with acting(caller):
        return json_response(api.create_token(body.name, body.scope), 201)


@router.delete("/{name}", summary="Revoke a token (it stops working at once)")
def revoke(name: str, caller: Caller = Depends(need("admin"))) -> Response:
    with acting(caller):
        return json_response({"revoked": api.revoke_token(name)})
