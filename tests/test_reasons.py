"""Denial reasons as a person reads them."""

from kernelext.session.reasons import plain


def test_free_balance_reasons_name_the_currency_what_is_needed_and_what_is_free() -> None:
    assert plain("NOTIONAL_EXCEEDS_FREE_BALANCE: free=1204.10 USD, balance_impact=-5012.40 USD") == (
        "insufficient USD balance: needs 5,012.40, free 1,204.10")
    assert plain("CUM_NOTIONAL_EXCEEDS_FREE_BALANCE: free=0.00000000 BTC, cum_notional=0.07523492 BTC") == (
        "insufficient BTC balance: needs 0.07523492, free 0.00")


def test_amounts_drop_trailing_zeros_but_keep_cents() -> None:
    assert plain("NOTIONAL_EXCEEDS_MAX_PER_ORDER: max_notional=25000.00000000 ZUSD, notional=65001.00000000 ZUSD") == (
        "order notional 65,001.00 ZUSD above the 25,000.00 ZUSD cap per order (--max-notional)")


def test_max_notional_and_unknown_reasons() -> None:
    assert plain("NOTIONAL_EXCEEDS_MAX_PER_ORDER: max_notional=25000.00 USD, notional=30012.55 USD") == (
        "order notional 30,012.55 USD above the 25,000.00 USD cap per order (--max-notional)")
    assert plain("TRADING_STATE_HALTED") == "TRADING_STATE_HALTED"
    assert plain(None) is None
