"""IB Gateway health recorded in the ledger: on demand, and by a monitor every N minutes.

States are ``ok``, ``re-login needed`` and ``off`` (see ``kernelext.venues.ib.probe.health_of``).
Only transitions are stored (table ``gateway_health``); the previous state is taken from
the ledger, so a new process does not record a spurious change. The dashboard and the
app header read the latest row of the gateway they trade through.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from kernelext.ledger import Ledger
from kernelext.venues.ib.probe import (
    GatewayHealth,
    GatewayTarget,
    ProbeFailure,
    ProbeResult,
    health_of,
    mask_account,
    probe_account,
)

log = logging.getLogger(__name__)

INTERVAL_ENV = "PAPERLAB_IB_HEALTH_MINUTES"
DEFAULT_INTERVAL_MIN = 15.0

_monitors: dict[tuple[str, str], GatewayHealth] = {}  # (gateway, ledger file) -> its monitor
_monitors_lock = threading.Lock()


@dataclass(frozen=True)
class HealthRow:
    """The latest recorded health of one gateway."""

    gateway: str
    state: str
    previous: str | None
    message: str
    ts: int


def latest_health(ledger: Ledger, gateway: str | None = None) -> HealthRow | None:
    """The newest recorded health row (of ``gateway`` = ``host:port``, or of any gateway)."""
    rows = ledger.gateway_health(gateway, limit=1)
    if not rows:
        return None
    r = rows[0]
    return HealthRow(r["gateway"], r["state"], r["previous"], r["message"] or "", int(r["ts"]))


def _recorder(ledger: Ledger, target: GatewayTarget):
    def on_transition(old: str | None, new: str, message: str) -> None:
        last = latest_health(ledger, target.where)
        previous = last.state if last else old
        if previous != new:
            ledger.record_gateway_health(target.where, previous, new, message)

    return on_transition


def record_result(ledger: Ledger, target: GatewayTarget, result: ProbeResult) -> str:
    """Record the health a probe already saw (e.g. a session's preflight); return the state."""
    state = health_of(result)
    message = result.message if isinstance(result, ProbeFailure) else (
        f"IB Gateway at {target.where} ok, account {mask_account(result.account_id)}"
    )
    _recorder(ledger, target)(None, state, message)
    return state


def check_gateway(
    ledger: Ledger, target: GatewayTarget | None = None, *, timeout: float = 5.0,
    probe=probe_account,
) -> tuple[str, str]:
    """Probe once now; record a transition if the state changed. Returns (state, message)."""
    target = target or GatewayTarget.from_env()
    health = GatewayHealth(target, _recorder(ledger, target), timeout=timeout, probe=probe)
    state = health.check()
    return state, health.message


def check_now(ledger: Ledger | None, timeout: float = 5.0) -> ProbeResult:
    """The start card's Check gateway: one read-only probe, its health recorded when a ledger opens.

    Never raises for the gateway's sake: a bad PAPERLAB_IB_PORT / CLIENT_ID is a ``wrong port``
    failure, and a ledger that cannot be opened or written only loses the record.
    """
    try:
        target = GatewayTarget.from_env()
    except ValueError as exc:
        return ProbeFailure("wrong port", str(exc))
    seen: list[ProbeResult] = []

    def probe(t: GatewayTarget, timeout: float) -> ProbeResult:
        seen.append(probe_account(t, timeout))
        return seen[-1]

    led = _open(ledger)
    if led is None:
        return probe(target, timeout)
    try:
        check_gateway(led, target, timeout=timeout, probe=probe)
    except Exception:  # noqa: BLE001  (recording failed; the probe result still shows)
        log.exception("recording the gateway health failed")
    finally:
        led.close_thread()
    return seen[-1] if seen else probe(target, timeout)


def _open(ledger: Ledger | None) -> Ledger | None:
    if ledger is not None:
        return ledger
    try:
        return Ledger()
    except Exception:  # noqa: BLE001  (no ledger: probe without recording)
        log.warning("no ledger to record the gateway health in", exc_info=True)
        return None


def interval_minutes() -> float:
    """The monitor interval: ``PAPERLAB_IB_HEALTH_MINUTES`` or 15."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        return max(float(raw), 0.05) if raw else DEFAULT_INTERVAL_MIN
    except ValueError:
        return DEFAULT_INTERVAL_MIN


def watch_gateway(
    ledger: Ledger, target: GatewayTarget | None = None, *, interval_min: float | None = None,
    timeout: float = 5.0,
) -> GatewayHealth:
    """Start (once per gateway, ledger and process) a monitor that records transitions in ``ledger``."""
    target = target or GatewayTarget.from_env()
    key = (target.where, str(ledger.path))  # a gateway watched for one ledger is not watched for another
    with _monitors_lock:
        mon = _monitors.get(key)
        if mon is None:
            mon = GatewayHealth(target, _recorder(ledger, target), timeout=timeout)
            _monitors[key] = mon
            mon.start((interval_min or interval_minutes()) * 60.0)
        return mon


def stop_watching(target: GatewayTarget | None = None) -> None:
    """Stop the monitor of ``target`` (or every monitor)."""
    with _monitors_lock:
        keys = [k for k in _monitors if target is None or k[0] == target.where]
        mons = [_monitors.pop(k) for k in keys]
    for mon in mons:
        mon.stop()


__all__ = [
    "HealthRow", "ProbeResult", "check_gateway", "check_now", "record_result", "interval_minutes", "latest_health",
    "stop_watching", "watch_gateway",
]
