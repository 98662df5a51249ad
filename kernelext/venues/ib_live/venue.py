"""``--venue ib-live``: the ib-paper venue's shape (IB data and execution through one gateway
connection, IB symbology, reconciliation) on the live gateway and a live account, with money at stake.

What differs from ib-paper lives here: the live gateway (``PAPERLAB_IB_LIVE_PORT``, 4001), the ``U…``
account rule, the REAL MONEY badge, and the edition flag that hides the venue entirely. The other
gates (approval, typed confirmation, live caps) are venue-neutral: ``kernelext.session.real_money``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kernelext.venues.base import Badge, Choice, Command, VenueFields
from kernelext.venues.ib.venue import IbVenue
from kernelext.venues.ib_live.account import ACCOUNT_ENV, check_live_account

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from kernelext.venues.base import ProbeResult
    from kernelext.venues.ib.compose import Action

REAL_MONEY = Badge("REAL MONEY")
FEED = "ib-live"  # IB market data through the live gateway; its own feed name carries the REAL MONEY badge


class IbLiveVenue(IbVenue):
    """``--venue ib-live``: a live IB account (``U…``) through the live IB Gateway; real orders."""

    name = "ib-live"
    summary = "ib-live (IB Gateway live account: REAL MONEY, behind PAPERLAB_ENABLE_LIVE_TRADING)"
    real_money = True
    panel = ""  # the start cards show the live summary and the typed confirmation instead of ib-paper's panel
    feeds = (FEED,)
    backtest_feed = FEED
    account_env = ACCOUNT_ENV
    cli_help = {
        "account": "ib-live: the U... live account (default $PAPERLAB_IB_LIVE_ACCOUNT_ID)",
    }

    def check_account(self, account_id: str) -> str:
        return check_live_account(account_id)

    def choices(self) -> tuple[Choice, ...]:
        from kernelext.session.real_money import live_trading_enabled

        return (Choice("IB live (REAL MONEY)", self.name, FEED),) if live_trading_enabled() else ()

    def badge(self, feed: str) -> Badge:
        return REAL_MONEY

    def describe(self, spec: Any) -> str:
        return "REAL MONEY, " + super().describe(spec)

    def commands(self) -> tuple[Command, ...]:
        return ()  # ib-paper's `paperlab ib` command covers both gateways

    def validate(self, fields: VenueFields) -> VenueFields:
        """Gate 1 (the edition flag) before anything else, then gate 2 (a ``U…`` account) and ib-paper's rules."""
        from kernelext.session.real_money import check_live_trading_enabled

        check_live_trading_enabled()
        return super().validate(fields)

    def watch_health(self, ledger: Ledger) -> None:
        """The paper gateway's monitor is ib-paper's; the live gateway is probed at each start."""

    def check_gateway(self, ledger: Ledger | None, timeout: float = 5.0) -> ProbeResult:
        from kernelext.venues.ib.probe import GatewayTarget, probe_account

        return probe_account(GatewayTarget.from_env(paper=False), timeout=timeout)

    def gateway_command(self, action: Action) -> str:
        from kernelext.venues.ib import compose

        return compose.compose_text(action, "live")

    def run_gateway(self, action: Action, on_line: Any) -> int:
        from kernelext.venues.ib import compose

        return compose.run_compose(action, on_line, "live")
