"""binance-sim (``--venue binance-sim``): Binance public market data (no key) into the local
sandbox on the BINANCE venue, labelled SIMULATED everywhere; with Binance unreachable (``auto``),
the labelled offline replay (REPLAY). Fills are the sandbox's, never Binance's.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from contextlib import nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

from kernelext.spec import SessionSpec, Sleeve, SpecError, parse_speed
from kernelext.venues.base import Badge, Choice, Prepared, VenueFields, VenuePlan
from kernelext.venues.binance.constants import REPLAY, SIM_FEED, SIM_VENUE, SIMULATED, public_urls
from kernelext.venues.binance.symbology import quote_of, replay_pair, symbol_of
from kernelext.venues.binance.venue import BinanceVenue

if TYPE_CHECKING:
    from kernelext.ledger import Ledger


def reachable(symbols: list[str], timeout: float = 5.0) -> str | None:
    """None when Binance's public REST lists every symbol, else why not (one line)."""
    http, _ = public_urls()
    url = f"{http}/api/v3/exchangeInfo?symbols={json.dumps(symbols, separators=(',', ':'))}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            listed = {s["symbol"] for s in json.loads(response.read()).get("symbols", [])}
    except urllib.error.HTTPError as e:
        return f"Binance answered HTTP {e.code} for {', '.join(symbols)} (not a Binance spot symbol?)"
    except (OSError, ValueError) as e:
        return f"Binance is not reachable at {http} ({getattr(e, 'reason', e)})"
    missing = [s for s in symbols if s not in listed]
    return f"Binance lists no spot symbol {missing[0]}" if missing else None


class BinanceSimVenue(BinanceVenue):
    """``--venue binance-sim``: feeds ``auto``, ``simulated`` (Binance public data, sandbox fills) and ``replay``."""

    name = SIM_VENUE
    summary = "binance-sim (Binance public data, simulated fills)"
    feeds = (SIM_FEED,)
    backtest_feed = REPLAY
    form_fields = frozenset({"starting_cash", "speed"})
    cli_help = {"feed": "binance-sim: simulated (Binance public data, sandbox fills) or auto (Binance if it answers within 5 s, else replay)"}
    start_lock = nullcontext()

    def choices(self) -> tuple[Choice, ...]:
        return (Choice("Binance simulated", self.name, "auto"),)

    def badge(self, feed: str) -> Badge:
        return Badge("SIMULATED", offline=True)

    def describe(self, spec: SessionSpec) -> str:
        return f"{spec.feed} feed, simulated fills, {spec.venue}"

    def bar_source(self, feed: str) -> str:
        return "EXTERNAL" if feed == REPLAY else "INTERNAL"

    def validate(self, fields: VenueFields) -> VenueFields:
        if fields.feed not in ("auto", SIM_FEED, REPLAY):
            raise SpecError(f"feed: {self.name} takes auto, {SIM_FEED} (Binance public data) or {REPLAY} "
                            f"(got {fields.feed!r})")
        self.check_common(fields)
        if fields.feed == REPLAY:
            check_on_replay(fields.sleeves)
        return replace(fields, speed=parse_speed(fields.speed), account_id="", outside_rth=False)

    def quote_currencies(self, sleeves: tuple[Sleeve, ...], currency: str) -> set[str]:
        return {quote_of(s.instrument) for s in sleeves}

    def preflight(self, spec: SessionSpec, ledger: Ledger) -> Prepared:
        """``auto``: Binance if its public REST answers within 5 s, else the offline replay."""
        if spec.feed == REPLAY:
            return Prepared(spec, ("REPLAY: offline bars on BINANCE instruments, simulated fills",))
        problem = reachable([symbol_of(i) for i in spec.instruments])
        if problem is None:
            return Prepared(replace(spec, feed=SIM_FEED), (SIMULATED,))
        if spec.feed == SIM_FEED:
            raise SpecError(f"feed: {problem}; --feed replay trades offline")
        check_on_replay(spec.sleeves, why=" (Binance is unreachable, so the session replays offline)")
        return Prepared(replace(spec, feed=REPLAY), (f"REPLAY: {problem}; replaying offline bars instead",))

    def plan(self, spec: SessionSpec) -> VenuePlan:
        from kernelext.venues.binance.sim_config import plan

        return plan(spec)


def check_on_replay(sleeves: tuple[Sleeve, ...], why: str = "") -> None:
    """Every instrument must have a replay pair (``BTCUSDT.BINANCE`` replays BTC/USD's path)."""
    for s in sleeves:
        if replay_pair(s.instrument) is None:
            raise SpecError(f"instrument: {s.instrument} is not on the replay feed{why}; replay symbols: "
                            "BTCUSDT.BINANCE, ETHUSDT.BINANCE, SOLUSDT.BINANCE, ...")


VENUE = BinanceSimVenue()
