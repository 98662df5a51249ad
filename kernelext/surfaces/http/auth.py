"""Bearer tokens and scopes: ``read`` sees, ``trade`` starts and controls, ``admin`` deletes and
manages tokens. Each checked request also counts against its token's request rate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kernelext import api
from kernelext.actor import acting_as
from kernelext.surfaces.http.errors import ApiError

if TYPE_CHECKING:
    from kernelext.surfaces.http.app import ApiState

NO_AUTH_NAME = "no-auth"
BEARER = HTTPBearer(auto_error=False, description="a token from `paperlab token create --name NAME --scope SCOPE`")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the token's name and scope."""

    name: str
    scope: str

    def allows(self, scope: str) -> bool:
        """The caller's scope includes ``scope``."""
        return api.TOKEN_SCOPES.index(self.scope) >= api.TOKEN_SCOPES.index(scope)


def identify(state: ApiState, authorization: str | None) -> Caller:
    """The caller of an ``Authorization`` header value (401 when missing or not a live token)."""
    if state.config.no_auth:
        return Caller(NO_AUTH_NAME, "admin")
    scheme, _, text = (authorization or "").partition(" ")
    if not text or scheme.lower() != "bearer":
        raise ApiError(401, "token: missing; send Authorization: Bearer <token> "
                            "(paperlab token create --name NAME --scope read|trade|admin)",
                       {"WWW-Authenticate": "Bearer"})
    found = api.check_token(text.strip())
    if found is None:
        raise ApiError(401, "token: not a live token (revoked, mistyped or never made)",
                       {"WWW-Authenticate": "Bearer"})
    return Caller(found["name"], found["scope"])


def authorize(state: ApiState, caller: Caller, scope: str) -> None:
    """403 unless ``caller`` has ``scope``; then count the request (429 beyond the rate)."""
    if not caller.allows(scope):
        raise ApiError(403, f"scope: this needs a {scope} token; token {caller.name} is {caller.scope}")
    state.limits.request(caller.name)


def need(scope: str) -> Callable[..., Caller]:
    """A dependency: the caller, who must hold ``scope``."""

    def dependency(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(BEARER)) -> Caller:
        state = request.app.state.paperlab
        caller = identify(state, f"Bearer {cred.credentials}" if cred else request.headers.get("authorization"))
        authorize(state, caller, scope)
        return caller

    return dependency


@contextmanager
def acting(caller: Caller) -> Iterator[None]:
    """Audit rows written inside name the token and the ``api`` surface."""
    with acting_as("api", caller.name):
        yield
