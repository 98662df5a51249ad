"""Errors as JSON ``{"error": one_line}`` with the CLI's line and the status that fits.

400 bad input (``SpecError``/``UsageError``, naming the field), 401 no or bad token, 403 a scope
too small, 404 ``NotFound``, 409 ``Refused``/``ControlError``, 429 a limit (with ``Retry-After``),
503 ``VenueUnavailable``; anything unexpected is 500, still one line, never a traceback.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kernelext.errors import (ControlError, NotFound, PaperLabError, Refused, SessionStartError, SpecError,
                              VenueUnavailable, one_line)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP answer other than success: status, one line, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def too_many(message: str, retry_after: float) -> ApiError:
    """429 with ``Retry-After`` in whole seconds (at least 1)."""
    return ApiError(429, message, {"Retry-After": str(max(1, math.ceil(retry_after)))})


def status_of(error: BaseException) -> int:
    """The HTTP status of a PaperLab error."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, (Refused, ControlError)):
        return 409
    if isinstance(error, VenueUnavailable):
        return 503
    if isinstance(error, SessionStartError):
        return 502
    if isinstance(error, (SpecError, PaperLabError, ValueError)):
        return 400
    return 500


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"error": message}`` with ``status``."""
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def _validation_line(exc: RequestValidationError) -> str:
    """FastAPI's first validation problem as ``field: what is wrong``."""
    first = (exc.errors() or [{}])[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or "body"
    return f"{field}: {first.get('msg', 'invalid')}".replace("\n", " ")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(PaperLabError)
    async def _paperlab(_: Request, exc: PaperLabError) -> JSONResponse:
        return error_response(status_of(exc), one_line(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_line(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "path: no such route" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.middleware("http")
    async def _unexpected(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except (ValueError, KeyError) as exc:  # a message for the person from below the facade
            return error_response(400, one_line(exc))
        except Exception as exc:  # noqa: BLE001  (a bug: one line here, the traceback in a crash log)
            from kernelext.surfaces.crash import record

            where = record(exc)
            log.error("api: unexpected error %s (details in %s)", one_line(exc), where)
            return error_response(500, f"{one_line(exc)} (unexpected; details in the server's crash log)")
