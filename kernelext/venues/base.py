"""The Venue protocol: everything generic code asks of a venue, and the ``VenuePlan`` it builds.

The runner, node builder, telemetry, backtests, spec, CLI and start cards never name a
venue: they look one up in the registry (``kernelext.venues.get``) and ask it. A venue is a
folder shaped like a NautilusTrader adapter (``venue.py`` the ``Venue``, ``config.py`` its
Nautilus client configs, ``session.py`` its ``VenueSession`` hooks, ``backtest.py``,
``symbology.py``, ...) plus one line in the registry.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from kernelext.spec import SessionSpec, Sleeve

# report(stage, message, stale): a venue's session tells the runner its feed went stale or came back
FeedReport = Callable[[str, str, bool], None]


@dataclass(frozen=True, slots=True)
class Choice:
    """One entry of the start cards' venue list: a label for people, the spec's venue and feed."""

    label: str
    venue: str
    feed: str


@dataclass(frozen=True, slots=True)
class Badge:
    """The feed badge of a session (dashboard header, CLI summary): ``REPLAY``, ``LIVE FEED``, ..."""

    text: str
    offline: bool = False  # shown in amber: not a live market


@dataclass(frozen=True, slots=True)
class VenueFields:
    """The spec fields a venue rules on (``Venue.validate`` returns them normalised)."""

    feed: str
    sleeves: tuple[Sleeve, ...]
    speed: str | float | None = None
    outside_rth: bool = False
    account_id: str | None = None
    margin: float | None = None  # leverage asked for (None: the venue's cash account)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a venue's preflight settled before any ledger row: the resolved spec and notes."""

    spec: SessionSpec
    notes: tuple[str, ...] = ()
    after_create: Callable[[Ledger], None] | None = None  # once the session row exists


@dataclass(frozen=True, slots=True)
class Client:
    """A Nautilus client of the node: its name, config and factory (the runner just adds it)."""

    name: str
    config: Any
    factory: type


@dataclass(frozen=True, slots=True)
class TelemetryOptions:
    """How the telemetry actor reads this venue's account."""

    venue: Any  # the Nautilus ``Venue`` whose account is the session's
    starting_cash: float | None  # None: the account brings its own cash
    equity_from_venue: bool = False  # the account's balance already is the equity (NetLiquidation)
    live_feed: bool = False  # quotes and trades to watch for staleness
    cash_account: bool = False  # a spot cash account: equity is every asset's balance at the last price
    book_depth: int = 0  # levels a side of the live feed's order book to subscribe to (0: none)
    margin_leverage: float | None = None  # margin trading: watch the margin level (call, liquidation)


class VenueSession:
    """One session's venue-side hooks; the runner calls them and the defaults do nothing."""

    market_client: Any = None  # the live feed's data client, if any
    restores_from_ledger = False  # a simulated venue: a relaunch replays the ledger's orders and fills into it

    def add_client(self, client: Any) -> None:
        """A data or execution client the node's factories just built."""

    def configure_strategy(self, strategy: Any) -> None:
        """Set up a strategy before it is added (trading hours gate, order tags, time in force)."""

    def built(self, idle: Callable[[], bool]) -> None:
        """The node is built; ``idle()`` says whether its engines' queues are empty."""

    async def watch(self, report: FeedReport) -> None:
        """Runs while the session runs: report the feed going stale or coming back."""

    def finished(self) -> str | None:
        """A stop reason once the feed has ended by itself, else None."""
        return None

    def restore_resting(self, orders: list[Any], cache: Any) -> list[str]:
        """Restored orders that can still fill, to rest at the venue again; the client order
        ids that do (a real venue keeps its own orders: reconciliation brings them back)."""
        return []

    async def stopped(self) -> None:
        """After the node stopped, before the loop's leftovers are cancelled."""

    def disposed(self) -> None:
        """After the node was disposed (free process-wide caches)."""


@dataclass(frozen=True, slots=True)
class VenuePlan:
    """A venue's part of a session's node: clients, caps, timeouts, telemetry and hooks."""

    data_clients: tuple[Client, ...]
    exec_clients: tuple[Client, ...]
    settlement_currency: str  # the account's currency code as the venue's instruments carry it
    submit_rate: str  # the RiskEngine's order submit-rate cap, as this venue applies it
    telemetry: TelemetryOptions
    session: VenueSession
    notes: tuple[str, ...] = ()
    reconciliation: bool = False  # a real venue: reconcile orders and positions with it
    timeouts: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BacktestSetup:
    """A venue in Nautilus's ``BacktestEngine``: its exchanges, instruments and fees."""

    venues: tuple[str, ...]  # Nautilus venue ids to add
    instruments: tuple[Any, ...]
    telemetry_venue: Any  # the Nautilus ``Venue`` whose account telemetry reads
    fee_model: Callable[[], Any] | None = None  # makes each exchange's FeeModel; None: the instruments' fees
    cash_account: bool = False  # a spot cash account in every currency (as the paper session's), else margin
    margin_leverage: float | None = None  # margin trading at this leverage (call and liquidation watched)


@dataclass(frozen=True, slots=True)
class BarData:
    """Bars for a backtest: warm-up history and live bars per bar type string, and their source."""

    history: dict[str, list[Any]]
    live: dict[str, list[Any]]
    source: str  # a venue's generator ("replay"), "catalog", or "session <id>"

    @property
    def count(self) -> int:
        return sum(len(b) for b in self.live.values())


# -- gateway probes: what ``Venue.probe`` sees of an account at rest ------------------------------

HEALTH_OK, HEALTH_RELOGIN, HEALTH_OFF = "ok", "re-login needed", "off"  # a gateway's health states


@dataclass(frozen=True)
class Holding:
    """One position as the gateway reports it."""

    symbol: str
    exchange: str
    position: float
    avg_cost: float


@dataclass(frozen=True)
class AccountSnapshot:
    """What a successful probe saw (values in the summary currency, normally USD)."""

    account_id: str
    equity: float  # NetLiquidation
    cash: float  # TotalCashValue
    buying_power: float
    exposure: float  # GrossPositionValue
    holdings: tuple[Holding, ...]
    is_paper: bool
    currency: str = "USD"


@dataclass(frozen=True)
class ProbeFailure:
    """Why the probe could not read the account: ``state`` (the venue's words), one-line ``message``."""

    state: str
    message: str


ProbeResult = AccountSnapshot | ProbeFailure


def health_of(result: ProbeResult) -> str:
    """The health state (``HEALTH_OK``, ``HEALTH_RELOGIN`` or ``HEALTH_OFF``) for one probe result."""
    if isinstance(result, AccountSnapshot):
        return HEALTH_OK
    return HEALTH_RELOGIN if result.state == "logged out" else HEALTH_OFF


@dataclass(frozen=True, slots=True)
class Command:
    """A venue's own CLI subcommand (``paperlab <name> ...``)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class Venue(ABC):
    """A place sessions trade: its names and labels, its rules, its node plan, its backtest."""

    name: str  # the spec's ``venue``: "sandbox"
    summary: str  # ``--venue`` help: "sandbox (crypto sandbox or replay)"
    feeds: tuple[str, ...]  # the spec feeds it takes; the first is its default
    backtest_feed: str  # the feed a quick backtest's spec names (``kernelext.backtest(strategy=...)``)
    default_bar_spec: str
    default_instrument: str
    suggested_instruments: tuple[str, ...]  # start cards' defaults for book rows, in order
    instrument_hint: str  # "a spot pair like BTC/USD" (one-line errors)
    symbology_name: str  # "IB symbology": what a symbol of this venue is, in errors of others
    exact_symbology: bool = False  # a strict grammar, tried before permissive normalisers
    form_fields: frozenset[str] = frozenset()  # start-card fields it uses: starting_cash, speed, outside_rth
    free_text_instruments: bool = False  # start cards accept any symbol (suggestions only)
    instrument_placeholder: str = "type to search, e.g. eth"
    panel: str = ""  # kind of its start-card panel in ``widgets/venues`` ("" = none)
    account_cash: bool = False  # the account brings its own cash: no starting cash (backtests copy it)
    real_money: bool = False  # live trading: the edition flag, approvals, typed confirmation and live caps apply
    claims_orders: bool = False  # a real venue keeps a session's orders: each instrument's first sleeve
    # claims the orders reconciliation brings back, so a relaunched session continues with them
    cli_help: Mapping[str, str] = {}  # flag -> its help on this venue (``--feed``, ``--account``, ...)
    start_lock: AbstractContextManager[Any]  # held around preflight and the session row

    # -- labels ------------------------------------------------------------------------------

    @abstractmethod
    def choices(self) -> tuple[Choice, ...]:
        """The start cards' entries for this venue."""

    @abstractmethod
    def badge(self, feed: str) -> Badge:
        """The badge of a session on ``feed``."""

    @abstractmethod
    def describe(self, spec: SessionSpec) -> str:
        """The tail of ``SessionSpec.describe()``: ``replay feed, sandbox``."""

    # -- symbology ---------------------------------------------------------------------------

    @abstractmethod
    def parse_instrument(self, text: str) -> str | None:
        """``text`` as this venue's symbol (normalised), or None when it is not its symbology."""

    @abstractmethod
    def instrument_id(self, symbol: str) -> str:
        """The Nautilus instrument id of a symbol of this venue."""

    @abstractmethod
    def bar_source(self, feed: str) -> str:
        """``EXTERNAL`` (bars from the feed) or ``INTERNAL`` (built in the node) on ``feed``."""

    @abstractmethod
    def instrument_choices(self, query: str = "") -> list[str]:
        """Instruments the start cards offer for ``query`` ('' = all)."""

    def commands(self) -> tuple[Command, ...]:
        """Its own CLI subcommands."""
        return ()

    def probe(self, ledger: Ledger, timeout: float) -> Any:
        """A read-only look at the venue's account at rest (or why not), recorded as gateway health.

        ``None``: the venue has no gateway to probe."""
        return None

    def health(self, ledger: Ledger) -> Any:
        """The latest recorded health of the venue's gateway (None: none recorded, or no gateway)."""
        return None

    def watch_health(self, ledger: Ledger) -> None:
        """Keep the recorded health current (a monitor), if the ledger has seen this venue's gateway."""

    # -- rules -------------------------------------------------------------------------------

    @abstractmethod
    def validate(self, fields: VenueFields) -> VenueFields:
        """Check this venue's fields (one-line ``SpecError``); return them normalised."""

    def long_only(self, spec: SessionSpec) -> bool:
        """True when the session's account cannot short (its strategies then run long-flat)."""
        return False

    @abstractmethod
    def quote_currencies(self, sleeves: tuple[Sleeve, ...], currency: str) -> set[str]:
        """The currencies the starting cash must be in to trade ``sleeves``."""

    @abstractmethod
    def preflight(self, spec: SessionSpec, ledger: Ledger) -> Prepared:
        """Before any ledger row: resolve the feed, check the venue is there (``SpecError``)."""

    # -- sessions ----------------------------------------------------------------------------

    @abstractmethod
    def plan(self, spec: SessionSpec) -> VenuePlan:
        """The node's clients and this venue's session hooks for a prepared ``spec``."""

    # -- backtests ---------------------------------------------------------------------------

    @abstractmethod
    def backtest(self, spec: SessionSpec) -> BacktestSetup:
        """Exchanges, instruments and fee model for ``spec`` in a ``BacktestEngine``."""

    @abstractmethod
    def generated_bars(self, spec: SessionSpec, anchor_ns: int, count: int) -> BarData:
        """Bars for a backtest without a catalog or a session to copy (``SpecError`` if none)."""

    @abstractmethod
    def bar_precision(self, instrument_id: str) -> tuple[int, int]:
        """``(price, size)`` precision of recorded bars of ``instrument_id``."""

