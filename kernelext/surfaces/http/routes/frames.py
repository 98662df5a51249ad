"""``/sessions/{session}/frames/{name}``: a session's frame as JSON, CSV or Arrow."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from kernelext import api
from kernelext.surfaces.http.auth import Caller, need
from kernelext.surfaces.http.formats import frame_response

router = APIRouter(tags=["frames"])


@router.get("/sessions/{session}/frames/{name}",
            summary=f"A frame ({', '.join(api.FRAMES)}) by ?format=json|csv|arrow or the Accept header")
def frame(session: str, name: str, request: Request, format: str | None = None, stage: str | None = None,
          by: str | None = None, open: bool = False, _: Caller = Depends(need("read"))) -> Response:
    if open:
        df = api.open_frame(name, session, open_only=True)
    else:
        df = api.frame(name, session, stage=stage, by=by)
    return frame_response(df, request, format)
