"""Live approvals: the research ladder's last rung (backtest -> paper -> live).

``approve`` records who approved a strategy on an instrument (optionally with exact params) for live
trading, when and why, naming the paper session of the same strategy and instrument that traded;
``revoke`` withdraws it; ``require`` is gate 3 of a live start: every sleeve needs an approval, refused
in one line with the exact command that would approve it.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from kernelext.errors import NotFound, Refused, SpecError
from kernelext.ledger import queries

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from kernelext.spec import SessionSpec, Sleeve

MAX_NOTE = 500


def _instrument_id(instrument: str) -> str:
    """``BTC/USD`` -> ``BTC/USD.KRAKEN``, ``QQQ.NASDAQ`` as it is: the id sessions record."""
    from kernelext import venues

    found = venues.parse_instrument(instrument)
    if found is None:
        raise SpecError(f"instrument: {instrument!r} is not a known instrument; expected {venues.instrument_hints()}")
    venue, symbol = found
    return venue.instrument_id(symbol)


def _params_json(params: dict[str, Any] | str | None) -> str | None:
    """Canonical JSON of the params an approval names (None: any params)."""
    from kernelext.spec import parse_params

    if params in (None, "", {}):
        return None
    return json.dumps(parse_params(params), sort_keys=True, separators=(",", ":"))


def approve(strategy: str, instrument: str, *, note: str, params: dict[str, Any] | str | None = None,
            paper_session: str | None = None, ledger: Ledger) -> dict[str, Any]:
    """Approve ``strategy`` on ``instrument`` for live trading (``params``: only with exactly these).

    Needs a paper session of the same strategy and instrument that traded (``paper_session``: that
    one; default the newest); the approval names it. Audited with the current actor.
    """
    from kernelext.actor import current
    from kernelext.strategies import registry

    if strategy not in registry.keys():
        raise SpecError(f"strategy: {strategy!r} is not registered; allowed: {', '.join(registry.keys())}")
    note = " ".join(str(note or "").split())
    if not note:
        raise SpecError('note: say why this is approved, e.g. --note "4 weeks of paper within the backtest\'s drawdown"')
    if len(note) > MAX_NOTE:
        raise SpecError(f"note: at most {MAX_NOTE} characters (got {len(note)})")
    instrument_id = _instrument_id(instrument)
    params_json = _params_json(params)
    traded = queries.paper_sessions_that_traded(ledger, strategy, instrument_id)
    if not traded:
        raise Refused(f"approve: no paper session of {strategy} on {instrument_id} has traded yet; run one first "
                      "(backtest -> paper -> live)")
    if paper_session is not None:
        try:
            paper_session = ledger.resolve_session(paper_session)
        except ValueError as e:
            raise NotFound(f"paper_session: {e}") from None
        if paper_session not in {sid for sid, _ in traded}:
            raise Refused(f"paper_session: {paper_session} is not a paper session of {strategy} on {instrument_id} "
                          f"that traded; those that did: {', '.join(sid for sid, _ in traded[:5])}")
    else:
        paper_session = traded[0][0]
    actor = current()
    detail = {"strategy": strategy, "instrument": instrument_id, "params": params_json, "paper_session": paper_session,
              "note": note, "surface": actor.surface}
    approval_id = ledger.add_approval(strategy_key=strategy, instrument=instrument_id, params_json=params_json,
                                      paper_session=paper_session, note=note, approved_by=str(actor), audit=detail)
    return next(a for a in queries.approvals(ledger) if a["id"] == approval_id)


def revoke(strategy: str, instrument: str, *, params: dict[str, Any] | str | None = None,
           ledger: Ledger) -> list[int]:
    """Revoke the active approvals of ``strategy`` on ``instrument`` (``params``: only that one); their ids."""
    from kernelext.actor import current

    instrument_id = _instrument_id(instrument)
    params_json = _params_json(params)
    ids = [a["id"] for a in queries.approvals(ledger)
           if a["strategy_key"] == strategy and a["instrument"] == instrument_id
           and (params is None or a["params_json"] == params_json)]
    if not ids:
        raise NotFound(f"approval: {strategy} on {instrument_id} has no active approval to revoke")
    actor = current()
    ledger.revoke_approvals(ids, revoked_by=str(actor), audit={
        "strategy": strategy, "instrument": instrument_id, "params": params_json, "surface": actor.surface})
    return ids


def _covers(approval: dict[str, Any], sleeve: Sleeve) -> bool:
    if approval["strategy_key"] != sleeve.strategy_key or approval["instrument"] != sleeve.instrument_id:
        return False
    return approval["params_json"] is None or json.loads(approval["params_json"]) == sleeve.params


def approve_command(sleeve: Sleeve) -> str:
    """The exact command that would approve ``sleeve``."""
    words = ["paperlab", "approve-live", "--strategy", sleeve.strategy_key, "--instrument", sleeve.instrument]
    if sleeve.params:
        words += ["--params", json.dumps(sleeve.params, sort_keys=True)]
    return shlex.join(words) + ' --note "..."'


def require(spec: SessionSpec, ledger: Ledger) -> list[dict[str, Any]]:
    """Gate 3: the approval covering each sleeve, in sleeve order; refused in one line naming the
    first sleeve without one and the command that would approve it."""
    active = queries.approvals(ledger)
    found = []
    for sleeve in spec.sleeves:
        approval = next((a for a in active if _covers(a, sleeve)), None)
        if approval is None:
            raise Refused(f"approval: {sleeve.strategy_key} on {sleeve.instrument} (params {json.dumps(sleeve.params)}) "
                          f"is not approved for live trading; approve it with: {approve_command(sleeve)}")
        found.append(approval)
    return found
