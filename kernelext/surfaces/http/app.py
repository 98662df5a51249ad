"""The FastAPI app: routers over ``kernelext.api``, the error handlers, the limits. Docs at ``/docs``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from kernelext.surfaces.http import errors, ws
from kernelext.surfaces.http.config import ApiConfig
from kernelext.surfaces.http.limits import Limits
from kernelext.surfaces.http.routes import approvals, audit, frames, research, sessions, tokens

DESCRIPTION = (
    "PaperLab's automation API: every call is `kernelext.api`. Authenticate with "
    "`Authorization: Bearer <token>` (`paperlab token create --name NAME --scope read|trade|admin`): "
    "`read` sees, `trade` starts and controls, `admin` deletes and manages tokens. "
    "Errors are `{\"error\": one line}`."
)


@dataclass(slots=True)
class ApiState:
    """What the routes share: the settings and the counters."""

    config: ApiConfig
    limits: Limits


def create_app(config: ApiConfig | None = None, *, root_path: str = "") -> FastAPI:
    """A new app (``root_path``: where it is mounted, e.g. ``/api`` under ``paperlab serve``)."""
    config = config or ApiConfig.from_env()
    app = FastAPI(title="PaperLab API", description=DESCRIPTION, version="1", root_path=root_path)
    app.state.paperlab = ApiState(config, Limits(config))
    errors.install(app)
    for module in (research, frames, sessions, audit, approvals, tokens, ws):  # /sessions/{id}/report before /{verb}
        app.include_router(module.router)

    @app.get("/health", tags=["health"], summary="Is the API up (no token needed, says nothing else)")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
