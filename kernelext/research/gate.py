"""The readiness gate: paper-trade only what has been backtested.

``--require-backtest`` refuses to start a paper session unless the ledger holds a
backtest of the same strategy, instrument and params with at least one round trip,
and says which command makes one.
"""

from __future__ import annotations

import json
import shlex

from kernelext.ledger import Ledger, canonical_json, queries
from kernelext.spec import SessionSpec, Sleeve, SpecError


def _has_backtest(sleeve: Sleeve, ledger: Ledger) -> bool:
    from kernelext.research import frames

    rows = queries.stopped_backtest_sleeves(ledger, sleeve.strategy_key, sleeve.instrument_id)
    wanted = canonical_json(sleeve.params)
    for session_id, sleeve_name, params_json in rows:
        if canonical_json(json.loads(params_json or "{}")) != wanted:
            continue
        trips = frames.round_trips(session_id, ledger=ledger)
        if trips.filter(trips["sleeve"] == sleeve_name).height > 0:
            return True
    return False


def require_backtest(spec: SessionSpec, ledger: Ledger | None = None) -> None:
    """Raise ``SpecError`` naming the missing backtest and the command that makes it."""
    ledger = ledger or Ledger()
    for sleeve in spec.sleeves:
        if not _has_backtest(sleeve, ledger):
            params = f" --params {shlex.quote(json.dumps(sleeve.params))}" if sleeve.params else ""
            raise SpecError(
                f"require_backtest: no backtest of {sleeve.strategy_key} on {sleeve.instrument} with these params "
                f"has a trade yet; make one with: paperlab backtest --strategy {sleeve.strategy_key} "
                f"--instrument {sleeve.instrument} --bar-spec {sleeve.bar_spec}{params}"
            )
