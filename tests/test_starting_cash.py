"""Starting cash: an amount alone is in the instruments' quote currency; a currency that is not
their quote currency is one line naming starting_cash."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kernelext.spec import SpecError, build_spec, make_sleeve


def test_an_amount_alone_is_in_the_quote_currency_of_the_instruments() -> None:
    binance = build_spec(sleeves=[make_sleeve("ema_cross", "BTCUSDT.BINANCE")], venue="binance-sim", feed="replay")
    assert (binance.starting_cash, binance.currency) == (Decimal("100000"), "USDT")
    kraken = build_spec(sleeves=[make_sleeve("ema_cross", "ETH/EUR")], feed="replay", starting_cash="5000")
    assert (kraken.starting_cash, kraken.currency) == (Decimal("5000"), "EUR")
    assert build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], feed="replay").currency == "USD"


def test_a_currency_the_instruments_are_not_quoted_in_is_refused_in_one_line() -> None:
    with pytest.raises(SpecError, match=r"^starting_cash: currency USD must be the quote currency of every instrument \(USDT\)$"):
        build_spec(sleeves=[make_sleeve("ema_cross", "BTCUSDT.BINANCE")], venue="binance-sim", feed="replay",
                   starting_cash="100000 USD")
    with pytest.raises(SpecError, match=r"^starting_cash: currency USD must be the quote currency of every instrument \(EUR, USD\)$"):
        build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD"), make_sleeve("tsmom", "ETH/EUR")], feed="replay",
                   starting_cash="100000")
