"""The crypto sandbox: Nautilus's ``SandboxExecutionClient`` filling against a live Kraken
feed or the offline replay feed (``auto``: Kraken if it answers within 5 s, else replay)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

from kernelext import venues
from kernelext.spec import DEFAULT_BAR_SPEC, SessionSpec, Sleeve, SpecError, parse_speed
from kernelext.venues.base import (
    Badge,
    BacktestSetup,
    Choice,
    BarData,
    Prepared,
    Venue,
    VenueFields,
    VenuePlan,
)
from kernelext.venues.sandbox import symbology
from kernelext.venues.sandbox.instruments import KRAKEN, PAIRS

if TYPE_CHECKING:
    from kernelext.ledger import Ledger

REPLAY, LIVE = "replay", "kraken"


class SandboxVenue(Venue):
    """``--venue sandbox``: feeds ``auto``, ``replay`` and ``kraken``."""

    name = "sandbox"
    summary = "sandbox (crypto sandbox or replay)"
    feeds = ("auto", REPLAY, LIVE)
    backtest_feed = REPLAY
    default_bar_spec = DEFAULT_BAR_SPEC
    default_instrument = "BTC/USD"
    suggested_instruments = tuple(PAIRS)
    instrument_hint = symbology.HINT
    symbology_name = "a spot pair"
    form_fields = frozenset({"starting_cash", "speed"})
    cli_help = {
        "instrument": "pair, e.g. BTC/USD",
        "bar_spec": f"default {DEFAULT_BAR_SPEC}",
        "feed": "kraken (live), replay (offline), or auto: Kraken if it answers within 5 s, else replay",
        "speed": "replay speed: 1 = real time, 60, or max",
        "seed": "replay generator seed",
        "catalog": "replay bars from this ParquetDataCatalog path",
        "bars": "replay: stop after this many bars",
        "fee_tier": "Kraken's fee tier for this 30-day USD volume, e.g. 50k or 1m (default: the starter tier, "
                    "0.25%% maker / 0.40%% taker)",
        "margin": "Kraken margin trading at this leverage (default: a spot cash account); margin call at 80%%, "
                  "liquidation at 40%% margin level",
    }
    start_lock = nullcontext()

    # -- labels ------------------------------------------------------------------------------

    def choices(self) -> tuple[Choice, ...]:
        return (
            Choice("Crypto sandbox", self.name, "auto"),  # live Kraken data, sandbox fills; replay if Kraken is unreachable
            Choice("Replay (offline)", self.name, REPLAY),
        )

    def badge(self, feed: str) -> Badge:
        return Badge("REPLAY", offline=True) if feed == REPLAY else Badge("LIVE FEED")

    def describe(self, spec: SessionSpec) -> str:
        return f"{spec.feed} feed, {spec.venue}"

    # -- symbology ---------------------------------------------------------------------------

    def parse_instrument(self, text: str) -> str | None:
        return symbology.parse(text)

    def instrument_id(self, symbol: str) -> str:
        return symbology.nautilus_id(symbol)

    def bar_source(self, feed: str) -> str:
        return "INTERNAL" if feed == LIVE else "EXTERNAL"  # Kraken: bars built in the node from trades

    def instrument_choices(self, query: str = "") -> list[str]:
        """Pairs matching ``query`` ('eth' -> ETH/USD, ETH/EUR, ETH/BTC; 'ethusd' finds ETH/USD),
        those whose base starts with it first; Kraken's pairs as last seen follow the replay pairs."""
        q = "".join(query.upper().replace("/", " ").split())
        symbols = list(PAIRS) + [s for s in _kraken_pairs() if s not in PAIRS]
        if not q:
            return symbols
        hits = [s for s in symbols if q in s.replace("/", "")]
        return sorted(hits, key=lambda s: (not s.startswith(q), symbols.index(s)))

    # -- rules -------------------------------------------------------------------------------

    def validate(self, fields: VenueFields) -> VenueFields:
        if fields.feed not in self.feeds:
            owner = venues.owner_of_feed(fields.feed)
            raise SpecError(f"feed: the {fields.feed} feed needs --venue {owner.name if owner else '?'}")
        if fields.outside_rth:
            raise SpecError(f"outside_rth: applies to {' or '.join(venues.taking('outside_rth'))} equity sessions only")
        for s in fields.sleeves:
            owner = venues.owner_of(s.instrument)
            if owner is not self:
                raise SpecError(
                    f"instrument: {s.instrument} is {owner.symbology_name}; use --venue {owner.name}, or {self.instrument_hint}"
                )
        if fields.feed == REPLAY:
            symbology.check_on_replay(fields.sleeves)
        if fields.margin is not None:
            for s in fields.sleeves:
                most = PAIRS[s.instrument].max_leverage if s.instrument in PAIRS else None
                if most is not None and fields.margin > most:
                    raise SpecError(f"margin: Kraken allows leverage up to {most} on {s.instrument} (got {fields.margin:g})")
        return replace(fields, speed=parse_speed(fields.speed), outside_rth=False, account_id="")

    def long_only(self, spec: SessionSpec) -> bool:
        """A spot cash account: no shorting (strategies run long-flat); margin trading shorts."""
        return spec.margin is None

    def quote_currencies(self, sleeves: tuple[Sleeve, ...], currency: str) -> set[str]:
        return {s.instrument.split("/")[1] for s in sleeves}

    def preflight(self, spec: SessionSpec, ledger: Ledger) -> Prepared:
        """Resolve the feed (``auto``: Kraken if it answers within 5 s, else replay)."""
        from kernelext.venues.sandbox.feeds import resolve_feed

        resolved, notes = resolve_feed(spec)
        return Prepared(resolved, notes)

    # -- sessions and backtests --------------------------------------------------------------

    def plan(self, spec: SessionSpec) -> VenuePlan:
        from kernelext.venues.sandbox import config

        return config.plan(spec)

    def backtest(self, spec: SessionSpec) -> BacktestSetup:
        from kernelext.venues.sandbox import backtest

        return backtest.setup(spec)

    def generated_bars(self, spec: SessionSpec, anchor_ns: int, count: int) -> BarData:
        from kernelext.venues.sandbox import backtest

        return backtest.generated_bars(spec, anchor_ns, count)

    def bar_precision(self, instrument_id: str) -> tuple[int, int]:
        from kernelext.venues.sandbox import backtest

        return backtest.bar_precision(instrument_id)


def _kraken_pairs() -> list[str]:
    """Kraken's spot pairs as last seen (cached in the ledger when a session probes Kraken)."""
    from kernelext.ledger import Ledger

    try:
        return Ledger().cached_instruments(KRAKEN.value)
    except Exception:  # noqa: BLE001  (no ledger yet: the replay pairs are enough)
        return []
