"""binance-testnet (``--venue binance-testnet``): Binance Spot testnet market data and execution
through NautilusTrader's Binance adapter, on the testnet account's own test funds."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kernelext import venues
from kernelext.spec import SessionSpec, Sleeve, SpecError
from kernelext.venues.base import (
    BacktestSetup, Badge, BarData, Choice, Command, Prepared, Venue, VenueFields, VenuePlan,
)
from kernelext.venues.binance import symbology
from kernelext.venues.binance.constants import QUOTE, SIM_VENUE, TESTNET_FEED, TESTNET_VENUE

if TYPE_CHECKING:
    from kernelext.ledger import Ledger

BAR_SPEC = "1-MINUTE-LAST"


class BinanceVenue(Venue):
    """What both Binance venues share: symbology, rules on instruments, backtests."""

    default_bar_spec = BAR_SPEC
    default_instrument = symbology.SUGGESTIONS[0]
    suggested_instruments = symbology.SUGGESTIONS
    instrument_hint = symbology.HINT
    symbology_name = "Binance symbology"
    exact_symbology = True
    free_text_instruments = True
    instrument_placeholder = "SYMBOL.BINANCE, e.g. BTCUSDT.BINANCE"

    def parse_instrument(self, text: str) -> str | None:
        return symbology.parse(text)

    def instrument_id(self, symbol: str) -> str:
        return symbol  # Binance symbology is already a Nautilus instrument id

    def bar_source(self, feed: str) -> str:
        return "INTERNAL"  # bars built in the node from Binance's trades

    def instrument_choices(self, query: str = "") -> list[str]:
        q = query.strip().upper()
        return [s for s in symbology.SUGGESTIONS if q in s]

    def long_only(self, spec: SessionSpec) -> bool:
        return True  # a spot cash account

    def check_instruments(self, fields: VenueFields) -> None:
        """Every sleeve in Binance symbology; another venue's pair gets the Binance symbol to use."""
        for s in fields.sleeves:
            if symbology.parse(s.instrument) is None:
                owner = venues.owner_of(s.instrument)
                raise SpecError(f"instrument: {s.instrument} is {owner.symbology_name}; on {self.name} use "
                                f"{symbology.suggest(s.instrument)} (Binance symbology SYMBOL.BINANCE)")

    def check_common(self, fields: VenueFields) -> None:
        if fields.outside_rth:
            raise SpecError(f"outside_rth: applies to {' or '.join(venues.taking('outside_rth'))} equity sessions only")
        if fields.margin is not None:
            raise SpecError(f"margin: {self.name} trades a spot cash account; --margin is for the crypto sandbox")
        self.check_instruments(fields)

    def backtest(self, spec: SessionSpec) -> BacktestSetup:
        from kernelext.venues.binance import backtest

        return backtest.setup(spec)

    def generated_bars(self, spec: SessionSpec, anchor_ns: int, count: int) -> BarData:
        raise SpecError(f"backtest: a {self.name} spec backtests over a Binance session's bars (--like SESSION) "
                        "or a catalog")

    def bar_precision(self, instrument_id: str) -> tuple[int, int]:
        return 2, 5  # Binance's BTCUSDT: 0.01 tick, 0.00001 step


class BinanceTestnetVenue(BinanceVenue):
    """``--venue binance-testnet``: feed ``testnet``, the testnet account's own balances."""

    name = TESTNET_VENUE
    summary = "binance-testnet (Binance Spot testnet, test funds)"
    feeds = (TESTNET_FEED,)
    backtest_feed = TESTNET_FEED
    account_cash = True
    claims_orders = True  # the testnet keeps a session's orders: a relaunch continues with them
    cli_help = {
        "instrument": "on binance-* Binance symbology, e.g. BTCUSDT.BINANCE",
        "bar_spec": f"{BAR_SPEC} on binance-* (bars built from Binance trades)",
    }
    start_lock = threading.Lock()

    def choices(self) -> tuple[Choice, ...]:
        return (Choice("Binance testnet", self.name, TESTNET_FEED),)

    def badge(self, feed: str) -> Badge:
        return Badge("BINANCE TESTNET")

    def describe(self, spec: SessionSpec) -> str:
        return f"Binance symbology (SYMBOL.BINANCE), spot testnet, {spec.venue}"

    def validate(self, fields: VenueFields) -> VenueFields:
        if fields.feed not in ("auto", TESTNET_FEED):
            raise SpecError(f"feed: {self.name} takes its market data from the testnet; allowed: {TESTNET_FEED} "
                            f"(got {fields.feed!r}); --venue {SIM_VENUE} simulates on Binance public data")
        if fields.speed not in (None, "", "max"):
            raise SpecError(f"speed: {self.name} runs in real time; speed applies to the replay feed only")
        self.check_common(fields)
        return replace(fields, feed=TESTNET_FEED, speed=None, account_id="", outside_rth=False)

    def quote_currencies(self, sleeves: tuple[Sleeve, ...], currency: str) -> set[str]:
        return {currency}  # the account brings its own cash

    def preflight(self, spec: SessionSpec, ledger: Ledger) -> Prepared:
        """Keys present and the testnet answering with a trading account (one line otherwise)."""
        from kernelext.venues.binance.probe import preflight

        note = preflight(spec)
        return Prepared(replace(spec, currency=QUOTE), (note,))

    def commands(self) -> tuple[Command, ...]:
        from kernelext.venues.binance.cli import COMMAND

        return (COMMAND,)

    def probe(self, ledger: Ledger, timeout: float) -> Any:
        """The testnet account at rest: balances and open orders, or why not (read-only)."""
        from kernelext.venues.binance.probe import probe_account

        return probe_account(timeout=timeout)

    def plan(self, spec: SessionSpec) -> VenuePlan:
        from kernelext.venues.binance import config

        return config.plan(spec)
