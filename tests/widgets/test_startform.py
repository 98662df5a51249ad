"""startform: choices, parameter fields, FormState -> SessionSpec, one-line errors."""

from __future__ import annotations

import pytest

from kernelext.session.runner import SessionStartError
from kernelext.spec import SpecError
from kernelext.venues.sandbox.instruments import PAIRS
from widgets import startform as sf
from widgets.startform import FormState


def test_param_fields_of_ema_cross_have_defaults() -> None:
    fields = {f.name: f for f in sf.param_fields("ema_cross")}
    assert list(fields)[:2] == ["fast", "slow"]
    assert (fields["fast"].kind, fields["fast"].default) == ("int", 10)
    assert (fields["slow"].kind, fields["slow"].default) == ("int", 30)
    assert fields["trade_notional"].kind == "decimal"
    assert fields["warmup_bars"].optional and fields["warmup_bars"].default is None
    assert fields["close_positions_on_stop"].kind == "bool"


def test_param_fields_json_and_choice() -> None:
    fields = {f.name: f for f in sf.param_fields("rsi_rules")}
    assert fields["indicators"].kind == "json" and fields["entry"].kind == "json"
    assert fields["direction"].kind == "choice" and fields["direction"].choices == ("long", "short")
    with pytest.raises(SpecError, match=r"^strategy: unknown strategy 'nope'"):
        sf.param_fields("nope")


def test_choices() -> None:
    assert sf.instrument_choices("eth") == ["ETH/USD", "ETH/EUR", "ETH/BTC"]
    assert sf.instrument_choices("ETH") == sf.instrument_choices("eth")
    assert sf.instrument_choices("ethusd") == ["ETH/USD"]
    assert sf.instrument_choices("btc")[:2] == ["BTC/USD", "BTC/EUR"]
    assert sf.instrument_choices() == list(PAIRS)
    assert sf.instrument_choices("zzz") == []
    assert "ema_cross" in sf.strategy_choices()
    assert {"1-MINUTE-LAST", "5-MINUTE-LAST", "15-MINUTE-LAST", "1-HOUR-LAST", "1-DAY-LAST"} <= set(sf.TIMEFRAMES)
    venues = {c.label: c for c in sf.venue_choices()}
    assert set(venues) == set(sf.VENUES)
    assert venues["Replay (offline)"].available
    kraken = venues["Crypto sandbox"]
    assert kraken.available and kraken.feed == "auto"


def test_single_state_to_spec_converts_form_values() -> None:
    state = FormState(
        instrument="eth/usd",
        timeframe="5-MINUTE-LAST",
        params={"fast": 5, "slow": "20", "trade_notional": "5000", "warmup_bars": "", "close_positions_on_stop": False},
        until="16:05",
        label="demo",
        speed="max",
    )
    spec = sf.to_spec(state)
    (sleeve,) = spec.sleeves
    assert (sleeve.strategy_key, sleeve.instrument, sleeve.bar_spec) == ("ema_cross", "ETH/USD", "5-MINUTE-LAST")
    assert sleeve.params == {"fast": 5, "slow": 20}  # defaults are left out
    assert (spec.until, spec.label, spec.speed, spec.feed) == ("16:05", "demo", None, "auto")  # the default venue: Kraken, or replay when unreachable
    assert sf.to_spec(FormState()).speed == 60.0  # the documented demo default


def test_book_state_to_spec() -> None:
    state = FormState(
        mode="book",
        timeframe="15-MINUTE-LAST",
        sleeves=[
            {"strategy": "ema_cross", "instrument": "BTC/USD", "params": '{"fast": 5, "slow": 20}'},
            {"strategy": "tsmom", "instrument": "ETH/USD", "params": ""},
        ],
    )
    spec = sf.to_spec(state)
    assert spec.is_book and [s.bar_spec for s in spec.sleeves] == ["15-MINUTE-LAST"] * 2
    assert spec.sleeves[0].params == {"fast": 5, "slow": 20} and spec.sleeves[1].params == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"starting_cash": "-5 USD"}, "starting_cash:"),
        ({"starting_cash": "lots"}, "starting_cash:"),
        ({"until": "25:61"}, "until:"),
        ({"params": "{bad"}, "params:"),
        ({"params": {"fast": "x"}}, "params.fast:"),
        ({"params": {"fast": 40}}, "params:"),  # fast >= slow
        ({"strategy": "rsi_rules", "params": {"indicators": "{"}}, "params.indicators:"),
        ({"instrument": "FOO/USD", "venue": "Replay (offline)"}, "instrument:"),
        ({"strategy": "nope"}, "strategy:"),
        ({"speed": "fast"}, "speed:"),
        ({"timeframe": "1-TICK-LAST"}, "bar_spec:"),
        ({"timeframe": "1-FORTNIGHT-LAST"}, "bar_spec:"),  # would panic inside Nautilus unchecked
        ({"timeframe": "1-MINUTE-MID"}, "bar_spec:"),
        ({"mode": "book", "sleeves": [{"strategy": "ema_cross", "instrument": "BTC/USD", "bar_spec": "2-WEEK-LAST"}]},
         "sleeves[0].bar_spec:"),
        ({"mode": "book", "sleeves": []}, "sleeves:"),
        ({"mode": "book", "sleeves": [{"strategy": "ema_cross", "instrument": "BTC/USD"},
                                     {"strategy": "tsmom", "instrument": "ETH/USD", "params": "{x"}]}, "sleeves[1].params:"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(SpecError) as err:
        sf.to_spec(FormState(**changes))
    message = str(err.value)
    assert message.startswith(field), message
    assert "\n" not in message


def test_start_rejects_bad_input_before_any_session(paperlab_home) -> None:
    with pytest.raises(SpecError, match=r"^starting_cash:"):
        sf.start(FormState(starting_cash="-1"))
    assert not (paperlab_home / "ledger.sqlite").exists()


def test_suggest_cash_and_placeholder() -> None:
    assert sf.suggest_cash("ETH/BTC", "100000 USD") == "2 BTC"
    assert sf.suggest_cash("BTC/EUR", "2 BTC") == "100000 EUR"
    assert sf.suggest_cash("BTC/EUR", "5000 USD") == "5000 USD"  # the user's own value stays
    assert sf.params_placeholder("ema_cross") == '{"fast": 10, "slow": 30}'


def test_error_parts() -> None:
    err = SessionStartError("session x failed to start: boom\nlog 1\nlog 2")
    assert sf.error_parts(err) == ("session x failed to start: boom", "log 1\nlog 2")
    assert sf.error_parts(SpecError("until: bad")) == ("until: bad", "")
    assert sf.error_parts(RuntimeError("oops\nTraceback ...")) == ("RuntimeError: oops", "")


def test_instrument_search_includes_krakens_cached_pairs(paperlab_home) -> None:
    from kernelext.ledger import Ledger

    assert sf.instrument_choices("pepe") == []
    Ledger().cache_instruments("KRAKEN", ["PEPE/USD", "BTC/USD"])
    assert sf.instrument_choices("pepe") == ["PEPE/USD"]
    assert sf.instrument_choices("btc/usd")[0] == "BTC/USD"
