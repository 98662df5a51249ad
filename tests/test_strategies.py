"""kernelext.strategies: built-ins trade in a BacktestEngine, registry and params errors,
warm-up from a ParquetDataCatalog."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.common.actor import Actor
from nautilus_trader.backtest.engine import BacktestEngineConfig
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.currencies import BTC
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType
from nautilus_trader.model.enums import OmsType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import PositionSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import Symbol
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Money
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.trading.strategy import Strategy
from kernelext.session.node import process_logging

import kernelext.strategies as ks

# BacktestEngine.run itself calls the deprecated pd.Timestamp.utcnow (Nautilus 1.231).
pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

KRAKEN = Venue("KRAKEN")
INSTRUMENT_ID = InstrumentId(Symbol("BTC/USD"), KRAKEN)
BAR_TYPE = BarType.from_str("BTC/USD.KRAKEN-1-MINUTE-LAST-EXTERNAL")
T0 = pd.Timestamp("2024-01-02 00:00", tz="UTC")
MINUTE_NS = 60_000_000_000


def make_instrument() -> CurrencyPair:
    return CurrencyPair(
        instrument_id=INSTRUMENT_ID,
        raw_symbol=Symbol("BTC/USD"),
        base_currency=BTC,
        quote_currency=USD,
        price_precision=1,
        size_precision=8,
        price_increment=Price.from_str("0.1"),
        size_increment=Quantity.from_str("0.00000001"),
        ts_event=0,
        ts_init=0,
        maker_fee=Decimal("0.0025"),
        taker_fee=Decimal("0.004"),
    )


def make_bars(closes: np.ndarray, start: pd.Timestamp = T0, seed: int = 7, wick: float = 0.0015) -> list[Bar]:
    """1-minute bars closing at ``closes``; ts_event = bar close time."""
    rng = np.random.default_rng(seed)
    bars = []
    prev = float(closes[0])
    t0 = start.value
    for i, c in enumerate(closes):
        o, c = prev, float(c)
        hi = max(o, c) * (1 + abs(rng.normal(0, wick)))
        lo = min(o, c) * (1 - abs(rng.normal(0, wick)))
        ts = t0 + (i + 1) * MINUTE_NS
        bars.append(
            Bar(
                BAR_TYPE,
                Price(o, 1),
                Price(hi, 1),
                Price(lo, 1),
                Price(c, 1),
                Quantity(float(rng.uniform(1, 10)), 8),
                ts,
                ts,
            ),
        )
        prev = c
    return bars


def trending_closes(n_segments: int = 8, seg_len: int = 90, seed: int = 42) -> np.ndarray:
    """Seeded random walk with alternating up/down drift: clear trends and reversals."""
    rng = np.random.default_rng(seed)
    rets = []
    for s in range(n_segments):
        drift = 0.0012 if s % 2 == 0 else -0.0012
        rets.append(rng.normal(drift, 0.0015, seg_len))
    return 50_000.0 * np.exp(np.cumsum(np.concatenate(rets)))


def make_engine(catalog_path: str | None = None) -> BacktestEngine:
    kwargs = {}
    if catalog_path is not None:
        from nautilus_trader.persistence.config import DataCatalogConfig

        kwargs["catalogs"] = [DataCatalogConfig(path=catalog_path)]
    engine = BacktestEngine(
        config=BacktestEngineConfig(logging=process_logging("BACKTESTER-001"), **kwargs),
    )
    engine.add_venue(
        venue=KRAKEN,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(100_000, USD)],
        bar_execution=True,
    )
    engine.add_instrument(make_instrument())
    return engine


class SignalRecorder(Actor):
    """Subscribes to every signal on the message bus (what a telemetry actor would do)."""

    def __init__(self) -> None:
        super().__init__()
        self.signals: list[tuple[str, float, int]] = []

    def on_start(self) -> None:
        self.subscribe_signal()

    def on_signal(self, signal) -> None:
        self.signals.append((type(signal).__name__, signal.value, signal.ts_event))


def run_strategy(key: str, params: dict, bars: list[Bar], engine: BacktestEngine | None = None):
    engine = engine or make_engine()
    recorder = SignalRecorder()
    engine.add_actor(recorder)
    entry = ks.get(key)
    config = ks.build_config(
        entry,
        instrument_id=INSTRUMENT_ID,
        bar_type=BAR_TYPE,
        params=params,
        order_id_tag="001",
    )
    strategy = ks.build_strategy(entry, config)
    strategy.recorder = recorder
    engine.add_strategy(strategy)
    engine.add_data(bars)
    engine.run()
    return engine, strategy


def fills(engine: BacktestEngine, strategy: Strategy) -> list:
    return [o for o in engine.cache.orders(strategy_id=strategy.id) if o.filled_qty.as_double() > 0]


def held_sides(engine: BacktestEngine, strategy: Strategy) -> set[str]:
    """Signs of the strategy's net position after each fill ("long"/"short"/"flat")."""
    net = Decimal(0)
    held = set()
    for o in sorted(fills(engine, strategy), key=lambda o: o.ts_last):
        q = o.filled_qty.as_decimal()
        net += q if o.side == OrderSide.BUY else -q
        held.add("long" if net > 0 else "short" if net < 0 else "flat")
    return held


# -- built-ins trade ---------------------------------------------------------------------


def test_ema_cross_goes_long_and_short():
    engine, strat = run_strategy("ema_cross", {"fast": 5, "slow": 20}, make_bars(trending_closes()))
    try:
        filled = fills(engine, strat)
        assert len(filled) > 4
        assert {o.side for o in filled} == {OrderSide.BUY, OrderSide.SELL}
        assert {"long", "short"} <= held_sides(engine, strat)
        names = {name for name, _, _ in strat.recorder.signals}
        assert names == {"SignalEma_Cross_Long", "SignalEma_Cross_Short"}
    finally:
        engine.dispose()


def test_tsmom_long_only():
    engine, strat = run_strategy("tsmom", {"lookback": 30}, make_bars(trending_closes()))
    try:
        filled = fills(engine, strat)
        assert len(filled) >= 4
        assert held_sides(engine, strat) == {"long", "flat"}
        for p in engine.cache.positions(strategy_id=strat.id):
            assert p.side in (PositionSide.LONG, PositionSide.FLAT)
    finally:
        engine.dispose()


def test_ibs_reversion_long_only():
    engine, strat = run_strategy("ibs_reversion", {}, make_bars(trending_closes(), wick=0.002))
    try:
        filled = fills(engine, strat)
        assert len(filled) >= 4
        assert held_sides(engine, strat) == {"long", "flat"}
        sells = [o for o in filled if o.side == OrderSide.SELL]
        assert sells and all(o.is_reduce_only for o in sells)
    finally:
        engine.dispose()


def test_rsi_rules_default_trades_long():
    engine, strat = run_strategy("rsi_rules", {}, make_bars(trending_closes(seg_len=60, n_segments=12)))
    try:
        filled = fills(engine, strat)
        assert len(filled) >= 2
        assert held_sides(engine, strat) == {"long", "flat"}
    finally:
        engine.dispose()


def test_rsi_rules_stop_loss_closes_on_crafted_drop():
    rng = np.random.default_rng(5)
    calm = 50_000 * np.exp(np.cumsum(rng.normal(0.0004, 0.0003, 40)))  # no oversold here
    slide = calm[-1] * np.exp(np.cumsum(np.full(10, -0.0015)))  # RSI < 30 -> enter long
    crash = slide[-1:] * 0.96  # -4% bar: stop-loss 2% must fire on its close
    after = crash[-1] * np.exp(np.cumsum(rng.normal(0.0, 0.0003, 10)))
    bars = make_bars(np.concatenate([calm, slide, crash, after]))
    crash_ts = bars[len(calm) + len(slide)].ts_event

    params = {"stop_loss_pct": 2.0, "warmup_bars": 0}
    engine, strat = run_strategy("rsi_rules", params, bars)
    try:
        filled = sorted(fills(engine, strat), key=lambda o: o.ts_last)
        assert filled[0].side == OrderSide.BUY and filled[0].ts_last < crash_ts
        exit_fill = next(o for o in filled if o.side == OrderSide.SELL)
        assert exit_fill.ts_last == crash_ts
        assert exit_fill.avg_px <= filled[0].avg_px * 0.98
        stops = [(n, v, ts) for n, v, ts in strat.recorder.signals if n == "SignalRules_Stop_Loss"]
        assert [ts for _, _, ts in stops] == [crash_ts]
        assert stops[0][1] <= -2.0  # value = move in percent
    finally:
        engine.dispose()

    # Same bars without the stop: the position rides the crash (exit only on rsi > 70).
    engine, strat = run_strategy("rsi_rules", {"warmup_bars": 0}, bars)
    try:
        assert all(o.ts_last != crash_ts for o in fills(engine, strat))
    finally:
        engine.dispose()


def test_rsi_rules_custom_rules_short_direction():
    params = {
        "indicators": {"fast": {"type": "ema", "period": 5}, "slow": {"type": "sma", "period": 20}},
        "entry": ["fast crosses_below slow"],
        "exit": ["fast crosses_above slow"],
        "direction": "short",
    }
    engine, strat = run_strategy("rsi_rules", params, make_bars(trending_closes()))
    try:
        assert len(fills(engine, strat)) >= 4
        assert held_sides(engine, strat) == {"short", "flat"}
    finally:
        engine.dispose()


# -- params / registry errors ------------------------------------------------------------


def _build(key: str, params: dict, **kwargs):
    entry = ks.get(key)
    config = ks.build_config(
        entry,
        instrument_id=INSTRUMENT_ID,
        bar_type=BAR_TYPE,
        params=params,
        order_id_tag="001",
        **kwargs,
    )
    return ks.build_strategy(entry, config)


def test_unknown_param_key_message():
    with pytest.raises(ValueError) as e:
        _build("ema_cross", {"fastt": 5})
    assert str(e.value) == (
        "params: unknown key 'fastt' for ema_cross; allowed: fast, slow, trade_notional, "
        "trade_size, warmup_bars, close_positions_on_stop, long_only"
    )


def test_wrong_type_messages():
    with pytest.raises(ValueError) as e:
        _build("ema_cross", {"fast": "ten"})
    assert str(e.value) == "params: 'fast' for ema_cross must be int, got str 'ten'"
    with pytest.raises(ValueError) as e:
        _build("rsi_rules", {"entry": "rsi < 30"})
    assert str(e.value) == "params: 'entry' for rsi_rules must be list, got str 'rsi < 30'"
    with pytest.raises(ValueError) as e:
        _build("rsi_rules", {"direction": "sideways"})
    assert str(e.value) == "params: 'direction' for rsi_rules must be one of 'long', 'short', got str 'sideways'"
    with pytest.raises(ValueError) as e:
        _build("ema_cross", {"fast": 0})
    assert str(e.value) == "params: invalid value for 'fast' (ema_cross): Expected `int` >= 1"
    with pytest.raises(ValueError) as e:
        _build("ema_cross", {"trade_notional": 0})
    assert str(e.value) == "params: invalid config for ema_cross: trade_notional must be > 0, got 0"


def test_json_values_are_coerced():
    strat = _build(
        "ema_cross",
        {"fast": "7", "slow": 21.0, "trade_notional": 1234.5, "trade_size": "0.25", "warmup_bars": None},
        strategy_id="EMA",
    )
    cfg = strat.config
    assert (cfg.fast, cfg.slow) == (7, 21) and isinstance(cfg.slow, int)
    assert cfg.trade_notional == Decimal("1234.5") and cfg.trade_size == Decimal("0.25")
    assert str(strat.id) == "EMA-001"  # Nautilus 1.231: f"{strategy_id}-{order_id_tag}"
    strat = _build("rsi_rules", {"stop_loss_pct": 2, "take_profit_pct": "3.5"})
    assert strat.config.stop_loss_pct == 2.0 and strat.config.take_profit_pct == 3.5


def test_fast_not_below_slow_message():
    with pytest.raises(ValueError) as e:
        _build("ema_cross", {"fast": 30, "slow": 30})
    assert str(e.value) == "ema_cross: fast (30) must be less than slow (30)"


def test_bad_rule_messages():
    with pytest.raises(ValueError) as e:
        _build("rsi_rules", {"entry": ["rsi <> 30"]})
    assert str(e.value) == (
        "rsi_rules: bad entry rule 'rsi <> 30': unknown operator '<>'; operators: <, <=, >, >=, "
        "crosses_above, crosses_below; operands: indicator names (rsi), open, high, low, close, "
        "volume, or a number"
    )
    with pytest.raises(ValueError) as e:
        _build("rsi_rules", {"exit": ["macd > 0"]})
    assert str(e.value) == (
        "rsi_rules: bad exit rule 'macd > 0': unknown operand 'macd'; allowed: indicator names "
        "(rsi), open, high, low, close, volume, or a number"
    )
    with pytest.raises(ValueError) as e:
        _build("rsi_rules", {"indicators": {"m": {"type": "macd"}}, "entry": ["m > 0"]})
    assert str(e.value) == "rsi_rules: indicator 'm': unknown type 'macd'; allowed types: atr, bb, ema, rsi, sma"
    with pytest.raises(ValueError, match="unknown operand 'bb.low'.*bb.upper, bb.middle, bb.lower"):
        _build("rsi_rules", {"indicators": {"bb": {"type": "bb", "k": 2}}, "entry": ["close < bb.low"]})
    # compact and spaced forms both parse; bb bands, atr, sma are accepted
    _build(
        "rsi_rules",
        {
            "indicators": {
                "rsi": {"type": "rsi", "period": 7},
                "bb": {"type": "bb", "period": 20, "k": 2.5},
                "atr": {"type": "atr"},
                "sma": {"type": "sma", "period": 10},
            },
            "entry": ["rsi<=25", "close crosses_below bb.lower", "atr > 0"],
            "exit": ["close >= sma"],
        },
    )


def test_unknown_strategy_lists_keys():
    with pytest.raises(ks.UnknownStrategyError) as e:
        ks.get("nope")
    assert isinstance(e.value, KeyError)
    assert str(e.value) == "unknown strategy 'nope'; registered: ema_cross, grid, ibs_reversion, rsi_rules, tsmom"
    assert ks.keys() == ["ema_cross", "grid", "ibs_reversion", "rsi_rules", "tsmom"]


def test_user_params_exclude_nautilus_fields():
    params = ks.user_params(ks.get("tsmom"))
    assert list(params) == ["lookback", "trade_notional", "trade_size", "warmup_bars", "close_positions_on_stop", "long_only"]
    assert params["lookback"] == (int, 60)
    assert params["trade_notional"] == (Decimal, Decimal("5000"))
    assert not set(params) & set(StrategyConfig.__struct_fields__)
    rules = ks.user_params(ks.get("rsi_rules"))
    assert rules["entry"][1] == ["rsi < 30"] and rules["exit"][1] == ["rsi > 70"]


@pytest.fixture
def scratch_registry():
    from kernelext.strategies import registry

    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def test_register_user_strategy(scratch_registry, caplog):
    class BuyOnceConfig(ks.PaperStrategyConfig, frozen=True):
        after_bars: int = 3

    @ks.register("buy_once")
    class BuyOnce(ks.PaperStrategy):
        """Buys once after a few bars."""

        def __init__(self, config: BuyOnceConfig) -> None:
            super().__init__(config)

        def _decide(self, bar) -> None:
            if self.live_bars == self.config.after_bars:
                self._signal("buy_once", 1.0, "bar count reached")
                self._go_long()

    entry = ks.get("buy_once")
    assert entry.strategy_cls is BuyOnce and entry.config_cls is BuyOnceConfig
    assert entry.doc == "Buys once after a few bars."
    assert list(ks.user_params(entry))[0] == "after_bars"
    assert "buy_once" in ks.keys()
    with pytest.raises(ks.UnknownStrategyError, match="registered: buy_once, ema_cross"):
        ks.get("missing")

    engine, strat = run_strategy("buy_once", {"after_bars": 2, "trade_size": "0.5"}, make_bars(trending_closes(1, 10)))
    try:
        (order,) = fills(engine, strat)
        assert order.side == OrderSide.BUY and order.filled_qty == Quantity.from_str("0.50000000")
    finally:
        engine.dispose()

    # Re-running the notebook cell replaces the key; fallback via `config_class`.
    class OtherConfig(StrategyConfig, frozen=True):
        pass

    with caplog.at_level("INFO", logger="kernelext.strategies"):

        @ks.register("buy_once")
        class BuyOnce2(Strategy):
            config_class = OtherConfig

            def __init__(self, config) -> None:
                super().__init__(config)

    assert ks.get("buy_once").strategy_cls is BuyOnce2
    assert ks.get("buy_once").config_cls is OtherConfig
    assert "re-registered" in caplog.text

    with pytest.raises(TypeError, match="cannot find the config class"):

        @ks.register("broken")
        class NoConfig(Strategy):
            def __init__(self, config) -> None:
                super().__init__(config)


# -- warm-up from history ----------------------------------------------------------------


def _history_and_live(seed: int = 1):
    rng = np.random.default_rng(seed)
    hist_closes = 50_000 * np.exp(np.cumsum(rng.normal(0.001, 0.001, 100)))  # clear uptrend
    hist = make_bars(hist_closes, start=T0 - pd.Timedelta(minutes=100), seed=seed)
    live_closes = hist_closes[-1] * np.exp(np.cumsum(rng.normal(0.001, 0.001, 30)))
    live = make_bars(live_closes, start=T0, seed=seed + 1)
    assert hist[-1].ts_event < live[0].ts_event
    return hist, live


def test_warmup_from_catalog_trades_on_first_live_bar(tmp_path):
    from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

    hist, live = _history_and_live()
    ParquetDataCatalog(str(tmp_path)).write_data(hist)

    engine, strat = run_strategy("ema_cross", {"fast": 5, "slow": 20}, live, engine=make_engine(str(tmp_path)))
    try:
        # default warmup_bars = 2 * slow = 40 bars requested and received via on_historical_data
        assert strat.history_bars == 40 and strat.live_bars == len(live)
        # indicators were fed exactly once per bar (history + live), by Nautilus
        assert strat.fast_ema.count == strat.slow_ema.count == 40 + len(live)
        first = min(fills(engine, strat), key=lambda o: o.ts_last)
        assert first.side == OrderSide.BUY and first.ts_last == live[0].ts_event
        # the decision came from the first live bar, never from a historical one
        assert strat.recorder.signals[0][0] == "SignalEma_Cross_Long"
        assert strat.recorder.signals[0][2] == live[0].ts_event
    finally:
        engine.dispose()

    # Cold start (no catalog): EMAs need `slow` live bars before the first trade.
    engine, strat = run_strategy("ema_cross", {"fast": 5, "slow": 20}, live)
    try:
        assert strat.history_bars == 0
        first = min(fills(engine, strat), key=lambda o: o.ts_last)
        assert first.ts_last >= live[19].ts_event
    finally:
        engine.dispose()


def test_warmup_overlap_with_live_updates_indicators_once(tmp_path):
    from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

    hist, live = _history_and_live(seed=3)
    ParquetDataCatalog(str(tmp_path)).write_data(hist + live)  # history overlaps the live feed

    engine, strat = run_strategy("tsmom", {"lookback": 10}, live, engine=make_engine(str(tmp_path)))
    try:
        # request end = now = first live bar, so that bar arrives twice: once counted
        assert strat.history_bars + strat.live_bars == 11 + len(live)
        assert strat.roc.initialized
        assert all(o.ts_last > live[0].ts_event for o in fills(engine, strat))
    finally:
        engine.dispose()
