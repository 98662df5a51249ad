"""ib-paper sessions: NautilusTrader's Interactive Brokers adapter inside the session's node.

- **Preflight** (before any ledger row): the read-only probe must reach the gateway and
  see a paper (``DU…``) account, and IB must know every instrument; its one-line reason
  is the error otherwise ("gateway down" names the command that starts it; an unknown
  symbol would otherwise cost the adapter's request timeout and a failed start). The account the node trades is the one the
  probe settled on (``PAPERLAB_IB_ACCOUNT_ID`` or the gateway's DU account).
- **One session per gateway.** IB allows one login per gateway, and two nodes on one
  account would reconcile each other's orders: a second start on the same ``host:port``
  is refused while the ledger shows an active ib-paper session there.
- **Nautilus's process-wide IB caches.** The adapter caches clients and instrument
  providers per process (``factories.IB_CLIENTS``), bound to the node's event loop. A
  notebook runs many sessions in one process, so the session forgets them after it ends
  (``forget_clients``); otherwise the next session would get a client tied to a closed loop.
- **Session hooks** (``IbSession``): the RTH gate, order tags and DAY orders on every
  strategy; the connection watcher (``feed.stale`` / ``feed.reconnected``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nautilus_trader.adapters.interactive_brokers import factories as ib_factories
from nautilus_trader.adapters.interactive_brokers.data import InteractiveBrokersDataClient
from nautilus_trader.model.enums import TimeInForce

from kernelext.ledger import Ledger, queries
from kernelext.spec import SessionSpec, SpecError
from kernelext.venues.base import FeedReport, VenueSession
from kernelext.venues.ib.config import node_client_id, order_tags, target_for
from kernelext.venues.ib.hours import MarketHours
from kernelext.venues.ib.probe import (
    AccountSnapshot,
    ProbeFailure,
    mask_account,
    missing_contracts,
    probe_account,
)


def preflight(spec: SessionSpec, ledger: Ledger, *, timeout: float = 5.0) -> tuple[SessionSpec, AccountSnapshot]:
    """Refuse (``SpecError``, one line) unless the gateway is up with a paper account and free."""
    target = target_for(spec)
    busy = active_session_on(ledger, target.where, spec.venue)
    if busy:
        raise SpecError(
            f"venue: an {spec.venue} session ({busy}) is already running on the IB Gateway at {target.where}; "
            "IB allows one session per gateway login: stop it first"
        )
    other = OTHER_GATEWAY[spec.venue]
    busy = next((sid for sid, _ in queries.active_session_specs(ledger, other)), None)
    if busy:  # paper and live log in with the same IB username, and IB allows one login at a time
        raise SpecError(
            f"venue: an {other} session ({busy}) is using the {other.removeprefix('ib-')} gateway, and paper and live "
            f"share one IB login; stop it before starting {spec.venue}"
        )
    result = probe_account(target, timeout=timeout)
    if not isinstance(result, AccountSnapshot):
        raise SpecError(f"venue: {result.message}")
    if result.is_paper != target.paper:  # the probe refuses the other kind of account; belt and braces
        wanted = "a paper account (DU…)" if target.paper else "a live account (U…)"
        raise SpecError(f"account: {spec.venue} needs {wanted}, the gateway has {mask_account(result.account_id)}")
    missing = missing_contracts(target, spec.instruments, timeout=timeout)
    if isinstance(missing, ProbeFailure):
        raise SpecError(f"venue: {missing.message}")
    if missing:
        raise SpecError(
            f"instrument: IB has no stock {missing[0]} (IB symbology SYMBOL.PRIMARY_EXCHANGE, e.g. QQQ.NASDAQ, "
            "AAPL.NASDAQ, SPY.ARCA; a space in the symbol is '-', e.g. BRK-B.NYSE)"
        )
    return replace(spec, account_id=result.account_id, ib_gateway=target.where), result


OTHER_GATEWAY: dict[str, str] = {"ib-paper": "ib-live", "ib-live": "ib-paper"}
"""The venue on the other gateway of the same IB login."""


def active_session_on(ledger: Ledger, gateway: str, venue: str = "ib-paper") -> str | None:
    """The id of an active ``venue`` session on ``gateway``, if any."""
    for sid, spec_json in queries.active_session_specs(ledger, venue):
        try:
            if json.loads(spec_json or "{}").get("ib_gateway") == gateway:
                return sid
        except json.JSONDecodeError:
            continue
    return None


def forget_clients(spec: SessionSpec) -> None:
    """Drop Nautilus's process-wide cached IB client and providers of this session's gateway."""
    target = target_for(spec)
    key = (target.host, target.port, node_client_id(target))
    client = ib_factories.IB_CLIENTS.pop(key, None)
    for provider_key in [k for k in ib_factories.IB_INSTRUMENT_PROVIDERS if k[0] == key]:
        ib_factories.IB_INSTRUMENT_PROVIDERS.pop(provider_key, None)
    if client is not None:
        try:
            client._eclient.disconnect()  # the socket, if the node's stop did not close it
        except Exception:  # noqa: BLE001
            pass


async def watch_connection(client: Any, on_change: Callable[[bool], None], interval_s: float = 0.25) -> None:
    """Call ``on_change(ready)`` whenever the IB client's API connection goes down or comes back.

    Nautilus's client reconnects by itself (its watchdog notices within 1 s, waits 5 s,
    reconnects, resubscribes); this only reports it, for the session's events and status.
    """
    ready = bool(client.is_ready)
    while True:
        await asyncio.sleep(interval_s)
        now = bool(client.is_ready)
        if now != ready:
            ready = now
            on_change(now)


class IbSession(VenueSession):
    """An ib-paper session's hooks: strategies trade DAY orders inside RTH (unless
    ``outside_rth``), the connection watcher reports, IB's caches are freed at the end."""

    def __init__(self, spec: SessionSpec) -> None:
        self.spec = spec

    def add_client(self, client: Any) -> None:
        if isinstance(client, InteractiveBrokersDataClient):
            self.market_client = client

    def configure_strategy(self, strategy: Any) -> None:
        strategy.market_hours_of = None if self.spec.outside_rth else MarketHours.from_instrument
        strategy.order_tags = order_tags(self.spec)
        strategy.order_time_in_force = TimeInForce.DAY

    async def watch(self, report: FeedReport) -> None:
        """The IB API connection went down or came back (Nautilus reconnects by itself)."""
        if self.market_client is None:
            return

        def on_change(ready: bool) -> None:
            if ready:
                report("feed.reconnected", "IB connection restored; subscriptions renewed and orders reconciled", False)
            else:
                report("feed.stale", "IB connection lost; reconnecting (Nautilus retries every ~6 s)", True)

        await watch_connection(self.market_client._client, on_change)

    async def stopped(self) -> None:
        await client_stopped()

    def disposed(self) -> None:
        forget_clients(self.spec)


async def client_stopped(timeout: float = 3.0) -> None:
    """Let the IB client's ``_stop_async`` finish (disconnect, clear bar timers) before the
    loop's leftovers are cancelled: cancelled mid-way, Nautilus's task callback calls
    ``task.exception()`` on it and logs a CancelledError traceback."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stopping = [t for t in asyncio.all_tasks() if not t.done() and "_stop_async" in repr(t.get_coro())]
        if not stopping:
            return
        await asyncio.sleep(0.02)
