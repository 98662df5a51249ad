"""``paperlab api``: bind checks, the banner, uvicorn.

Beyond loopback the API needs TLS (``certfile`` + ``keyfile``) or an explicit ``behind_proxy``
(a TLS-terminating proxy in front); ``no_auth`` is for loopback only and said in the banner.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from kernelext.errors import Refused, SpecError
from kernelext.surfaces.http.config import ApiConfig

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, port: int, *, certfile: str | None, keyfile: str | None, behind_proxy: bool,
               no_auth: bool) -> None:
    """One line refusing what would expose the API (or naming a bad field)."""
    if not 0 < port < 65536:
        raise SpecError(f"port: expected 1-65535 (got {port})")
    if bool(certfile) != bool(keyfile):
        raise SpecError("certfile: --certfile and --keyfile go together")
    for field, path in (("certfile", certfile), ("keyfile", keyfile)):
        if path and not Path(path).is_file():
            raise SpecError(f"{field}: no such file {path}")
    if is_loopback(host):
        return
    if no_auth:
        raise Refused(f"no_auth: --no-auth is for 127.0.0.1 only, not {host}")
    if not certfile and not behind_proxy:
        raise Refused(f"host: refusing to serve the API on {host} over plain HTTP; give --certfile and "
                      "--keyfile, or --behind-proxy when a TLS proxy fronts it, or bind to 127.0.0.1")


def banner(host: str, port: int, *, tls: bool, no_auth: bool, behind_proxy: bool, config: ApiConfig) -> str:
    """What the server says when it starts (never a secret)."""
    scheme = "https" if tls else "http"
    where = f"[{host}]" if ":" in host else host
    lines = [f"PaperLab API on {scheme}://{where}:{port} (docs: {scheme}://{where}:{port}/docs)"]
    if no_auth:
        lines.append("WARNING: --no-auth: every request acts as admin without a token (loopback only)")
    else:
        lines.append("auth: bearer tokens (paperlab token create --name NAME --scope read|trade|admin)")
    if behind_proxy:
        lines.append("behind a proxy: X-Forwarded-* headers trusted; the proxy must terminate TLS")
    lines.append(f"limits: {config.token_sessions} running sessions per token, {config.ledger_sessions} in all; "
                 f"{config.starts_per_minute:g} starts/min and {config.requests_per_second:g} requests/s per token")
    return "\n".join(lines)


def run(host: str = "127.0.0.1", port: int = 8000, *, certfile: str | None = None, keyfile: str | None = None,
        behind_proxy: bool = False, no_auth: bool = False) -> int:
    """Serve until interrupted; the sessions this process started are stopped on the way out."""
    import uvicorn

    from kernelext import api
    from kernelext.surfaces.http.app import create_app

    check_bind(host, port, certfile=certfile, keyfile=keyfile, behind_proxy=behind_proxy, no_auth=no_auth)
    config = ApiConfig.from_env(no_auth=no_auth)
    print(banner(host, port, tls=bool(certfile), no_auth=no_auth, behind_proxy=behind_proxy, config=config),
          flush=True)
    logging.getLogger("uvicorn.access").disabled = True  # paths may carry ids; never tokens, but keep it quiet
    try:
        uvicorn.run(create_app(config), host=host, port=port, ssl_certfile=certfile, ssl_keyfile=keyfile,
                    proxy_headers=behind_proxy, forwarded_allow_ips="*" if behind_proxy else None,
                    log_level="warning")
    finally:
        api.stop_all()
    return 0
