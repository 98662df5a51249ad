"""Strategy registry: key -> (Strategy class, StrategyConfig class).

Usage from a notebook cell::

    import kernelext

    @kernelext.register("my_key")
    class MyStrategy(Strategy):
        def __init__(self, config: MyConfig) -> None: ...

Re-running the cell re-registers the key (the new class replaces the old one).
"""

from __future__ import annotations

import inspect
import logging
import sys
import types
import typing
from dataclasses import dataclass
from typing import Any
from typing import Callable

import msgspec

from kernelext.errors import flat_text
from kernelext.strategies.coerce import CoerceError, coerce, type_name

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import StrategyId
from nautilus_trader.trading.strategy import Strategy

log = logging.getLogger("kernelext.strategies")

__all__ = [
    "REQUIRED",
    "StrategyEntry",
    "UnknownStrategyError",
    "build_config",
    "build_strategy",
    "get",
    "keys",
    "register",
    "unregister",
    "user_params",
]


class _Required:
    """Sentinel default for a config field the user must set."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()

# Fields the runner fills, never the user.
_RUNNER_FIELDS = frozenset({"instrument_id", "bar_type"})


class UnknownStrategyError(KeyError):
    """Raised by ``get`` for a key that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class StrategyEntry:
    key: str
    strategy_cls: type[Strategy]
    config_cls: type[StrategyConfig]
    doc: str


_REGISTRY: dict[str, StrategyEntry] = {}


def _config_class_for(cls: type, localns: dict[str, Any] | None = None) -> type[StrategyConfig]:
    config_cls = None
    try:
        # localns: the scope the decorator ran in, so a config class defined next to the
        # strategy inside a function (or with string annotations) still resolves.
        hints = typing.get_type_hints(cls.__init__, localns=localns)
        config_cls = hints.get("config")
    except Exception:  # unresolvable forward refs etc.
        config_cls = None
    if not (inspect.isclass(config_cls) and issubclass(config_cls, StrategyConfig)):
        config_cls = getattr(cls, "config_class", None)
    if not (inspect.isclass(config_cls) and issubclass(config_cls, StrategyConfig)):
        raise TypeError(
            f"cannot find the config class of {cls.__name__}: annotate "
            f"`def __init__(self, config: MyConfig)` with a StrategyConfig subclass "
            f"or set a class attribute `config_class = MyConfig`",
        )
    return config_cls


def register(key: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """
    Class decorator registering a ``Strategy`` subclass under ``key``.

    The config class comes from the type hint of ``config`` in ``__init__``
    (fallback: a ``config_class`` class attribute). Registering an existing key
    replaces it (notebook cells get re-run).
    """
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"strategy key must be a non-empty string, got {key!r}")

    def decorator(cls: type[Strategy]) -> type[Strategy]:
        if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
            raise TypeError(f"@register({key!r}) needs a Strategy subclass, got {cls!r}")
        frame = sys._getframe(1)
        try:
            localns = dict(frame.f_locals)
        finally:
            del frame
        config_cls = _config_class_for(cls, localns)
        doc = inspect.getdoc(cls) or ""
        previous = _REGISTRY.get(key)
        if previous is not None:
            log.info(
                "strategy %r re-registered: %s.%s replaces %s.%s",
                key,
                cls.__module__,
                cls.__qualname__,
                previous.strategy_cls.__module__,
                previous.strategy_cls.__qualname__,
            )
        _REGISTRY[key] = StrategyEntry(key=key, strategy_cls=cls, config_cls=config_cls, doc=doc)
        return cls

    return decorator


def keys() -> list[str]:
    """Registered strategy keys, sorted."""
    return sorted(_REGISTRY)


def unregister(key: str) -> None:
    """Forget a registered strategy (no error if it is not registered)."""
    _REGISTRY.pop(key, None)


def get(key: str) -> StrategyEntry:
    """Return the entry for ``key`` or raise ``UnknownStrategyError``."""
    try:
        return _REGISTRY[key]
    except (KeyError, TypeError):
        raise UnknownStrategyError(
            f"unknown strategy {key!r}; registered: {', '.join(keys())}",
        ) from None


# -- params ------------------------------------------------------------------------------


def _base_fields() -> frozenset[str]:
    # Fields declared on Nautilus's StrategyConfig itself (and its bases), so the
    # exclusion follows whatever version is installed.
    return frozenset(StrategyConfig.__struct_fields__) | _RUNNER_FIELDS


def _common_fields() -> tuple[str, ...]:
    from kernelext.strategies.base import PaperStrategyConfig

    return tuple(f for f in PaperStrategyConfig.__struct_fields__ if f not in _base_fields())


def _field_infos(config_cls: type[StrategyConfig]) -> list[msgspec.structs.FieldInfo]:
    return list(msgspec.structs.fields(config_cls))


def _plain_hint(hint: Any) -> Any:
    """Strip ``Annotated[...]`` (msgspec constraints) at any depth: PositiveInt -> int."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _plain_hint(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        args = tuple(_plain_hint(a) for a in typing.get_args(hint))
        result = args[0]
        for a in args[1:]:
            result = result | a
        return result
    return hint


def user_params(entry: StrategyEntry) -> dict[str, tuple[Any, Any]]:
    """
    The config fields a user may set: ``{name: (type_hint, default)}``.

    Strategy-specific fields come first, then the common PaperLab ones
    (trade_notional, trade_size, warmup_bars, close_positions_on_stop).
    Hints are plain (``PositiveInt`` -> ``int``; constraints are still enforced by
    ``build_config``). ``default`` is ``REQUIRED`` for a field without a default.
    """
    excluded = _base_fields()
    common = _common_fields()
    infos = [f for f in _field_infos(entry.config_cls) if f.name not in excluded]
    infos.sort(key=lambda f: (f.name in common, common.index(f.name) if f.name in common else 0))
    out: dict[str, tuple[Any, Any]] = {}
    for f in infos:
        if f.default is not msgspec.NODEFAULT:
            default = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        else:
            default = REQUIRED
        out[f.name] = (_plain_hint(f.type), default)
    return out


def coerce_param(entry: StrategyEntry, name: str, value: Any) -> Any:
    """One user value (form text or JSON) for param ``name`` -> its config type.

    The one coercion of strategy params (``build_config`` uses the same); a value that does
    not fit raises ``ValueError`` naming ``params.<name>`` and the type allowed.
    """
    hint = user_params(entry)[name][0]
    try:
        return coerce(value, hint)
    except CoerceError:
        raise ValueError(f"params.{name}: must be {type_name(hint)} (got {value!r})") from None


def _validation_field(msg: str) -> tuple[str | None, str]:
    # msgspec: "Expected `int` >= 1 - at `$.fast`"
    if " - at `$." in msg:
        text, _, path = msg.rpartition(" - at `$.")
        return path.rstrip("`").split(".")[0].split("[")[0], text
    return None, msg


def build_config(
    entry: StrategyEntry,
    *,
    instrument_id: InstrumentId | str,
    bar_type: BarType | str,
    params: dict[str, Any],
    order_id_tag: str,
    strategy_id: str | None = None,
    long_only: bool = False,
) -> StrategyConfig:
    """
    Build and validate the strategy's config from JSON-able user ``params``.

    Raises
    ------
    ValueError
        One line naming the offending key: unknown key, wrong type, or a value the
        config's own validation rejects.
    """
    kwargs = _coerced_params(entry, dict(params or {}))
    fields = {f.name for f in _field_infos(entry.config_cls)}
    if "instrument_id" in fields:
        kwargs["instrument_id"] = (
            InstrumentId.from_str(instrument_id) if isinstance(instrument_id, str) else instrument_id
        )
    if "bar_type" in fields:
        kwargs["bar_type"] = BarType.from_str(bar_type) if isinstance(bar_type, str) else bar_type
    kwargs["order_id_tag"] = order_id_tag
    if long_only and "long_only" in fields:  # the venue's account cannot short (a spot cash account)
        kwargs["long_only"] = True
    if strategy_id is not None:
        kwargs["strategy_id"] = _checked_strategy_id(strategy_id, order_id_tag)
    try:
        config = entry.config_cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise ValueError(f"params: invalid config for {entry.key}: {flat_text(e)}") from None
    _validate_structure(entry, config, has_strategy_id=strategy_id is not None)
    return config


def _coerced_params(entry: StrategyEntry, params: dict[str, Any]) -> dict[str, Any]:
    """User params as the config's types: unknown keys, wrong types and missing required keys refused."""
    allowed = user_params(entry)
    for key in params:
        if key not in allowed:
            raise ValueError(f"params: unknown key {key!r} for {entry.key}; allowed: {', '.join(allowed)}")
    kwargs: dict[str, Any] = {}
    for key, value in params.items():
        hint = allowed[key][0]
        try:
            kwargs[key] = coerce(value, hint)
        except CoerceError:
            raise ValueError(
                f"params: {key!r} for {entry.key} must be {type_name(hint)}, got {type(value).__name__} {value!r}",
            ) from None
    missing = [k for k, (_, d) in allowed.items() if d is REQUIRED and k not in kwargs]
    if missing:
        raise ValueError(f"params: missing required key {missing[0]!r} for {entry.key}")
    return kwargs


def _checked_strategy_id(strategy_id: Any, order_id_tag: str) -> str:
    """Nautilus 1.231 builds Strategy.id as f"{config.strategy_id}-{order_id_tag}" and uses
    config.strategy_id as a plain string (logger name), so it stays a str, checked here."""
    try:
        if not isinstance(strategy_id, str) or not strategy_id:
            raise ValueError("must be a non-empty string")
        StrategyId(f"{strategy_id}-{order_id_tag}")
    except Exception as e:
        raise ValueError(f"strategy_id: invalid {strategy_id!r}: {flat_text(e)}") from None
    return strategy_id


def _validate_structure(entry: StrategyEntry, config: StrategyConfig, *, has_strategy_id: bool) -> None:
    """Types and msgspec Meta constraints (PositiveInt, ...) run on decode only: round-trip through JSON."""
    try:
        # strategy_id is a str (see above), which its StrategyId type hint would reject
        checked = msgspec.structs.replace(config, strategy_id=None) if has_strategy_id else config
        entry.config_cls.parse(checked.json())
    except msgspec.ValidationError as e:
        field, text = _validation_field(str(e))
        if field is not None:
            raise ValueError(f"params: invalid value for {field!r} ({entry.key}): {flat_text(text)}") from None
        raise ValueError(f"params: invalid config for {entry.key}: {flat_text(text)}") from None
    except (msgspec.EncodeError, msgspec.DecodeError, TypeError, ValueError) as e:
        raise ValueError(f"params: invalid config for {entry.key}: {flat_text(e)}") from None


def build_strategy(entry: StrategyEntry, config: StrategyConfig) -> Strategy:
    """Instantiate the strategy; semantic checks (e.g. fast >= slow) raise ValueError."""
    return entry.strategy_cls(config)
