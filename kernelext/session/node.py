"""SessionSpec -> TradingNodeConfig: the one place that builds Nautilus config.

Choices made here, and why:

- ``graceful_shutdown_on_exception=True`` on every engine: Nautilus's default answer
  to an exception in a queue is ``os._exit(1)``, which would take the notebook
  kernel with it. Graceful shutdown stops the node; the runner reports the error.
- Tuned timeouts (post-stop 0.1 s, disconnection 1 s, startup reconciliation 0.1 s):
  defaults cost ~10 s at each end of a session.
- The order submit-rate cap is wall-clock. Replay at ``speed`` x real time scales it
  by ``speed`` so it keeps its meaning in market time; at full speed (lock-step
  replay) it is lifted and the session says so.
- Cache purges keep a long session's memory flat: the ledger is the history.
"""

from __future__ import annotations

from dataclasses import dataclass

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.config import (
    LiveDataEngineConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    LoggingConfig,
    TradingNodeConfig,
)

from nautilus_trader.model.identifiers import InstrumentId

from kernelext.spec import SessionSpec
from kernelext.venues import ib_session, kraken
from kernelext.venues.pairs import KRAKEN
from kernelext.venues.replay import REPLAY_CLIENT, ReplayDataClientConfig

SANDBOX_CLIENT = KRAKEN.value
KRAKEN_DATA_CLIENT = "KRAKEN"
UNLIMITED_RATE = "100000000/00:00:01"


@dataclass(frozen=True, slots=True)
class NodePlan:
    """The node config plus facts the runner reports (effective caps, notes)."""

    config: TradingNodeConfig
    submit_rate: str
    notes: tuple[str, ...]
    settlement_currency: str  # the sandbox account's currency code (USD on replay, ZUSD on Kraken)
    data_client: str  # REPLAY or KRAKEN


def scaled_rate(rate: str, speed: float | None) -> str:
    """``'10/00:00:01'`` at speed 60 -> ``'600/00:00:01'``; full speed -> unlimited."""
    if speed is None:
        return UNLIMITED_RATE
    limit, interval = rate.split("/")
    return f"{max(1, round(int(limit) * speed))}/{interval}"


def build_node_config(
    spec: SessionSpec,
    *,
    trader_id: str,
    log_directory: str | None = None,
    log_file_name: str | None = None,
) -> NodePlan:
    """The ``TradingNodeConfig`` for a paper session: the sandbox, or IB paper (``_ib_plan``)."""
    notes: list[str] = []
    rate = spec.risk.max_order_submit_rate
    if spec.is_ib:
        return _ib_plan(spec, trader_id, log_directory, log_file_name)
    if spec.feed != "kraken":
        rate = scaled_rate(rate, spec.speed)
        if spec.speed is None:
            notes.append("order submit-rate cap lifted: replay runs faster than the wall clock")
        elif spec.speed != 1:
            notes.append(f"order submit-rate cap scaled x{spec.speed:g} to market time: {rate}")
    live = spec.feed == "kraken"
    currency = kraken.asset_code(spec.currency) if live else spec.currency
    data_client = KRAKEN_DATA_CLIENT if live else REPLAY_CLIENT
    data_config = kraken.data_client_config(spec.instruments) if live else _replay_config(spec)
    config = _node_config(
        spec, trader_id, log_directory, log_file_name, rate=rate, reconciliation=False,
        data_clients={data_client: data_config},
        exec_clients={SANDBOX_CLIENT: _sandbox_config(spec, currency, bar_execution=not live)},
        timeout_connection=10.0,
        timeout_reconciliation=1.0,
        timeout_portfolio=1.0,
        timeout_disconnection=5.0 if live else 1.0,  # a WebSocket feed takes longer to close
        timeout_post_stop=0.1,
        timeout_shutdown=1.0,
    )
    return NodePlan(config=config, submit_rate=rate, notes=tuple(notes), settlement_currency=currency,
                    data_client=data_client)


def _node_config(
    spec: SessionSpec,
    trader_id: str,
    log_directory: str | None,
    log_file_name: str | None,
    *,
    rate: str,
    reconciliation: bool,
    data_clients: dict,
    exec_clients: dict,
    **timeouts: float,
) -> TradingNodeConfig:
    """The parts every session shares: logging, engines that never ``os._exit``, the spec's
    risk caps, reconciliation of the spec's instruments when on; clients and timeouts vary."""
    notional = {iid: int(spec.risk.max_notional_per_order) for iid in spec.instruments}
    return TradingNodeConfig(
        trader_id=trader_id,
        logging=_logging(log_directory, log_file_name),
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        risk_engine=_risk_engine(rate, notional),
        exec_engine=_exec_engine(reconciliation=reconciliation, instrument_ids=spec.instruments if reconciliation else None),
        data_clients=data_clients,
        exec_clients=exec_clients,
        **timeouts,
    )


def _logging(log_directory: str | None, log_file_name: str | None) -> LoggingConfig:
    return LoggingConfig(
        log_level="ERROR",
        log_level_file="INFO" if log_directory else None,
        log_directory=log_directory,
        log_file_name=log_file_name,
        log_colors=False,
    )


def _risk_engine(rate: str, notional: dict[str, int]) -> LiveRiskEngineConfig:
    return LiveRiskEngineConfig(
        graceful_shutdown_on_exception=True,
        max_order_submit_rate=rate,
        max_notional_per_order=notional,
    )


def _exec_engine(*, reconciliation: bool, instrument_ids: list[str] | None = None) -> LiveExecEngineConfig:
    """Engine config; with ``reconciliation`` (a real venue) also continuous reconciliation:
    open orders checked every 5 s and positions every 15 s against the venue, so a fill the
    venue made while the connection was down (its execDetails lost) still reaches the ledger.
    ``instrument_ids``: reconcile only the session's instruments (the account's other
    holdings are not the session's business)."""
    return LiveExecEngineConfig(
        graceful_shutdown_on_exception=True,
        reconciliation=reconciliation,
        reconciliation_instrument_ids=[InstrumentId.from_str(i) for i in instrument_ids] if instrument_ids else None,
        open_check_interval_secs=5.0 if reconciliation else None,
        position_check_interval_secs=15.0 if reconciliation else None,
        reconciliation_startup_delay_secs=0.1 if not reconciliation else 1.0,
        purge_closed_orders_interval_mins=15,
        purge_closed_orders_buffer_mins=60,
        purge_closed_positions_interval_mins=15,
        purge_closed_positions_buffer_mins=60,
        purge_account_events_interval_mins=15,
        purge_account_events_lookback_mins=60,
    )


def _ib_plan(spec: SessionSpec, trader_id: str, log_directory: str | None, log_file_name: str | None) -> NodePlan:
    """IB data and IB paper execution through one gateway connection; startup reconciliation on.

    The submit-rate cap stays wall-clock (IB's own pacing is 50 messages/s).
    """
    rate = spec.risk.max_order_submit_rate
    notes = [ib_session.SYMBOLOGY_NOTE]
    notes.append("orders and bars outside regular trading hours allowed" if spec.outside_rth
                 else "decisions only inside regular trading hours (IB liquidHours); --outside-rth to allow more")
    config = _node_config(
        spec, trader_id, log_directory, log_file_name, rate=rate, reconciliation=True,
        data_clients={ib_session.IB_CLIENT: ib_session.data_client_config(spec)},
        exec_clients={ib_session.IB_CLIENT: ib_session.exec_client_config(spec)},
        timeout_connection=30.0,
        timeout_reconciliation=15.0,
        timeout_portfolio=5.0,
        timeout_disconnection=5.0,
        timeout_post_stop=0.5,
        timeout_shutdown=2.0,
    )
    return NodePlan(config=config, submit_rate=rate, notes=tuple(notes), settlement_currency=spec.currency,
                    data_client=ib_session.IB_CLIENT)


def _replay_config(spec: SessionSpec) -> ReplayDataClientConfig:
    return ReplayDataClientConfig(
        instrument_ids=tuple(spec.instruments),
        seed=spec.seed,
        speed=spec.speed,
        anchor_ns=spec.anchor_ns,
        catalog_path=spec.catalog_path,
        max_bars=spec.max_bars,
    )


def _sandbox_config(spec: SessionSpec, currency: str, *, bar_execution: bool) -> SandboxExecutionClientConfig:
    """The local sandbox on the KRAKEN venue, funded in the instruments' own quote currency.

    On the live feed it fills against Kraken's quotes and trades (bars built in the node
    are not fed to it); on replay, bars are the market.
    """
    return SandboxExecutionClientConfig(
        venue=KRAKEN.value,
        starting_balances=[f"{spec.starting_cash} {currency}"],
        base_currency=currency,
        oms_type="NETTING",
        account_type="MARGIN",
        bar_execution=bar_execution,
        trade_execution=True,
    )
