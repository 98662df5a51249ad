"""The served app's login: Panel's basic auth (``panel.auth``), hardened.

- a password of at least ``MIN_PASSWORD`` characters, from ``$PAPERLAB_APP_PASSWORD`` or a prompt,
  never the command line; none given (where one is needed): one is generated and printed once;
- login throttling: ``MAX_FAILURES`` failed logins from one address lock it out for ``LOCKOUT_S``;
  the page then says "Rate limit exceeded, try again in a few seconds" (status 429);
- every login, good or bad, is audited (``api.record_audit("app.login", {"result": ...})``, the name
  typed as the actor; never the password);
- the login cookies are ``SameSite=Lax`` always, and ``Secure`` when the app is served over TLS;
- the password is compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from typing import Any

from panel.auth import BasicAuthProvider, BasicLoginHandler

from kernelext import api
from kernelext.actor import acting_as

log = logging.getLogger(__name__)

MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCKOUT_S = 60.0
RATE_LIMITED = "Rate limit exceeded, try again in a few seconds"
PASSWORD_ENV = "PAPERLAB_APP_PASSWORD"


def check_password(password: str, where: str = PASSWORD_ENV) -> str:
    """``password`` when it is long enough, else a one-line ``ValueError`` naming ``where``."""
    if len(password) < MIN_PASSWORD or not password.strip():
        raise ValueError(f"{where}: the app password needs at least {MIN_PASSWORD} characters "
                         f"(got {len(password)}); or give none and one is generated and printed once")
    return password


def generated_password() -> str:
    """A fresh random password (24 characters)."""
    return secrets.token_urlsafe(18)


class Throttle:
    """Failed logins per client address: ``MAX_FAILURES`` in a row lock it for ``LOCKOUT_S``."""

    def __init__(self, max_failures: int = MAX_FAILURES, lockout_s: float = LOCKOUT_S) -> None:
        self.max_failures, self.lockout_s = max_failures, lockout_s
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, who: str) -> float:
        """Seconds ``who`` stays locked out (0: not locked)."""
        with self._lock:
            left = self._locked_until.get(who, 0.0) - time.monotonic()
            if left <= 0 and who in self._locked_until:
                del self._locked_until[who]
                self._failures.pop(who, None)
            return max(0.0, left)

    def failed(self, who: str) -> bool:
        """Count a failure; True when it locks ``who`` out now."""
        with self._lock:
            n = self._failures.get(who, 0) + 1
            self._failures[who] = n
            if n >= self.max_failures:
                self._locked_until[who] = time.monotonic() + self.lockout_s
                return True
            return False

    def succeeded(self, who: str) -> None:
        with self._lock:
            self._failures.pop(who, None)


def _audit(user: str, result: str, address: str) -> None:
    try:
        with acting_as("app", user or "anonymous"):
            api.record_audit("app.login", {"result": result, "address": address})
    except Exception as e:  # noqa: BLE001  (a busy ledger must not open or shut the door)
        log.warning("audit: could not record app.login (%s)", type(e).__name__)


class ThrottledLoginHandler(BasicLoginHandler):
    """Panel's login page with a constant-time check, throttling, audit and hardened cookies."""

    password: str = ""
    throttle: Throttle = Throttle()

    def _validate(self, username: str, password: str) -> bool:
        return bool(self.password) and hmac.compare_digest(password.encode("utf-8"), self.password.encode("utf-8"))

    def post(self) -> None:
        who = self.request.remote_ip or "unknown"
        username = self.get_argument("username", "")
        if self.throttle.locked(who):
            _audit(username, "locked", who)
            return self._refuse(f"{RATE_LIMITED} (too many failed logins; locked for up to "
                                f"{self.throttle.lockout_s:.0f} s)")
        if self._validate(username, self.get_argument("password", "")):
            self.throttle.succeeded(who)
            _audit(username, "ok", who)
            return super().post()
        locked_now = self.throttle.failed(who)
        _audit(username, "failed", who)
        if locked_now:
            return self._refuse(f"{RATE_LIMITED} (too many failed logins; locked for "
                                f"{self.throttle.lockout_s:.0f} s)")
        return super().post()  # _validate says no: Panel's "Invalid username or password!"

    def _refuse(self, message: str) -> None:
        self.set_status(429)
        self.set_header("Retry-After", str(int(self.throttle.lockout_s)))
        self.write(self._login_template.render(login_endpoint=self._login_endpoint, errormessage=message,
                                               PANEL_CDN=_cdn()))

    def set_secure_cookie(self, name: str, value: Any, expires_days: float | None = 30, version: int | None = None,
                          **kwargs: Any) -> None:
        """Every login cookie SameSite=Lax, and Secure over TLS (or behind a TLS proxy)."""
        kwargs.setdefault("samesite", "Lax")
        if self.request.protocol == "https":
            kwargs["secure"] = True
        super().set_secure_cookie(name, value, expires_days=expires_days, version=version, **kwargs)

    def set_cookie(self, name: str, value: Any, *args: Any, **kwargs: Any) -> None:  # next_url
        kwargs.setdefault("samesite", "Lax")
        if self.request.protocol == "https":
            kwargs["secure"] = True
        super().set_cookie(name, value, *args, **kwargs)


def _cdn() -> str:
    from panel.auth import CDN_DIST

    return CDN_DIST


class ThrottledAuthProvider(BasicAuthProvider):
    """``BasicAuthProvider`` serving ``ThrottledLoginHandler`` for one password."""

    def __init__(self, password: str, *, throttle: Throttle | None = None, **kwargs: Any) -> None:
        self.password = check_password(password)
        self.throttle = throttle or Throttle()
        super().__init__(**kwargs)  # reads login_handler

    @property
    def login_handler(self) -> type[BasicLoginHandler]:
        provider = self

        class Handler(ThrottledLoginHandler):
            _login_endpoint = provider._login_endpoint
            _login_template = provider._login_template
            password = provider.password
            throttle = provider.throttle

        return Handler
