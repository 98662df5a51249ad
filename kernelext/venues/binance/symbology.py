"""Binance symbology: ``BTCUSDT.BINANCE`` (Binance's own symbol on the BINANCE venue, as Nautilus's
adapter names it); ``btcusdt`` and ``BTCUSDT.binance`` normalise to it. ``BTC/USD`` is another
venue's pair: ``suggest`` answers it with the Binance symbol to use."""

from __future__ import annotations

import re

SUFFIX = ".BINANCE"
HINT = "a Binance symbol like BTCUSDT.BINANCE for binance-testnet or binance-sim"
SUGGESTIONS: tuple[str, ...] = ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE", "SOLUSDT.BINANCE", "BNBUSDT.BINANCE")
_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")
_QUOTES = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def parse(text: str) -> str | None:
    """``'btcusdt.binance'`` -> ``'BTCUSDT.BINANCE'``; None unless it names the BINANCE venue."""
    raw = str(text).strip().upper()
    if not raw.endswith(SUFFIX):
        return None
    symbol = raw[: -len(SUFFIX)]
    return raw if _SYMBOL.fullmatch(symbol) else None


def symbol_of(instrument: str) -> str:
    """``BTCUSDT.BINANCE`` -> ``BTCUSDT``."""
    return instrument.removesuffix(SUFFIX)


def quote_of(instrument: str) -> str:
    """The quote asset of a Binance symbol (``BTCUSDT.BINANCE`` -> ``USDT``; unknown: USDT)."""
    symbol = symbol_of(instrument)
    return next((q for q in _QUOTES if symbol.endswith(q) and len(symbol) > len(q)), "USDT")


def suggest(text: str) -> str:
    """The Binance symbol for another venue's pair: ``BTC/USD`` -> ``BTCUSDT.BINANCE`` (USD trades as USDT)."""
    base, _, quote = str(text).upper().partition("/")
    quote = quote.split(".")[0] or "USDT"
    quote = "USDT" if quote == "USD" else quote
    base = base.split(".")[0].replace("XBT", "BTC")
    return f"{base}{quote}{SUFFIX}"


def replay_pair(instrument: str) -> str | None:
    """The replay pair whose generated path ``instrument`` replays offline (``BTCUSDT.BINANCE`` ->
    ``BTC/USD``: a USD stablecoin replays USD), or None."""
    from kernelext.venues.sandbox.instruments import PAIRS

    quote = quote_of(instrument)
    base = symbol_of(instrument)[: -len(quote)]
    pair = f"{base}/{'USD' if quote in ('USDT', 'USDC', 'FDUSD') else quote}"
    return pair if pair in PAIRS else None
