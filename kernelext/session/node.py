"""SessionSpec + VenuePlan -> TradingNodeConfig: the one place that builds Nautilus config.

The venue (``kernelext.venues``) plans its clients, submit-rate cap, timeouts and session
hooks (``Venue.plan``); this module adds what every session shares:

- ``graceful_shutdown_on_exception=True`` on every engine: Nautilus's default answer
  to an exception in a queue is ``os._exit(1)``, which would take the notebook
  kernel with it. Graceful shutdown stops the node; the runner reports the error.
- Tuned timeouts (the venue's; startup reconciliation 0.1 s off a real venue):
  defaults cost ~10 s at each end of a session.
- Cache purges keep a long session's memory flat: the ledger is the history. (These timers
  run on the wall clock; a venue whose feed runs on its own clock purges on that clock too.)
"""

from __future__ import annotations

from dataclasses import dataclass

from nautilus_trader.config import (
    LiveDataEngineConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    LoggingConfig,
    TradingNodeConfig,
)

from nautilus_trader.model.identifiers import InstrumentId

from kernelext import venues
from kernelext.paths import private_dir
from kernelext.session.logs import process_log, stderr_file
from kernelext.session.nautilus_log import divert_stderr
from kernelext.spec import SessionSpec
from kernelext.venues.base import VenuePlan


@dataclass(frozen=True, slots=True)
class NodePlan:
    """The node config plus the venue's plan (clients to add, hooks, effective caps, notes)."""

    config: TradingNodeConfig
    venue: VenuePlan


def build_node_config(
    spec: SessionSpec,
    *,
    trader_id: str,
    log_directory: str | None = None,
    log_file_name: str | None = None,
) -> NodePlan:
    """The ``TradingNodeConfig`` for a paper session on the spec's venue."""
    plan = venues.get(spec.venue).plan(spec)
    config = _node_config(
        spec, trader_id, log_directory, log_file_name, rate=plan.submit_rate, reconciliation=plan.reconciliation,
        data_clients={c.name: c.config for c in plan.data_clients},
        exec_clients={c.name: c.config for c in plan.exec_clients},
        **plan.timeouts,
    )
    return NodePlan(config=config, venue=plan)


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
        logging=logging_config(log_directory, log_file_name),
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        risk_engine=_risk_engine(rate, notional),
        exec_engine=_exec_engine(reconciliation=reconciliation, instrument_ids=spec.instruments if reconciliation else None),
        data_clients=data_clients,
        exec_clients=exec_clients,
        **timeouts,
    )


LOG_FILE_MAX_BYTES = 50 * 1024 * 1024  # Nautilus's log rotates by size: 50 MB x 5 backups
LOG_FILE_BACKUPS = 5


def logging_config(log_directory: str | None, log_file_name: str | None) -> LoggingConfig:
    """Nautilus's logging: ERROR on screen (diverted to the log), INFO to the file, rotated by size."""
    return LoggingConfig(
        log_file_max_size=LOG_FILE_MAX_BYTES,
        log_file_max_backup_count=LOG_FILE_BACKUPS,
        log_level="ERROR",
        log_level_file="INFO" if log_directory else None,
        log_directory=log_directory,
        log_file_name=log_file_name,
        log_colors=False,
    )


def process_logging(trader_id: str) -> LoggingConfig:
    """This process's Nautilus logging, as a paper session sets it. Nautilus sets its logger up once per
    process, by its first node or engine: anything built with other logging first (a backtest that
    bypassed logging, a bare node) would silence every later session's log file."""
    log_path, _ = process_log(trader_id)
    private_dir(log_path.parent)
    divert_stderr(stderr_file(log_path))
    return logging_config(str(log_path.parent), log_path.stem)


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
