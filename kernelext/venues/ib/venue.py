"""Interactive Brokers paper (``--venue ib-paper``): IB's market data and IB's own paper fills
through IB Gateway, on the paper account's own cash, in real time."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kernelext.spec import SessionSpec, Sleeve, SpecError, mask_account
from kernelext.venues.base import (
    Badge,
    BacktestSetup,
    Choice,
    Command,
    BarData,
    Prepared,
    Venue,
    VenueFields,
    VenuePlan,
)
from kernelext.venues.ib import symbology
from kernelext.venues.ib.account import ACCOUNT_ENV, check_ib_account
from kernelext.venues.ib.cli import COMMAND

if TYPE_CHECKING:
    from collections.abc import Callable

    from kernelext.ledger import Ledger
    from kernelext.venues.base import ProbeResult
    from kernelext.venues.ib.compose import Action
    from kernelext.venues.ib.health import HealthRow

FEED = "ib"


class IbVenue(Venue):
    """``--venue ib-paper``: feed ``ib``, IB symbology, a DU… paper account, one session per gateway."""

    name = "ib-paper"
    summary = "ib-paper (IB Gateway paper account)"
    feeds = (FEED,)
    backtest_feed = FEED
    default_bar_spec = "1-DAY-LAST"
    default_instrument = symbology.SUGGESTIONS[0]
    suggested_instruments = symbology.SUGGESTIONS
    instrument_hint = symbology.HINT
    symbology_name = "IB symbology"
    exact_symbology = True
    form_fields = frozenset({"outside_rth"})  # real time on the account's own cash: no speed, no starting cash
    free_text_instruments = True
    instrument_placeholder = "SYMBOL.EXCHANGE, e.g. QQQ.NASDAQ"
    panel = "ib"
    account_cash = True
    cli_help = {
        "instrument": "on ib-paper IB symbology, e.g. QQQ.NASDAQ",
        "bar_spec": "1-DAY-LAST on ib-paper",
        "outside_rth": "ib-paper: also trade outside regular trading hours",
        "account": "ib-paper: the DU... paper account (default $PAPERLAB_IB_ACCOUNT_ID or the gateway's)",
    }
    start_lock = threading.Lock()  # preflight + session row of IB sessions (paper and live), one at a time
    account_env = ACCOUNT_ENV

    def check_account(self, account_id: str) -> str:
        """The account rule of this venue: a paper id (``DU…``), masked in the one-line refusal."""
        return check_ib_account(account_id)

    # -- labels ------------------------------------------------------------------------------

    def choices(self) -> tuple[Choice, ...]:
        return (Choice("IB paper", self.name, FEED),)  # IB Gateway paper account; IB market data, IB paper fills

    def badge(self, feed: str) -> Badge:
        return Badge("IB PAPER")

    def describe(self, spec: SessionSpec) -> str:
        hours = "outside RTH allowed" if spec.outside_rth else "regular trading hours"
        return f"IB symbology (SYMBOL.EXCHANGE), {hours}, {spec.venue}"

    def commands(self) -> tuple[Command, ...]:
        return (COMMAND,)

    def probe(self, ledger: Ledger, timeout: float) -> Any:
        """The account at rest through IB Gateway (ib_async, never an order); health recorded."""
        from kernelext.venues.ib.health import record_result
        from kernelext.venues.ib.probe import GatewayTarget, probe_account

        target = GatewayTarget.from_env(paper=not self.real_money)
        result = probe_account(target, timeout=timeout)
        record_result(ledger, target, result)  # health transitions are kept in the ledger
        return result

    def health(self, ledger: Ledger) -> HealthRow | None:
        from kernelext.venues.ib.health import latest_health  # ib_async only when asked

        return latest_health(ledger)

    def watch_health(self, ledger: Ledger) -> None:
        """Where the ledger has seen an IB Gateway, probe it every PAPERLAB_IB_HEALTH_MINUTES (15)."""
        from kernelext.venues.ib.health import watch_gateway

        if self.health(ledger) is not None:
            watch_gateway(ledger)  # transitions land in the ledger

    # -- the gateway, for its start-card panel (widgets/venues/ib_panel.py) ----------------------

    def check_gateway(self, ledger: Ledger | None, timeout: float = 5.0) -> ProbeResult:
        """Check gateway: a read-only probe, recorded when a ledger opens; never raises for the gateway."""
        from kernelext.venues.ib.health import check_now

        return check_now(ledger, timeout)

    def docker_available(self) -> bool:
        """Whether ``docker compose`` can run the gateway here."""
        from kernelext.venues.ib import compose

        return compose.docker_available()

    def gateway_command(self, action: Action) -> str:
        """The shell command for ``action`` (start, restart, stop) of the paper gateway."""
        from kernelext.venues.ib import compose

        return compose.compose_text(action)

    def run_gateway(self, action: Action, on_line: Callable[[str], None]) -> int:
        """Run ``action`` with docker compose, each output line (secrets masked) to ``on_line``; the exit code."""
        from kernelext.venues.ib import compose

        return compose.run_compose(action, on_line)

    # -- symbology ---------------------------------------------------------------------------

    def parse_instrument(self, text: str) -> str | None:
        return symbology.parse(text)

    def instrument_id(self, symbol: str) -> str:
        return symbol  # IB symbology is already a Nautilus instrument id

    def bar_source(self, feed: str) -> str:
        return "EXTERNAL"

    def instrument_choices(self, query: str = "") -> list[str]:
        q = query.strip().upper()
        return [s for s in symbology.SUGGESTIONS if q in s]

    # -- rules -------------------------------------------------------------------------------

    def validate(self, fields: VenueFields) -> VenueFields:
        feed = self.feeds[0]
        if fields.feed not in ("auto", feed):
            raise SpecError(f"feed: {self.name} takes its market data from IB; allowed: {feed} (got {fields.feed!r})")
        account = os.environ.get(self.account_env, "") if fields.account_id is None else fields.account_id
        account = self.check_account(account)
        if fields.speed not in (None, "", "max"):
            raise SpecError(f"speed: {self.name} runs in real time; speed applies to the replay feed only")
        if fields.margin is not None:
            raise SpecError(f"margin: {self.name} trades the paper account's own margin; --margin is for the crypto sandbox")
        for s in fields.sleeves:
            if not symbology.is_ib_symbol(s.instrument):
                raise SpecError(
                    f"instrument: {self.name} takes IB symbology SYMBOL.EXCHANGE like QQQ.NASDAQ (got {s.instrument!r})"
                )
        return replace(fields, feed=feed, speed=None, account_id=account, outside_rth=bool(fields.outside_rth))

    def quote_currencies(self, sleeves: tuple[Sleeve, ...], currency: str) -> set[str]:
        return {currency}

    def preflight(self, spec: SessionSpec, ledger: Ledger) -> Prepared:
        """Gateway up with a paper account, no other session on it, IB knows every stock."""
        from kernelext.venues.ib import session
        from kernelext.venues.ib.config import target_for
        from kernelext.venues.ib.health import record_result, watch_gateway

        resolved, account = session.preflight(spec, ledger)
        note = (f"{self.badge(self.feeds[0]).text}: account {mask_account(account.account_id)} at {resolved.ib_gateway}, "
                f"equity {account.equity:,.2f} {account.currency}")

        def after_create(led: Ledger) -> None:
            target = target_for(resolved)
            record_result(led, target, account)
            watch_gateway(led, target)  # every PAPERLAB_IB_HEALTH_MINUTES (15)

        return Prepared(resolved, (note,), after_create)

    # -- sessions and backtests --------------------------------------------------------------

    def plan(self, spec: SessionSpec) -> VenuePlan:
        from kernelext.venues.ib import config

        return config.plan(spec)

    def backtest(self, spec: SessionSpec) -> BacktestSetup:
        from kernelext.venues.ib import backtest

        return backtest.setup(spec)

    def generated_bars(self, spec: SessionSpec, anchor_ns: int, count: int) -> BarData:
        raise SpecError(f"backtest: an {self.name} spec backtests over an IB session's bars (--like SESSION) or a catalog")

    def bar_precision(self, instrument_id: str) -> tuple[int, int]:
        from kernelext.venues.ib.backtest import PRICE_PRECISION

        return PRICE_PRECISION, 0  # cents, whole shares
