"""Live trading's venue-neutral gates, for any venue with ``real_money`` (``ib-live``).

In the order a start meets them:
1. the edition flag ``PAPERLAB_ENABLE_LIVE_TRADING`` (off: the venue is hidden and refused);
2. the venue's own account rule (``Venue.validate``: a ``U…`` IB account);
3. an approval of every sleeve (``kernelext.research.approvals``);
4. the typed confirmation: the live account id, typed by the person (``--i-understand U…``);
5. tighter caps (``live_caps``): Nautilus's RiskEngine denies what breaches them;
6. the venue's own preflight (one IB login: paper and live never at once).
Each refusal is one line; nothing connects before gate 4 has passed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kernelext.errors import Refused, SpecError

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from kernelext.spec import RiskCaps, SessionSpec

EDITION_ENV = "PAPERLAB_ENABLE_LIVE_TRADING"
DISABLED = ("live trading is disabled in this build; set PAPERLAB_ENABLE_LIVE_TRADING=true in a personal build")
MAX_NOTIONAL_ENV = "PAPERLAB_LIVE_MAX_NOTIONAL"
MAX_RATE_ENV = "PAPERLAB_LIVE_MAX_SUBMIT_RATE"
LIVE_MAX_NOTIONAL = 5_000.0  # per order, in the account's currency
LIVE_MAX_RATE = 2  # orders per second
_TRUE = ("1", "true", "yes", "on")


def live_trading_enabled() -> bool:
    """Gate 1: whether this build may trade real money (``PAPERLAB_ENABLE_LIVE_TRADING=true``)."""
    return os.environ.get(EDITION_ENV, "").strip().lower() in _TRUE


def check_live_trading_enabled() -> None:
    """Gate 1, refused in one line."""
    if not live_trading_enabled():
        raise Refused(DISABLED)


# -- gate 5: the caps ----------------------------------------------------------------------------


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SpecError(f"{name}: expected a positive number (got {raw[:20]!r})") from None
    if not 0 < value < float("inf"):
        raise SpecError(f"{name}: expected a positive number (got {raw[:20]!r})")
    return value


def ceilings() -> tuple[float, float]:
    """(max notional per order, max orders per second) on live: 5,000 and 2 unless the env raises them."""
    return _env_number(MAX_NOTIONAL_ENV, LIVE_MAX_NOTIONAL), _env_number(MAX_RATE_ENV, LIVE_MAX_RATE)


def _per_second(rate: str) -> float:
    m = re.fullmatch(r"(\d+)/(\d{2}):(\d{2}):(\d{2})", rate)
    assert m is not None  # checked by spec._risk
    seconds = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4))
    return int(m.group(1)) / max(seconds, 1)


def live_caps(risk: RiskCaps, *, asked_notional: bool, asked_rate: bool) -> RiskCaps:
    """The caps of a live session: the live ceilings by default, lower ones when asked; higher ones refused."""
    from kernelext.spec import RiskCaps

    max_notional, max_rate = ceilings()
    notional = risk.max_notional_per_order if asked_notional else max_notional
    if notional > max_notional:
        raise SpecError(f"max_notional_per_order: at most {max_notional:,.0f} per order on live (got {notional:,.0f}); "
                        f"set {MAX_NOTIONAL_ENV} to raise it")
    rate = risk.max_order_submit_rate if asked_rate else f"{int(max_rate)}/00:00:01"
    if asked_rate and _per_second(rate) > max_rate:
        raise SpecError(f"max_order_submit_rate: at most {max_rate:g} orders per second on live (got {rate}); "
                        f"set {MAX_RATE_ENV} to raise it")
    if not asked_rate and max_rate < 1:  # a fractional ceiling: one order per that many seconds
        rate = f"1/00:00:{min(int(round(1 / max_rate)), 59):02d}"
    return RiskCaps(notional, rate, risk.max_drawdown_pct)


# -- gates 3 and 4: approvals and the typed confirmation -------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveStart:
    """What a person confirms before a live start: the summary lines and the approvals behind it."""

    spec: SessionSpec
    approvals: tuple[dict[str, Any], ...]

    def lines(self) -> list[str]:
        """The session summary: account masked, strategies, params, caps, who approved and when."""
        from kernelext.spec import mask_account
        from kernelext.events import eastern_text

        s = self.spec
        caps = s.risk
        out = [f"REAL MONEY: {s.venue} account {mask_account(s.account_id)}",
               f"caps: max notional {caps.max_notional_per_order:,.0f} per order, submit rate {caps.max_order_submit_rate}"
               + (f", halt at {caps.max_drawdown_pct:g}% drawdown" if caps.max_drawdown_pct else "")]
        for sleeve, approval in zip(s.sleeves, self.approvals, strict=True):
            when = eastern_text(approval["approved_ts"])
            out.append(f"{sleeve.name}: {sleeve.strategy_key} on {sleeve.instrument} params {json.dumps(sleeve.params)}; "
                       f"approved by {approval['approved_by']} on {when} after paper session "
                       f"{approval['paper_session']} ({approval['note']})")
        return out


def prepare(spec: SessionSpec, ledger: Ledger) -> LiveStart:
    """Gates 1-3 for ``spec`` (edition again, then every sleeve's approval): what to confirm."""
    from kernelext.research.approvals import require

    check_live_trading_enabled()
    return LiveStart(spec, tuple(require(spec, ledger)))


def check_confirmation(spec: SessionSpec, typed: str | None) -> None:
    """Gate 4: the live account id, typed exactly; refused in one line (the id masked)."""
    from kernelext.spec import mask_account

    if typed is None or not str(typed).strip():
        raise Refused(f"i_understand: a live start needs the live account id typed to confirm: "
                      f"--i-understand {mask_account(spec.account_id)}… (the full id)")
    if str(typed).strip() != spec.account_id:
        raise Refused(f"i_understand: the typed id does not match the live account {mask_account(spec.account_id)}; "
                      "nothing was started")
