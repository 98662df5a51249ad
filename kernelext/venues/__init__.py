"""The venue registry: a venue's name -> its ``Venue`` (``kernelext.venues.base``).

Registering a venue is one line in ``_PACKAGES`` (its package exposes ``VENUE``); packages
load on first use, so a session on one venue never imports another's adapter. Generic
code asks these functions, never a venue's package.
"""

from __future__ import annotations

import importlib
from functools import cache

from kernelext.venues.base import Badge, Choice, Command, Venue

_PACKAGES: dict[str, str] = {
    "sandbox": "kernelext.venues.sandbox",
    "binance-testnet": "kernelext.venues.binance",  # before ib-paper: X.BINANCE is Binance's, not IB's
    "binance-sim": "kernelext.venues.binance.sim",
    "ib-paper": "kernelext.venues.ib",
    "ib-live": "kernelext.venues.ib_live",  # hidden, and refused in one line, unless PAPERLAB_ENABLE_LIVE_TRADING
}
DEFAULT = "sandbox"
LIVE_FEED = Badge("LIVE FEED")  # the badge of a feed no venue claims (a catalog, say)


def names() -> tuple[str, ...]:
    """The registered venue names, in registration order."""
    return tuple(_PACKAGES)


@cache
def _load(name: str) -> Venue:
    return importlib.import_module(_PACKAGES[name]).VENUE


def find(name: str | None) -> Venue | None:
    """The venue called ``name``, or None (a backtest's ``venue`` column, say)."""
    return _load(name) if name in _PACKAGES else None


def get(name: str) -> Venue:
    """The venue called ``name``; a one-line ``SpecError`` naming the allowed ones otherwise."""
    venue = find(name)
    if venue is None:
        from kernelext.spec import SpecError

        raise SpecError(f"venue: {name!r} is not available; allowed: {', '.join(names())}")
    return venue


def every() -> list[Venue]:
    """Every registered venue, in registration order."""
    return [_load(name) for name in _PACKAGES]


def choices() -> list[Choice]:
    """The start cards' venue entries, in registration order."""
    return [c for v in every() for c in v.choices()]


def feeds() -> tuple[str, ...]:
    """Every feed some venue takes (``auto`` first)."""
    return tuple(f for v in every() for f in v.feeds)


def owner_of_feed(feed: str) -> Venue | None:
    """The venue that takes ``feed``."""
    return next((v for v in every() if feed in v.feeds), None)


def badge(feed: str | None) -> Badge:
    """The badge of a session on ``feed`` (``LIVE FEED`` when no venue claims it)."""
    owner = owner_of_feed(feed or "")
    return owner.badge(feed or "") if owner is not None else LIVE_FEED


def _by_symbology() -> list[Venue]:
    return sorted(every(), key=lambda v: not v.exact_symbology)


def parse_instrument(text: str) -> tuple[Venue, str] | None:
    """The venue whose symbology ``text`` is in, and the symbol normalised; None if none."""
    for venue in _by_symbology():
        symbol = venue.parse_instrument(text)
        if symbol:
            return venue, symbol
    return None


def owner_of(symbol: str) -> Venue:
    """The venue whose symbology ``symbol`` (or a Nautilus instrument id) is in; else the default."""
    found = parse_instrument(symbol)
    return found[0] if found else get(DEFAULT)


def instrument_hints() -> str:
    """``a spot pair like BTC/USD, or an IB symbol like QQQ.NASDAQ for ib-paper``: each hint once
    (venues sharing a symbology, binance-testnet and binance-sim, share a hint)."""
    return ", or ".join(dict.fromkeys(v.instrument_hint for v in every()))


def taking(field_name: str) -> list[str]:
    """Names of the venues whose start cards use ``field_name`` (``outside_rth``, ...)."""
    return [v.name for v in every() if field_name in v.form_fields]


def help_for(flag: str) -> str:
    """A CLI flag's help, from every venue that says something about it."""
    return "; ".join(v.cli_help[flag] for v in every() if flag in v.cli_help)


def commands() -> list[Command]:
    """Every venue's own CLI subcommands."""
    return [c for v in every() for c in v.commands()]
