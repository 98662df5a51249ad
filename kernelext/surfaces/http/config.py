"""The API's settings: authentication on or off, the session ceilings and the rate limits.

Limits come from the environment (each a positive number):
``PAPERLAB_API_SESSIONS_PER_TOKEN`` (default 10), ``PAPERLAB_API_SESSIONS_MAX`` (the whole ledger, 50),
``PAPERLAB_API_STARTS_PER_MIN`` (per token, 10), ``PAPERLAB_API_REQUESTS_PER_S`` (per token, 50).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kernelext.errors import SpecError

ENV_LIMITS: dict[str, tuple[str, float]] = {
    "token_sessions": ("PAPERLAB_API_SESSIONS_PER_TOKEN", 10),
    "ledger_sessions": ("PAPERLAB_API_SESSIONS_MAX", 50),
    "starts_per_minute": ("PAPERLAB_API_STARTS_PER_MIN", 10),
    "requests_per_second": ("PAPERLAB_API_REQUESTS_PER_S", 50),
}


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """What one API server enforces."""

    no_auth: bool = False
    token_sessions: int = 10
    ledger_sessions: int = 50
    starts_per_minute: float = 10.0
    requests_per_second: float = 50.0

    @classmethod
    def from_env(cls, *, no_auth: bool = False) -> ApiConfig:
        """The limits of ``ENV_LIMITS`` read from the environment (a bad value: one line naming it)."""
        values: dict[str, float] = {}
        for field, (env, default) in ENV_LIMITS.items():
            raw = os.environ.get(env, "").strip()
            try:
                value = float(raw) if raw else float(default)
            except ValueError:
                value = -1.0
            if value <= 0:
                raise SpecError(f"{env}: expected a positive number (got {raw!r})")
            values[field] = value
        return cls(no_auth=no_auth, token_sessions=int(values["token_sessions"]),
                   ledger_sessions=int(values["ledger_sessions"]),
                   starts_per_minute=values["starts_per_minute"],
                   requests_per_second=values["requests_per_second"])
