"""The one coercion of strategy params: a JSON value or form text -> the config field's type.

``coerce(value, hint)`` raises ``CoerceError`` when the value does not fit; callers say
which param and what is allowed (``type_name``). Non-finite numbers and bools posing as
numbers are refused; classes it does not know (enums, identifiers) are left to msgspec.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal


class CoerceError(ValueError):
    """The value does not fit the type."""


def coerce(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` (Annotated, Union/Optional, Literal, bool, int, float, Decimal, str, list, dict)."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return coerce(value, typing.get_args(hint)[0])
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        return _union(value, typing.get_args(hint))
    if hint is type(None):
        return _require(value is None, None)
    if origin is Literal:
        return _require(value in typing.get_args(hint) and not isinstance(value, bool), value)
    if value is None:
        raise CoerceError
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if hint is list or origin is list:
        return _list(value, typing.get_args(hint))
    if hint is dict or origin is dict:
        return _dict(value, typing.get_args(hint))
    if inspect.isclass(hint) and isinstance(value, hint):
        return value
    return value  # other types (enums, identifiers, ...): msgspec validates them


def type_name(hint: Any) -> str:
    """How a person reads ``hint``: ``int``, ``float or null``, ``one of 'a', 'b'``."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return type_name(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        name = " or ".join(type_name(a) for a in args if a is not type(None))
        return f"{name} or null" if type(None) in args else name
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return {Decimal: "decimal", Any: "any"}.get(hint) or getattr(hint, "__name__", str(hint))


def _require(ok: bool, value: Any) -> Any:
    if not ok:
        raise CoerceError
    return value


def _union(value: Any, args: tuple[Any, ...]) -> Any:
    if value is None:
        return _require(type(None) in args, None)
    for arg in args:
        if arg is type(None):
            continue
        try:
            return coerce(value, arg)
        except CoerceError:
            continue
    raise CoerceError


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    return _require(text in ("true", "false"), text == "true")


def _decimal_of(value: Any) -> Decimal:
    """A finite Decimal from a number or numeric text (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise CoerceError
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise CoerceError from None
    return _require(number.is_finite(), number)


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _decimal_of(value)
    return _require(number == number.to_integral_value(), int(number))


def _float(value: Any) -> float:
    number = float(_decimal_of(value))
    return _require(math.isfinite(number), number)


def _str(value: Any) -> str:
    return _require(isinstance(value, str), value)


def _list(value: Any, args: tuple[Any, ...]) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise CoerceError
    return [coerce(v, args[0]) for v in value] if args else list(value)


def _dict(value: Any, args: tuple[Any, ...]) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise CoerceError
    if len(args) == 2:
        return {coerce(k, args[0]): coerce(v, args[1]) for k, v in value.items()}
    return dict(value)


_SCALARS: dict[Any, Callable[[Any], Any]] = {bool: _bool, int: _int, float: _float, Decimal: _decimal_of, str: _str}
