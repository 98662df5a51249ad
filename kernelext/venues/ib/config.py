"""ib-paper's Nautilus clients: IB data and IB paper execution through one gateway connection.

- **One API connection.** Data and execution share one IB client (Nautilus keys its
  clients by host, port and client id); its client id is the probe's plus one, so a
  health probe never collides with a running session.
- Startup and continuous reconciliation are on (a real venue); the submit-rate cap stays
  wall-clock (IB's own pacing is 50 messages/s).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nautilus_trader.adapters.interactive_brokers.common import IB_VENUE, IBOrderTags
from nautilus_trader.adapters.interactive_brokers.config import (
    InteractiveBrokersDataClientConfig,
    InteractiveBrokersExecClientConfig,
    InteractiveBrokersInstrumentProviderConfig,
    SymbologyMethod,
)
from nautilus_trader.adapters.interactive_brokers.factories import (
    InteractiveBrokersLiveDataClientFactory,
    InteractiveBrokersLiveExecClientFactory,
)
from nautilus_trader.config import RoutingConfig

from kernelext.spec import SessionSpec
from kernelext.venues.base import Client, TelemetryOptions, VenuePlan
from kernelext.venues.ib.probe import GatewayTarget
from kernelext.venues.ib.symbology import SYMBOLOGY_NOTE

IB_CLIENT = IB_VENUE.value  # "INTERACTIVE_BROKERS": the exec client's account issuer


def target_for(spec: SessionSpec) -> GatewayTarget:
    """The gateway of this session (env host/port: the paper gateway, or the live one for a
    real-money venue), with the spec's account."""
    from kernelext import venues

    base = GatewayTarget.from_env(paper=not venues.get(spec.venue).real_money)
    return replace(base, account_id=spec.account_id or base.account_id)


def node_client_id(target: GatewayTarget) -> int:
    """The API client id of the session's node: the probe's plus one."""
    return target.client_id + 1


def plan(spec: SessionSpec) -> VenuePlan:
    """IB data and IB paper execution; equity is the account's NetLiquidation."""
    from kernelext.venues.ib.session import IbSession

    hours = ("orders and bars outside regular trading hours allowed" if spec.outside_rth
             else "decisions only inside regular trading hours (IB liquidHours); --outside-rth to allow more")
    return VenuePlan(
        data_clients=(Client(IB_CLIENT, data_client_config(spec), InteractiveBrokersLiveDataClientFactory),),
        exec_clients=(Client(IB_CLIENT, exec_client_config(spec), InteractiveBrokersLiveExecClientFactory),),
        settlement_currency=spec.currency,
        submit_rate=spec.risk.max_order_submit_rate,
        telemetry=TelemetryOptions(venue=IB_VENUE, starting_cash=None, equity_from_venue=True),
        session=IbSession(spec),
        notes=(SYMBOLOGY_NOTE, hours),
        reconciliation=True,
        timeouts={
            "timeout_connection": 30.0,
            "timeout_reconciliation": 15.0,
            "timeout_portfolio": 5.0,
            "timeout_disconnection": 5.0,
            "timeout_post_stop": 0.5,
            "timeout_shutdown": 2.0,
        },
    )


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
