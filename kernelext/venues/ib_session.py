"""ib-paper sessions: NautilusTrader's Interactive Brokers adapter inside the session's node.

- **Preflight** (before any ledger row): the read-only probe must reach the gateway and
  see a paper (``DU…``) account, and IB must know every instrument; its one-line reason
  is the error otherwise ("gateway down" names the command that starts it; an unknown
  symbol would otherwise cost the adapter's request timeout and a failed start). The account the node trades is the one the
  probe settled on (``PAPERLAB_IB_ACCOUNT_ID`` or the gateway's DU account).
- **One session per gateway.** IB allows one login per gateway, and two nodes on one
  account would reconcile each other's orders: a second start on the same ``host:port``
  is refused while the ledger shows an active ib-paper session there.
- **One API connection.** Data and execution share one IB client (Nautilus keys its
  clients by host, port and client id); its client id is the probe's plus one, so a
  health probe never collides with a running session.
- **Nautilus's process-wide IB caches.** The adapter caches clients and instrument
  providers per process (``factories.IB_CLIENTS``), bound to the node's event loop. A
  notebook runs many sessions in one process, so the runner forgets them after every
  session (``forget_clients``); otherwise the next session would get a client tied to a
  closed loop.
- **Symbology.** IB simplified symbology ``SYMBOL.PRIMARY_EXCHANGE`` (``QQQ.NASDAQ``);
  it is a Nautilus instrument id as it stands and says which listing IB trades.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nautilus_trader.adapters.interactive_brokers import factories as ib_factories
from nautilus_trader.adapters.interactive_brokers.common import IB_VENUE, IBOrderTags
from nautilus_trader.adapters.interactive_brokers.config import (
    InteractiveBrokersDataClientConfig,
    InteractiveBrokersExecClientConfig,
    InteractiveBrokersInstrumentProviderConfig,
    SymbologyMethod,
)
from nautilus_trader.config import RoutingConfig

from kernelext.ledger import Ledger, queries
from kernelext.spec import SessionSpec, SpecError
from kernelext.venues.ib import (
    AccountSnapshot,
    GatewayTarget,
    ProbeFailure,
    mask_account,
    missing_contracts,
    probe_account,
)

IB_CLIENT = IB_VENUE.value  # "INTERACTIVE_BROKERS": the exec client's account issuer
SYMBOLOGY_NOTE = "IB symbology SYMBOL.PRIMARY_EXCHANGE (e.g. QQQ.NASDAQ), not catalog symbology"


def target_for(spec: SessionSpec) -> GatewayTarget:
    """The gateway of this session (env host/port), with the spec's account."""
    base = GatewayTarget.from_env(paper=True)
    return replace(base, account_id=spec.account_id or base.account_id)


def node_client_id(target: GatewayTarget) -> int:
    """The API client id of the session's node: the probe's plus one."""
    return target.client_id + 1


def preflight(spec: SessionSpec, ledger: Ledger, *, timeout: float = 5.0) -> tuple[SessionSpec, AccountSnapshot]:
    """Refuse (``SpecError``, one line) unless the gateway is up with a paper account and free."""
    target = target_for(spec)
    busy = active_session_on(ledger, target.where)
    if busy:
        raise SpecError(
            f"venue: an ib-paper session ({busy}) is already running on the IB Gateway at {target.where}; "
            "IB allows one session per gateway login: stop it first"
        )
    result = probe_account(target, timeout=timeout)
    if not isinstance(result, AccountSnapshot):
        raise SpecError(f"venue: {result.message}")
    if not result.is_paper:  # the probe refuses live accounts on the paper profile; belt and braces
        raise SpecError(f"account: ib-paper needs a paper account (DU…), the gateway has {mask_account(result.account_id)}")
    missing = missing_contracts(target, spec.instruments, timeout=timeout)
    if isinstance(missing, ProbeFailure):
        raise SpecError(f"venue: {missing.message}")
    if missing:
        raise SpecError(
            f"instrument: IB has no stock {missing[0]} (IB symbology SYMBOL.PRIMARY_EXCHANGE, e.g. QQQ.NASDAQ, "
            "AAPL.NASDAQ, SPY.ARCA; a space in the symbol is '-', e.g. BRK-B.NYSE)"
        )
    return replace(spec, account_id=result.account_id, ib_gateway=target.where), result


def active_session_on(ledger: Ledger, gateway: str) -> str | None:
    """The id of an active ib-paper session on ``gateway``, if any."""
    for sid, spec_json in queries.active_session_specs(ledger, "ib-paper"):
        try:
            if json.loads(spec_json or "{}").get("ib_gateway") == gateway:
                return sid
        except json.JSONDecodeError:
            continue
    return None


def _provider(spec: SessionSpec) -> InteractiveBrokersInstrumentProviderConfig:
    return InteractiveBrokersInstrumentProviderConfig(
        load_ids=frozenset(spec.instruments),
        symbology_method=SymbologyMethod.IB_SIMPLIFIED,
    )


def _connection(spec: SessionSpec) -> dict[str, Any]:
    """What the data and execution clients share: one gateway connection, one provider."""
    target = target_for(spec)
    return {
        "ibg_host": target.host,
        "ibg_port": target.port,
        "ibg_client_id": node_client_id(target),
        "instrument_provider": _provider(spec),
        "connection_timeout": 20,
        "request_timeout_secs": 20,
    }


def data_client_config(spec: SessionSpec) -> InteractiveBrokersDataClientConfig:
    """IB market data for the session's instruments (bars RTH-only unless ``outside_rth``)."""
    return InteractiveBrokersDataClientConfig(use_regular_trading_hours=not spec.outside_rth, **_connection(spec))


def exec_client_config(spec: SessionSpec) -> InteractiveBrokersExecClientConfig:
    """IB's own paper execution on the session's (DU…) account, default route for every venue."""
    return InteractiveBrokersExecClientConfig(
        account_id=spec.account_id, routing=RoutingConfig(default=True), **_connection(spec)
    )


def order_tags(spec: SessionSpec) -> list[str] | None:
    """``outsideRth`` on every order when the session allows trading outside RTH."""
    return [IBOrderTags(outsideRth=True).value] if spec.outside_rth else None


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
