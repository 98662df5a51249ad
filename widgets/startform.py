"""The start form as plain data, shared by the ipywidgets card and the Panel start card.

No UI imports here: the cards read their widgets into a ``FormState``, and this module
turns it into a validated ``SessionSpec`` (every error a one-line ``SpecError`` naming
the field) and starts the session. Choices (venues, strategies, instruments, bar specs)
and the per-strategy parameter fields come from here too.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from kernelext import api, venues
from kernelext.errors import PaperLabError
from kernelext.spec import (
    DEFAULT_BAR_SPEC,
    SessionSpec,
    SpecError,
    build_spec,
    make_sleeve,
    parse_bar_spec,
    parse_params,
    sleeves_from_json,
)
from kernelext.strategies import PaperStrategyConfig, registry
from kernelext.venues.base import Venue

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from kernelext.session.runner import SessionRunner

__all__ = [
    "DEFAULT_CASH",
    "DEFAULT_SPEED",
    "DEFAULT_TIMEFRAME",
    "DEFAULT_VENUE",
    "TIMEFRAMES",
    "VENUES",
    "FormState",
    "ParamField",
    "VenueChoice",
    "check_timeframe",
    "default_instruments",
    "default_text",
    "error_parts",
    "instrument_choices",
    "launch",
    "param_fields",
    "params_from_form",
    "params_placeholder",
    "read_form",
    "start",
    "strategy_choices",
    "suggest_cash",
    "to_spec",
    "venue_choices",
    "venue_defaults",
    "venue_of",
]

# label -> (venue, feed), from the venue registry
VENUES: dict[str, tuple[str, str]] = {c.label: (c.venue, c.feed) for c in venues.choices()}
DEFAULT_VENUE = next(iter(VENUES))

_TIMEFRAME_CANDIDATES = (
    "1-SECOND-LAST",
    "1-MINUTE-LAST",
    "5-MINUTE-LAST",
    "15-MINUTE-LAST",
    "1-HOUR-LAST",
    "1-DAY-LAST",
)


# Pre-check before kernelext.spec.parse_bar_spec: Nautilus's BarSpecification.from_str
# aborts the process (a Rust panic) on unknown aggregation words, which would kill the kernel.


def check_timeframe(text: str, where: str = "") -> str:
    """A time bar spec like '1-MINUTE-LAST' (uppercased), checked safely; ``SpecError`` otherwise."""
    try:
        return parse_bar_spec(str(text or ""))  # checks the shape before Nautilus parses it
    except SpecError as e:
        raise SpecError(f"{where}{e}") from None


def _accepted(bar_spec: str) -> bool:
    try:
        check_timeframe(bar_spec)
    except SpecError:
        return False
    return True


TIMEFRAMES: tuple[str, ...] = tuple(t for t in _TIMEFRAME_CANDIDATES if _accepted(t))
DEFAULT_TIMEFRAME = DEFAULT_BAR_SPEC if DEFAULT_BAR_SPEC in TIMEFRAMES else TIMEFRAMES[0]

# Replay speed: bar-intervals of market time per interval of wall time. 60 plays 1-minute
# bars at one per second: a demo that visibly moves without hammering the ledger.
# "max" = as fast as the node takes bars (lock-step, backtest parity); "1" = real time.
DEFAULT_SPEED = "60"
DEFAULT_CASH = {"USD": "100000 USD", "EUR": "100000 EUR", "BTC": "2 BTC"}

ParamKind = Literal["int", "float", "decimal", "bool", "str", "choice", "json"]


# -- choices ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueChoice:
    """One venue entry; ``available=False`` ones are listed greyed out with ``reason``."""

    label: str
    venue: str
    feed: str
    available: bool
    reason: str = ""


def venue_choices() -> list[VenueChoice]:
    """Every venue label, flagged available or not (by what the venue registry offers)."""
    out = []
    current = {c.label: (c.venue, c.feed) for c in venues.choices()}  # live trading shows only when enabled now
    for label, (venue, feed) in current.items():
        ok = venue in venues.names() and feed in venues.feeds()
        out.append(VenueChoice(label, venue, feed, ok, "" if ok else f"feed {feed!r} is not available yet"))
    return out


def venue_of(label: str | None) -> Venue:
    """The venue a start-card label trades on (the default venue for an unknown label)."""
    choice = next((c for c in venue_choices() if c.label == label), None)
    return venues.get(choice.venue if choice is not None else venues.DEFAULT)


def venue_defaults(label: str | None) -> tuple[str, str]:
    """``(instrument, timeframe)`` a form starts with on this venue."""
    venue = venue_of(label)
    return venue.default_instrument, venue.default_bar_spec


def default_instruments(venue: str | None, n: int) -> list[str]:
    """``n`` different default instruments for book rows on ``venue`` (cycling past the choices)."""
    choices = venue_of(venue).suggested_instruments
    return [choices[i % len(choices)] for i in range(n)]


def strategy_choices() -> list[str]:
    """Registered strategy keys (notebook-registered ones included), sorted."""
    return registry.keys()


def instrument_choices(query: str = "", venue: str | None = None) -> list[str]:
    """Instruments matching ``query`` on the ``venue`` label (the venue decides: pairs matching
    'eth', or suggestions when its symbology is free text)."""
    return venue_of(venue).instrument_choices(query)


def suggest_cash(instrument: str | None, current: str) -> str:
    """The default cash in ``instrument``'s quote currency, if ``current`` is an untouched default."""
    if not instrument or "/" not in instrument or current.strip() not in (*DEFAULT_CASH.values(), ""):
        return current
    return DEFAULT_CASH.get(instrument.split("/")[1], current)


# -- parameter fields -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamField:
    """One user-settable strategy parameter, as a form field."""

    name: str
    kind: ParamKind
    default: Any  # None when required (see ``required``)
    choices: tuple[Any, ...] = ()
    optional: bool = False  # accepts None (blank)
    required: bool = False  # no default: must be filled in
    strategy: str = ""  # the strategy key the field belongs to


def _kind_of(hint: Any) -> tuple[ParamKind, tuple[Any, ...], bool]:
    """``(kind, choices, optional)`` of a plain type hint."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            return "json", (), optional
        hint, origin = args[0], typing.get_origin(args[0])
    if origin is Literal:
        return "choice", typing.get_args(hint), optional
    if hint in (dict, list) or origin in (dict, list):
        return "json", (), optional
    simple: dict[Any, ParamKind] = {bool: "bool", int: "int", float: "float", Decimal: "decimal", str: "str"}
    return simple.get(hint, "json"), (), optional


def param_fields(strategy_key: str) -> list[ParamField]:
    """The form fields of a strategy, from ``registry.user_params`` (specific ones first)."""
    try:
        entry = registry.get(strategy_key)
    except KeyError as e:
        raise SpecError(f"strategy: {e}") from None
    out = []
    for name, (hint, default) in registry.user_params(entry).items():
        kind, choices, optional = _kind_of(hint)
        required = default is registry.REQUIRED
        out.append(ParamField(name, kind, None if required else default, choices, optional, required, strategy_key))
    return out


def default_text(f: ParamField) -> str:
    """The default as text for a text box ('' for None/required; JSON for json fields)."""
    if f.default is None:
        return ""
    if f.kind == "json":
        return json.dumps(f.default)
    return str(f.default)


def params_placeholder(strategy_key: str) -> str:
    """An example params object: the strategy's own fields with their defaults (book rows)."""
    common = set(PaperStrategyConfig.__struct_fields__)
    try:
        fields = [f for f in param_fields(strategy_key) if f.name not in common]
    except SpecError:
        return "{}"
    sample = {f.name: (str(f.default) if isinstance(f.default, Decimal) else f.default) for f in fields if f.default is not None}
    try:
        return json.dumps(sample)
    except TypeError:
        return "{}"


def _convert(f: ParamField, raw: Any) -> Any:
    """One raw form value -> the param value (``SpecError`` naming ``params.<name>``)."""
    where = f"params.{f.name}"
    if isinstance(raw, str) and f.kind != "str":
        raw = raw.strip()
    if raw is None or (raw == "" and f.kind != "str"):
        if f.required:
            raise SpecError(f"{where}: required")
        if f.optional or f.default is None:
            return None
        return f.default
    if f.kind == "json":
        if not isinstance(raw, str):
            return raw
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            example = default_text(f) or "null"
            raise SpecError(f"{where}: not valid JSON ({e.msg} at char {e.pos}); expected e.g. {example}") from None
    if f.kind == "str":
        return str(raw)
    try:
        value = registry.coerce_param(registry.get(f.strategy), f.name, raw)  # the one coercion
    except ValueError as e:
        raise SpecError(str(e)) from None
    return str(value) if isinstance(value, Decimal) else value


def _is_default(f: ParamField, value: Any) -> bool:
    if isinstance(f.default, Decimal) and isinstance(value, str):
        return Decimal(value) == f.default
    return type(value) is type(f.default) and value == f.default


def params_from_form(strategy_key: str, values: dict[str, Any] | str | None) -> dict[str, Any]:
    """Raw form values (widget values, text) -> params for the spec; defaults are left out.

    ``values`` may also be a JSON object as text (checked by ``kernelext.spec.parse_params``).
    Unknown keys pass through for ``build_spec`` to reject by name.
    """
    if values is None or isinstance(values, str):
        return parse_params(values)
    fields = {f.name: f for f in param_fields(strategy_key)}
    out: dict[str, Any] = {}
    for name, raw in values.items():
        f = fields.get(name)
        if f is None:
            out[name] = raw
            continue
        value = _convert(f, raw)
        if not _is_default(f, value):
            out[name] = value
    return out


# -- the form ---------------------------------------------------------------------------------


@dataclass
class FormState:
    """What the start form holds; ``to_spec`` validates it.

    ``speed``: 'max' (as fast as the node takes bars) or a positive number of bar
    intervals per interval of wall time; the default '60' plays 1-minute bars at one a
    second. ``until``: '' or 'HH:MM' US/Eastern. ``detach``: start it in a supervised process
    of its own (it outlives the notebook or app that started it). ``sleeves`` (book mode): dicts
    ``{strategy, instrument, params (JSON text or dict), bar_spec?, name?}``; the
    ``timeframe`` is their default bar spec. ``params`` (single mode): raw form values
    by name, or a JSON object as text.

    ``instrument``/``timeframe`` default to the venue's (``venue_defaults``); only the fields
    the venue uses (``Venue.form_fields``: ``starting_cash``, ``speed``, ``outside_rth``) reach
    the spec.
    """

    mode: Literal["single", "book"] = "single"
    venue: str = DEFAULT_VENUE
    strategy: str = "ema_cross"
    instrument: str | None = None  # None: the venue's default (``venue_defaults``), set on init
    timeframe: str | None = None
    params: dict[str, Any] | str = field(default_factory=dict)
    starting_cash: str = "100000 USD"
    until: str = ""
    label: str = ""
    speed: str = DEFAULT_SPEED
    sleeves: list[dict[str, Any]] = field(default_factory=list)
    outside_rth: bool = False
    detach: bool = False  # run in a supervised process of its own (outlives the notebook); not part of the spec
    i_understand: str = ""  # a real-money venue: the live account id, typed by the person; not part of the spec

    def __post_init__(self) -> None:
        instrument, timeframe = venue_defaults(self.venue)
        if self.instrument is None:
            self.instrument = instrument
        if self.timeframe is None:
            self.timeframe = timeframe


def read_form(card: Any, instrument: str) -> FormState:
    """A ``FormState`` from a start card (ipywidgets or Panel) whose widgets share these names:
    mode, venue, strategy, timeframe, param_widgets, cash, until, label, speed, sleeve_rows,
    outside_rth, detach. ``instrument`` is passed in: the two cards pick it differently."""
    return FormState(
        mode=card.mode.value,
        venue=card.venue.value,
        strategy=card.strategy.value or "",
        instrument=instrument,
        timeframe=card.timeframe.value,
        params={name: wid.value for name, wid in card.param_widgets.items()},
        starting_cash=card.cash.value,
        until=card.until.value,
        label=card.label.value,
        speed=card.speed.value,
        sleeves=[r.value() for r in card.sleeve_rows],
        outside_rth=card.outside_rth.value,
        detach=bool(card.detach.value),
    )


def _venue_feed(label: str) -> tuple[str, str]:
    choice = next((c for c in venue_choices() if c.label == label), None)
    if choice is None:
        raise SpecError(f"venue: {label!r} is not a venue; allowed: {', '.join(c.label for c in venue_choices())}")
    if not choice.available:
        raise SpecError(f"venue: {label!r} is not available yet ({choice.reason})")
    return choice.venue, choice.feed


def to_spec(state: FormState) -> SessionSpec:
    """Validate ``state`` into a ``SessionSpec``; raises a one-line ``SpecError`` naming the field."""
    venue, feed = _venue_feed(state.venue)
    timeframe = check_timeframe(state.timeframe or venue_defaults(state.venue)[1])
    if state.mode == "book":
        for i, item in enumerate(state.sleeves):
            if isinstance(item, dict) and item.get("bar_spec"):
                check_timeframe(item["bar_spec"], where=f"sleeves[{i}].")
        sleeves = sleeves_from_json(list(state.sleeves), default_bar_spec=timeframe)
    elif state.mode == "single":
        strategy = (state.strategy or "").strip()
        if not strategy:
            raise SpecError(f"strategy: required; registered: {', '.join(strategy_choices())}")
        params = params_from_form(strategy, state.params)
        sleeves = [make_sleeve(strategy, state.instrument or "", params=params, bar_spec=timeframe)]
    else:
        raise SpecError(f"mode: expected 'single' or 'book' (got {state.mode!r})")
    common: dict[str, Any] = {
        "sleeves": sleeves, "venue": venue, "feed": feed, "label": state.label,
        "until": (state.until or "").strip() or None,
    }
    extras = {name: getattr(state, name) for name in sorted(venues.get(venue).form_fields)}
    return build_spec(**common, **extras)


def error_parts(error: BaseException) -> tuple[str, str]:
    """``(one-line message, log tail)`` to show for a failed start; never a traceback.

    A ``PaperLabError``'s message (``SpecError``, ``Refused``, ...) is already one line naming the
    field; a ``SessionStartError`` carries the Nautilus log tail after its first line; anything else
    gets its type name.
    """
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else type(error).__name__
    if any(c.__name__ == "SessionStartError" for c in type(error).__mro__):
        return first, "\n".join(lines[1:])
    if isinstance(error, PaperLabError):
        return first, ""
    return f"{type(error).__name__}: {first}", ""


def launch(spec: SessionSpec, *, ledger: Ledger | None = None, detach: bool = False,
           i_understand: str | None = None) -> SessionRunner | str:
    """Start a validated spec; returns the running ``SessionRunner`` (or ``SessionStartError``).

    ``detach``: hand it to the supervisor instead (its own process); returns its session id at once.
    ``i_understand``: the live account id the person typed (a real-money venue needs it).
    """
    if detach:
        return api.start_spec(spec, ledger=ledger, detach=True, i_understand=i_understand)
    return api.start_spec(spec, ledger=ledger, i_understand=i_understand)


@dataclass(frozen=True)
class LiveCheck:
    """A real-money start card's state: the summary to confirm (or why it cannot start), and whether
    the typed account id matches (Start stays disabled until it does)."""

    lines: tuple[str, ...]
    refusal: str = ""
    matches: bool = False

    def markdown(self) -> str:
        """The summary as the card shows it."""
        if self.refusal:
            return f"**REAL MONEY**: {self.refusal}"
        return "**REAL MONEY** (type the live account id below to enable Start)\n\n" + "\n".join(
            f"- {line}" for line in self.lines)


def live_check(state: FormState, typed: str, *, ledger: Ledger | None = None) -> LiveCheck | None:
    """For a real-money venue, gates 1-3 on the form's spec (edition flag, account, approvals) and
    whether ``typed`` is the live account id; None for any other venue. Never raises."""
    try:
        venue, _feed = _venue_feed(state.venue)
    except SpecError:
        return None
    if not venues.get(venue).real_money:
        return None
    try:
        spec = to_spec(state)
        prepared = api.live_start(spec, ledger=ledger, confirm=False)
    except PaperLabError as e:
        return LiveCheck((), error_parts(e)[0])
    return LiveCheck(tuple(prepared.lines()), matches=bool(typed.strip()) and typed.strip() == spec.account_id)


def start(state: FormState, *, ledger: Ledger | None = None) -> SessionRunner | str:
    """Validate and start (``state.detach``: detached, the session id); raises ``SpecError`` (bad input),
    ``Refused`` or ``SessionStartError``."""
    return launch(to_spec(state), ledger=ledger, detach=state.detach, i_understand=state.i_understand or None)
