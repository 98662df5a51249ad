"""rsi_rules: declarative indicator rules (JSON-able params, no eval).

Example params::

    {
        "indicators": {"rsi": {"type": "rsi", "period": 14},
                       "ema": {"type": "ema", "period": 50},
                       "bb":  {"type": "bb", "period": 20, "k": 2.0}},
        "entry": ["rsi < 30", "close > ema"],
        "exit": ["rsi > 70"],
        "direction": "long",
        "stop_loss_pct": 2.0,
        "take_profit_pct": 5.0,
    }

Indicator types (``type`` plus the listed keys):

- ``rsi``: ``period`` (default 14). Scaled to **0..100** (NautilusTrader's RSI is 0..1),
  so rules read ``rsi < 30``.
- ``ema`` / ``sma``: ``period`` (required). On the bar close.
- ``atr``: ``period`` (default 14). Average true range in price units.
- ``bb``: Bollinger bands, ``period`` (default 20), ``k`` (default 2.0). Rules use
  ``<name>.upper``, ``<name>.middle``, ``<name>.lower``; the bare name means ``middle``.

Conditions are ``"<lhs> <op> <rhs>"``; ``op`` is one of ``< <= > >= crosses_above
crosses_below``; ``lhs``/``rhs`` is an indicator name, ``open``/``high``/``low``/
``close``/``volume`` or a number. All ``entry`` conditions must hold to enter; all
``exit`` conditions must hold to exit (an empty ``exit`` list means exit by stop-loss /
take-profit only). ``a crosses_above b`` means ``a <= b`` on the previous bar and
``a > b`` on this one.

``stop_loss_pct`` / ``take_profit_pct`` are in **percent** (2.0 = 2%) of the position's
average entry price, checked against each bar's close.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from typing import Callable
from typing import Literal

import msgspec

from nautilus_trader.indicators import AverageTrueRange
from nautilus_trader.indicators import BollingerBands
from nautilus_trader.indicators import ExponentialMovingAverage
from nautilus_trader.indicators import RelativeStrengthIndex
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import Bar

from kernelext.strategies.base import PaperStrategy
from kernelext.strategies.base import PaperStrategyConfig
from kernelext.strategies.registry import register

OPERATORS: tuple[str, ...] = ("<", "<=", ">", ">=", "crosses_above", "crosses_below")
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
BB_FIELDS: tuple[str, ...] = ("upper", "middle", "lower")

# type -> {param: default (None = required)}
INDICATOR_TYPES: dict[str, dict[str, Any]] = {
    "atr": {"period": 14},
    "bb": {"period": 20, "k": 2.0},
    "ema": {"period": None},
    "rsi": {"period": 14},
    "sma": {"period": None},
}

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_COMPACT_RE = re.compile(r"\s*([^\s<>=]+)\s*(<=|>=|<|>)\s*([^\s<>=]+)\s*")


def _default_indicators() -> dict[str, dict[str, Any]]:
    return {"rsi": {"type": "rsi", "period": 14}}


def _default_entry() -> list[str]:
    return ["rsi < 30"]


def _default_exit() -> list[str]:
    return ["rsi > 70"]


class RsiRulesConfig(PaperStrategyConfig, frozen=True):
    """
    Parameters
    ----------
    indicators : dict[str, dict]
        Named indicators, e.g. ``{"rsi": {"type": "rsi", "period": 14}}``.
    entry : list[str]
        Conditions (AND) to open a position, e.g. ``["rsi < 30"]``.
    exit : list[str]
        Conditions (AND) to close it, e.g. ``["rsi > 70"]``.
    direction : "long" | "short", default "long"
    stop_loss_pct : float, optional
        Percent (2.0 = 2%) adverse move from entry, on bar close, that closes the position.
    take_profit_pct : float, optional
        Percent favourable move from entry, on bar close, that closes the position.
    """

    indicators: dict[str, dict[str, Any]] = msgspec.field(default_factory=_default_indicators)
    entry: list[str] = msgspec.field(default_factory=_default_entry)
    exit: list[str] = msgspec.field(default_factory=_default_exit)
    direction: Literal["long", "short"] = "long"
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None


# -- parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Operand:
    text: str
    kind: Literal["number", "price", "indicator"]
    name: str = ""
    field: str = ""
    number: float = 0.0


@dataclass(frozen=True)
class Condition:
    text: str
    lhs: Operand
    op: str
    rhs: Operand


@dataclass
class _IndicatorSlot:
    name: str
    type: str
    indicator: Indicator
    period: int
    read: Callable[[str], float]
    fields: tuple[str, ...]


def _positive_int(value: Any, where: str) -> int:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value == int(value)
        and value > 0
    )
    if not ok:
        raise ValueError(f"{where} must be a positive integer, got {value!r}")
    return int(value)


def _positive_number(value: Any, where: str) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{where} must be a positive number, got {value!r}")
    return float(value)


def build_indicator(name: str, spec: Any) -> _IndicatorSlot:
    """Validate one indicator spec and create the Nautilus indicator for it."""
    where = f"rsi_rules: indicator {name!r}"
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"rsi_rules: indicator name {name!r} must be an identifier (letters, digits, _)",
        )
    if name in PRICE_FIELDS:
        raise ValueError(f"{where}: name clashes with a price field ({', '.join(PRICE_FIELDS)})")
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: spec must be an object like {{'type': 'rsi', 'period': 14}}")
    kind = spec.get("type")
    if kind not in INDICATOR_TYPES:
        raise ValueError(
            f"{where}: unknown type {kind!r}; allowed types: {', '.join(INDICATOR_TYPES)}",
        )
    allowed = INDICATOR_TYPES[kind]
    for key in spec:
        if key != "type" and key not in allowed:
            raise ValueError(
                f"{where}: unknown key {key!r} for type {kind!r}; "
                f"allowed: type, {', '.join(allowed)}",
            )
    params = {k: spec.get(k, d) for k, d in allowed.items()}
    if params.get("period") is None:
        raise ValueError(f"{where}: type {kind!r} needs 'period'")
    period = _positive_int(params["period"], f"{where}: period")

    if kind == "rsi":
        ind = RelativeStrengthIndex(period)
        return _IndicatorSlot(name, kind, ind, period, lambda f: ind.value * 100.0, ("",))
    if kind == "ema":
        ind = ExponentialMovingAverage(period)
        return _IndicatorSlot(name, kind, ind, period, lambda f: ind.value, ("",))
    if kind == "sma":
        ind = SimpleMovingAverage(period)
        return _IndicatorSlot(name, kind, ind, period, lambda f: ind.value, ("",))
    if kind == "atr":
        ind = AverageTrueRange(period)
        return _IndicatorSlot(name, kind, ind, period, lambda f: ind.value, ("",))
    # bb
    k = _positive_number(params["k"], f"{where}: k")
    ind = BollingerBands(period, k)

    def read_bb(f: str) -> float:
        return ind.upper if f == "upper" else ind.lower if f == "lower" else ind.middle

    return _IndicatorSlot(name, kind, ind, period, read_bb, ("",) + BB_FIELDS)


def _allowed_operands(slots: dict[str, _IndicatorSlot]) -> str:
    names: list[str] = []
    for slot in slots.values():
        names += [f"{slot.name}.{f}" if f else slot.name for f in slot.fields]
    ind = ", ".join(names) if names else "none defined"
    return f"indicator names ({ind}), {', '.join(PRICE_FIELDS)}, or a number"


def _parse_operand(token: str, rule: str, where: str, slots: dict[str, _IndicatorSlot]) -> Operand:
    if _NUMBER_RE.fullmatch(token):
        return Operand(token, "number", number=float(token))
    if token in PRICE_FIELDS:
        return Operand(token, "price", name=token)
    name, _, field = token.partition(".")
    slot = slots.get(name)
    if slot is not None and field in slot.fields:
        return Operand(token, "indicator", name=name, field=field)
    raise ValueError(
        f"rsi_rules: bad {where} rule {rule!r}: unknown operand {token!r}; "
        f"allowed: {_allowed_operands(slots)}",
    )


def parse_condition(rule: Any, where: str, slots: dict[str, _IndicatorSlot]) -> Condition:
    """Parse ``"<lhs> <op> <rhs>"`` (no eval). ``where`` is "entry" or "exit"."""
    if not isinstance(rule, str):
        raise ValueError(f"rsi_rules: bad {where} rule {rule!r}: must be a string like 'rsi < 30'")
    tokens = rule.split()
    if len(tokens) == 3 and tokens[1] in OPERATORS:
        lhs, op, rhs = tokens
    else:
        m = _COMPACT_RE.fullmatch(rule)
        if m is None:
            if len(tokens) == 3:
                problem = f"unknown operator {tokens[1]!r}"
            else:
                problem = "expected '<lhs> <op> <rhs>'"
            raise ValueError(
                f"rsi_rules: bad {where} rule {rule!r}: {problem}; operators: "
                f"{', '.join(OPERATORS)}; operands: {_allowed_operands(slots)}",
            )
        lhs, op, rhs = m.groups()
    left = _parse_operand(lhs, rule, where, slots)
    right = _parse_operand(rhs, rule, where, slots)
    if left.kind == "number" and right.kind == "number":
        raise ValueError(f"rsi_rules: bad {where} rule {rule!r}: compares two numbers")
    return Condition(rule, left, op, right)


def parse_rules(config: RsiRulesConfig) -> tuple[dict[str, _IndicatorSlot], list[Condition], list[Condition]]:
    """Validate the whole config once; raises ValueError naming the bad item."""
    if not isinstance(config.indicators, dict):
        raise ValueError("rsi_rules: indicators must be an object of name -> spec")
    slots = {name: build_indicator(name, spec) for name, spec in config.indicators.items()}
    if not config.entry:
        raise ValueError("rsi_rules: entry needs at least one condition, e.g. 'rsi < 30'")
    entry = [parse_condition(r, "entry", slots) for r in config.entry]
    exit_ = [parse_condition(r, "exit", slots) for r in config.exit]
    if config.direction not in ("long", "short"):
        raise ValueError(f"rsi_rules: direction must be 'long' or 'short', got {config.direction!r}")
    for name in ("stop_loss_pct", "take_profit_pct"):
        v = getattr(config, name)
        if v is not None and not (0 < v and (name != "stop_loss_pct" or v < 100)):
            raise ValueError(
                f"rsi_rules: {name} is in percent and must be > 0"
                + (" and < 100" if name == "stop_loss_pct" else "")
                + f", got {v}",
            )
    return slots, entry, exit_


# -- strategy ----------------------------------------------------------------------------


@register("rsi_rules")
class RsiRules(PaperStrategy):
    """
    Declarative rules over Nautilus indicators (rsi, ema, sma, atr, bb).

    Default: classic RSI(14) long, enter on ``rsi < 30``, exit on ``rsi > 70``.
    RSI is on a 0..100 scale. stop_loss_pct / take_profit_pct are percentages of the
    entry price checked on bar close. Rules are parsed once at construction; a bad
    rule raises ValueError naming the rule and what is allowed.
    """

    def __init__(self, config: RsiRulesConfig) -> None:
        slots, entry, exit_ = parse_rules(config)
        super().__init__(config)
        self.slots: dict[str, _IndicatorSlot] = slots
        self.entry_conditions: list[Condition] = entry
        self.exit_conditions: list[Condition] = exit_
        self._operands: list[Operand] = self._collect_operands()
        self._prev: dict[str, float] | None = None
        self._cur: dict[str, float] | None = None

    def _collect_operands(self) -> list[Operand]:
        seen: dict[str, Operand] = {}
        for c in self.entry_conditions + self.exit_conditions:
            for o in (c.lhs, c.rhs):
                if o.kind != "number":
                    seen.setdefault(o.text, o)
        return list(seen.values())

    def _paper_indicators(self) -> list[Indicator]:
        return [s.indicator for s in self.slots.values()]

    def _default_warmup_bars(self) -> int:
        periods = [s.period for s in self.slots.values()]
        return 2 * max(periods) + 1 if periods else 1

    # values of every referenced operand on this bar (None until all are ready)
    def _snapshot(self, bar: Bar) -> dict[str, float] | None:
        if not all(s.indicator.initialized for s in self.slots.values()):
            return None
        values: dict[str, float] = {}
        for o in self._operands:
            if o.kind == "price":
                values[o.text] = getattr(bar, o.name).as_double()
            else:
                values[o.text] = float(self.slots[o.name].read(o.field))
        return values

    def _observe(self, bar: Bar) -> None:
        self._prev, self._cur = self._cur, self._snapshot(bar)

    def _value(self, o: Operand, values: dict[str, float]) -> float:
        return o.number if o.kind == "number" else values[o.text]

    def _holds(self, c: Condition) -> bool:
        cur = self._cur
        if cur is None:
            return False
        lhs, rhs = self._value(c.lhs, cur), self._value(c.rhs, cur)
        if c.op == "<":
            return lhs < rhs
        if c.op == "<=":
            return lhs <= rhs
        if c.op == ">":
            return lhs > rhs
        if c.op == ">=":
            return lhs >= rhs
        prev = self._prev
        if prev is None:
            return False
        plhs, prhs = self._value(c.lhs, prev), self._value(c.rhs, prev)
        if c.op == "crosses_above":
            return plhs <= prhs and lhs > rhs
        return plhs >= prhs and lhs < rhs  # crosses_below

    def _describe(self, conditions: list[Condition]) -> str:
        cur = self._cur or {}
        parts = []
        for c in conditions:
            vals = [f"{o.text}={self._value(o, cur):.6g}" for o in (c.lhs, c.rhs) if o.kind != "number"]
            parts.append(f"{c.text} [{', '.join(vals)}]")
        return " AND ".join(parts)

    def _first_value(self, conditions: list[Condition]) -> float:
        cur = self._cur or {}
        for c in conditions:
            for o in (c.lhs, c.rhs):
                if o.kind != "number":
                    return self._value(o, cur)
        return 0.0

    def _decide(self, bar: Bar) -> None:
        if self._cur is None:
            return
        long = self.config.direction == "long"
        side = "long" if long else "short"
        net = self._net_qty()
        in_position = net > 0 if long else net < 0

        if in_position:
            close = bar.close.as_double()
            entry_px = self._entry_price()
            if entry_px:
                move_pct = (close / entry_px - 1.0) * 100.0 * (1 if long else -1)
                sl = self.config.stop_loss_pct
                tp = self.config.take_profit_pct
                if sl is not None and move_pct <= -sl:
                    self._signal(
                        "rules_stop_loss",
                        move_pct,
                        f"close {close:.6g} vs entry {entry_px:.6g}: {move_pct:+.2f}% hit "
                        f"stop_loss_pct {sl}; exit {side}",
                    )
                    self._go_flat()
                    return
                if tp is not None and move_pct >= tp:
                    self._signal(
                        "rules_take_profit",
                        move_pct,
                        f"close {close:.6g} vs entry {entry_px:.6g}: {move_pct:+.2f}% hit "
                        f"take_profit_pct {tp}; exit {side}",
                    )
                    self._go_flat()
                    return
            if self.exit_conditions and all(self._holds(c) for c in self.exit_conditions):
                self._signal(
                    f"rules_exit_{side}",
                    self._first_value(self.exit_conditions),
                    f"exit {side}: {self._describe(self.exit_conditions)}",
                )
                self._go_flat()
            return

        if net != 0:
            # holding the opposite side (not something this strategy opens): flatten
            self._signal("rules_flatten", float(net), f"{side}-only rules found an opposite position; flatten")
            self._go_flat()
            return

        if all(self._holds(c) for c in self.entry_conditions):
            self._signal(
                f"rules_entry_{side}",
                self._first_value(self.entry_conditions),
                f"enter {side}: {self._describe(self.entry_conditions)}",
            )
            if long:
                self._go_long()
            else:
                self._go_short()

    def on_reset(self) -> None:
        super().on_reset()
        self._prev = None
        self._cur = None
