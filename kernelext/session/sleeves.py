"""A spec's sleeves as Nautilus strategies, and as ledger rows: one place for both.

Paper (the runner) and backtests build the same strategies the same way: same
registry entry, same params, the sleeve's ``order_id_tag`` (so strategy ids are
distinct in a book), and the bar type the data carries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from kernelext import venues
from kernelext.spec import SessionSpec, Sleeve, sleeve_tag
from kernelext.strategies import registry


def build_strategies(spec: SessionSpec, bar_type_of: Callable[[Sleeve], str], *,
                     log_order_flow: bool = True) -> list[tuple[Strategy, str]]:
    """``(strategy, sleeve name)`` for every sleeve; ``bar_type_of`` gives each sleeve's bar type.
    ``log_order_flow=False``: the strategies do not repeat each order command and event as a log
    line (Nautilus's ``log_commands``/``log_events``): for a recorded backtest, whose ledger holds
    every one of them; their decisions and warnings are still logged.
    On a venue whose account cannot short (spot cash), strategies run long-flat. On a venue that
    keeps the session's orders (``Venue.claims_orders``), each instrument's first sleeve claims the
    orders reconciliation brings back (Nautilus's ``external_order_claims``)."""
    venue = venues.get(spec.venue)
    long_only = venue.long_only(spec)
    claimed: set[str] = set()
    out = []
    for i, sleeve in enumerate(spec.sleeves):
        entry = registry.get(sleeve.strategy_key)
        config = registry.build_config(
            entry,
            instrument_id=InstrumentId.from_str(sleeve.instrument_id),
            bar_type=BarType.from_str(bar_type_of(sleeve)),
            params=sleeve.params,
            order_id_tag=sleeve_tag(i),
            long_only=long_only,
        )
        if not log_order_flow:
            config = msgspec.structs.replace(config, log_events=False, log_commands=False)
        if venue.claims_orders and sleeve.instrument_id not in claimed:
            claimed.add(sleeve.instrument_id)
            config = msgspec.structs.replace(config, external_order_claims=[InstrumentId.from_str(sleeve.instrument_id)])
        out.append((registry.build_strategy(entry, config), sleeve.name))
    return out


def sleeve_rows(spec: SessionSpec) -> list[dict[str, Any]]:
    """The ledger's ``sleeves`` rows of a spec."""
    rows = []
    for i, s in enumerate(spec.sleeves):
        entry = registry.get(s.strategy_key)
        rows.append(
            {
                "sleeve": s.name,
                "strategy_key": s.strategy_key,
                "instrument": s.instrument_id,
                "bar_spec": s.bar_spec,
                "params": s.params,
                "strategy_id": f"{entry.strategy_cls.__name__}-{sleeve_tag(i)}",
            }
        )
    return rows
