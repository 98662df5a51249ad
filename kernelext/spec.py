"""SessionSpec / Sleeve: validated user input, the one place that checks it.

Every bad field raises ``SpecError`` with one line naming the field and what is
allowed, e.g. ``starting_cash: must be positive, like '100000 USD' (got '-5 USD')``.
A validated spec is immutable and serialisable (``to_dict``) for the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nautilus_trader.model.data import BarSpecification, BarType

from kernelext import venues
from kernelext.errors import SpecError, clean_text, one_line
from kernelext.strategies import registry
from kernelext.venues.base import Venue, VenueFields

EASTERN = ZoneInfo("America/New_York")
DEFAULT_BAR_SPEC = "1-MINUTE-LAST"
_BAR_SPEC = re.compile(r"(\d{1,6})-(SECOND|MINUTE|HOUR|DAY)-LAST")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}
MAX_DURATION_S = 366 * 86400  # a paper session runs for at most a year at a time
MAX_CASH = Decimal("1e15")
MAX_LABEL = 120
MAX_SEED = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Sleeve:
    """One strategy on one instrument inside a session."""

    name: str
    strategy_key: str
    instrument: str  # in its venue's symbology: "BTC/USD", "QQQ.NASDAQ"
    bar_spec: str  # "1-MINUTE-LAST"
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def instrument_id(self) -> str:
        """The Nautilus instrument id, as the instrument's venue spells it."""
        return venues.owner_of(self.instrument).instrument_id(self.instrument)

    @property
    def bar_type(self) -> str:
        """The bar type of bars that come from a feed (EXTERNAL)."""
        return f"{self.instrument_id}-{self.bar_spec}-EXTERNAL"

    def bar_type_on(self, feed: str) -> str:
        """Bars from the feed (EXTERNAL) or built in the node from trades (INTERNAL), as ``feed``'s venue says."""
        owner = venues.owner_of_feed(feed)
        return f"{self.instrument_id}-{self.bar_spec}-{owner.bar_source(feed) if owner else 'EXTERNAL'}"


@dataclass(frozen=True, slots=True)
class RiskCaps:
    """Pre-trade caps enforced by Nautilus's RiskEngine (plus a drawdown halt of ours)."""

    max_notional_per_order: float = 25_000.0
    max_order_submit_rate: str = "10/00:00:01"
    max_drawdown_pct: float | None = None


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """A validated paper session: venue, feed, sleeves, cash, auto-stop, risk."""

    sleeves: tuple[Sleeve, ...]
    venue: str = venues.DEFAULT
    feed: str = "auto"  # resolved by the venue's preflight when the session starts
    starting_cash: Decimal = Decimal("100000")
    currency: str = "USD"
    label: str = ""
    until: str | None = None  # "HH:MM" US/Eastern
    duration_s: float | None = None
    risk: RiskCaps = RiskCaps()
    speed: float | None = None  # replayed bars: None = as fast as possible
    seed: int = 7
    catalog_path: str | None = None
    anchor_ns: int | None = None
    max_bars: int | None = None
    resume_after_ns: int | None = None  # a relaunched replay continues after this bar close time
    outside_rth: bool = False  # IB: trade and take bars outside regular trading hours
    account_id: str = ""  # IB: the DU... paper account (masked in to_dict)
    margin: float | None = None  # sandbox: Kraken margin trading at this leverage (None: a spot cash account)
    fee_volume: float = 0.0  # sandbox: the 30-day USD volume whose Kraken fee tier applies (0: the starter tier)
    ib_gateway: str = ""  # IB: "host:port" of the gateway, set when the session starts
    # detached sessions only (the supervisor keeps them): reports, the end, notifications
    report_every_s: float | None = None  # write a report every period
    report_at: str | None = None  # ISO UTC time: stop, write the final report, notify
    notify: tuple[str, ...] = field(default=(), repr=False)  # apprise URLs (masked in to_dict)
    notify_fills_s: float | None = None  # also notify fills, at most one message per period

    @property
    def is_book(self) -> bool:
        return len(self.sleeves) > 1

    @property
    def instruments(self) -> list[str]:
        return sorted({s.instrument_id for s in self.sleeves})

    def stop_at(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """The wall-clock UTC time the session stops on its own (earliest of until/duration)."""
        now = now or dt.datetime.now(dt.UTC)
        candidates = []
        if self.duration_s is not None:
            candidates.append(now + dt.timedelta(seconds=self.duration_s))
        if self.until is not None:
            hh, mm = (int(x) for x in self.until.split(":"))
            local = now.astimezone(EASTERN)
            target = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
            if target <= local:
                target += dt.timedelta(days=1)
            candidates.append(target.astimezone(dt.UTC))
        return min(candidates) if candidates else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["starting_cash"] = str(self.starting_cash)
        d["sleeves"] = [asdict(s) for s in self.sleeves]
        if self.account_id:
            d["account_id"] = mask_account(self.account_id)
        d["notify"] = list(self.notify_shown)
        return d

    @property
    def notify_shown(self) -> tuple[str, ...]:
        """The notification URLs with their secrets masked (what may be shown or stored)."""
        if not self.notify:
            return ()
        from kernelext.notify.urls import masked

        return masked(self.notify)

    def supervised(self) -> tuple[str, ...]:
        """The fields set that only the supervisor keeps (they need a detached session)."""
        set_ = {"report_every": self.report_every_s, "report_at": self.report_at, "notify": self.notify,
                "notify_fills": self.notify_fills_s}
        return tuple(name for name, value in set_.items() if value)

    def describe(self) -> str:
        """One line, e.g. ``ema_cross on BTC/USD (1-MINUTE-LAST), replay feed, sandbox``."""
        parts = [f"{s.strategy_key} on {s.instrument} ({s.bar_spec})" for s in self.sleeves]
        return f"{' + '.join(parts)}, {venues.get(self.venue).describe(self)}"


# -- parsing ----------------------------------------------------------------------------------------


def parse_cash(text: str | float | int, default_currency: str = "USD") -> tuple[Decimal, str]:
    """``'100000 USD'`` / ``100000`` -> ``(Decimal('100000'), 'USD')`` (an amount alone is in
    ``default_currency``)."""
    raw = str(text).strip()
    parts = raw.replace(",", "").split()
    try:
        amount = Decimal(parts[0]) if parts else Decimal("nan")
    except InvalidOperation:
        raise SpecError(f"starting_cash: expected an amount and currency like '100000 USD' (got {raw!r})") from None
    currency = parts[1].upper() if len(parts) > 1 else default_currency
    if len(parts) > 2 or not amount.is_finite():
        raise SpecError(f"starting_cash: expected an amount and currency like '100000 USD' (got {raw!r})")
    if amount <= 0:
        raise SpecError(f"starting_cash: must be positive, like '100000 USD' (got {raw!r})")
    if amount > MAX_CASH:
        raise SpecError(f"starting_cash: at most {MAX_CASH:,.0f}, like '100000 USD' (got {raw!r})")
    if not re.fullmatch(r"[A-Z]{3,5}", currency):
        raise SpecError(f"starting_cash: currency must be a code like USD, EUR or USDT (got {currency!r})")
    return amount, currency


def parse_duration(text: str | float | int) -> float:
    """``'30s'``, ``'10m'``, ``'2h'``, ``'1d'``, or plain seconds -> seconds."""
    m = _DURATION.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise SpecError(f"duration: expected a positive duration like 30s, 10m, 2h or 1d (got {text!r})")
    seconds = float(m.group(1)) * _UNIT_SECONDS[(m.group(2) or "s").lower()]
    if seconds > MAX_DURATION_S:
        raise SpecError(f"duration: at most 366d (got {text!r}); stop and start again for longer")
    return seconds


def parse_period(text: str | float | int, field: str) -> float:
    """``parse_duration`` with its error naming ``field`` (``report_every: expected ...``)."""
    try:
        return parse_duration(text)
    except SpecError as e:
        raise SpecError(f"{field}: {str(e).partition(': ')[2]}") from None


def parse_report_at(text: str, now: dt.datetime | None = None) -> str:
    """An ISO time in the future (US/Eastern unless it carries an offset or Z) -> ISO UTC text."""
    raw = str(text).strip()
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise SpecError(f"report_at: expected an ISO time like 2026-12-11T10:00 (US/Eastern unless it has an offset "
                        f"or Z) (got {text!r})") from None
    when = (when if when.tzinfo else when.replace(tzinfo=EASTERN)).astimezone(dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    if when <= now:
        raise SpecError(f"report_at: {raw} is in the past (now {now.astimezone(EASTERN):%Y-%m-%dT%H:%M:%S} "
                        "US/Eastern); give a future time")
    if (when - now).total_seconds() > MAX_DURATION_S:
        raise SpecError(f"report_at: at most 366d ahead (got {raw})")
    return when.isoformat()


def parse_until(text: str) -> str:
    """``'16:05'`` (US/Eastern) -> ``'16:05'``; anything else is an error."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(text))
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise SpecError(f"until: expected a US/Eastern time HH:MM between 00:00 and 23:59 (got {text!r})")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def parse_speed(value: str | float | None) -> float | None:
    """``'max'``/None -> None (as fast as possible); ``'60'`` -> 60.0."""
    if value is None or str(value).strip().lower() in {"max", "inf", ""}:
        return None
    try:
        speed = float(value)
    except ValueError:
        raise SpecError(f"speed: expected a positive number or 'max' (got {value!r})") from None
    if not speed > 0:
        raise SpecError(f"speed: expected a positive number or 'max' (got {value!r})")
    return speed


def parse_volume(value: str | float | None) -> float:
    """``--fee-tier 50k`` -> 50000.0: the 30-day volume (USD) whose fee tier applies; None -> 0."""
    if value is None or value == "":
        return 0.0
    text = str(value).strip().lower().replace(",", "").replace("_", "")
    scale = {"k": 1e3, "m": 1e6}.get(text[-1:], 1.0)
    try:
        volume = float(text[:-1] if scale != 1.0 else text) * scale
    except ValueError:
        volume = -1.0
    if not volume >= 0 or volume == float("inf"):
        raise SpecError(f"fee_tier: expected a 30-day USD volume such as 0, 50k or 2.5m (got {value!r})")
    return volume


def parse_margin(value: str | float | None) -> float | None:
    """``--margin 3`` -> 3.0 (leverage, at least 1); None stays None (a cash account)."""
    if value is None or value == "":
        return None
    try:
        leverage = float(str(value).strip().lower().removesuffix("x"))
    except ValueError:
        raise SpecError(f"margin: expected a leverage such as 2 or 3 (got {value!r})") from None
    if not leverage >= 1 or leverage != leverage:
        raise SpecError(f"margin: expected a leverage of at least 1 (got {value!r})")
    return leverage


def parse_bar_spec(text: str) -> str:
    """Validate ``'1-MINUTE-LAST'`` style bar specs (time bars only).

    Checked in Python first: Nautilus's ``BarSpecification.from_str`` panics in Rust
    (aborting the process, i.e. the notebook kernel) on an unknown word.
    """
    raw = str(text).strip().upper()
    m = _BAR_SPEC.fullmatch(raw)
    if not m or int(m.group(1)) <= 0:
        raise SpecError(
            f"bar_spec: expected STEP-UNIT-LAST with UNIT one of SECOND, MINUTE, HOUR, DAY, e.g. 1-MINUTE-LAST (got {text!r})"
        )
    BarSpecification.from_str(raw)  # safe now: the words are known
    return raw


def parse_instrument(text: str) -> str:
    """A symbol in some venue's symbology (``'btc/usd'`` -> ``'BTC/USD'``, ``'qqq.nasdaq'`` ->
    ``'QQQ.NASDAQ'``); which venue takes which is checked by ``build_spec``."""
    found = venues.parse_instrument(text)
    if found is None:
        raise SpecError(f"instrument: expected {venues.instrument_hints()} (got {text!r})")
    return found[1]


def mask_account(account_id: str) -> str:
    """Keep the first 3 characters of an account id: ``U1234567`` -> ``U12…``."""
    return account_id if len(account_id) <= 3 else f"{account_id[:3]}…"


def parse_params(value: str | dict[str, Any] | None, *, what: str = "params") -> dict[str, Any]:
    """JSON text or a dict -> dict."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    if not isinstance(value, str):
        raise SpecError(f"{what}: expected an object like {{\"fast\": 10}} (got {type(value).__name__})")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as e:
        raise SpecError(f"{what}: not valid JSON ({e.msg} at char {e.pos}); expected an object like '{{\"fast\": 10}}'") from None
    if not isinstance(parsed, dict):
        raise SpecError(f"{what}: expected a JSON object like '{{\"fast\": 10}}' (got {type(parsed).__name__})")
    return parsed


def sleeve_tag(index: int) -> str:
    """The Nautilus ``order_id_tag`` of the sleeve at ``index`` (distinct strategy ids)."""
    return f"{index + 1:03d}"


def _check_strategy(sleeve: Sleeve, index: int, *, book: bool) -> None:
    """Unknown strategy, unknown or badly typed params, semantic checks: one line each."""
    where = f"sleeves[{index}]." if book else ""
    try:
        entry = registry.get(sleeve.strategy_key)
    except KeyError as e:
        raise SpecError(f"{where}strategy: {e.args[0]}") from None
    try:
        bar_type = BarType.from_str(sleeve.bar_type)
        config = registry.build_config(
            entry,
            instrument_id=bar_type.instrument_id,
            bar_type=bar_type,
            params=sleeve.params,
            order_id_tag=sleeve_tag(index),
        )
        registry.build_strategy(entry, config)
    except (ValueError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if not msg.startswith("params"):
            msg = f"params: {msg}"
        raise SpecError(f"{where}{msg}") from None
    except Exception as e:  # noqa: BLE001  (a strategy's own __init__ failing is the strategy's fault, said in one line)
        raise SpecError(f"{where}strategy: {sleeve.strategy_key} failed to build ({one_line(e)})") from None


def make_sleeve(
    strategy: str,
    instrument: str,
    *,
    params: str | dict[str, Any] | None = None,
    bar_spec: str | None = None,
    name: str | None = None,
    default_bar_spec: str = DEFAULT_BAR_SPEC,
) -> Sleeve:
    """A sleeve with its fields parsed (strategy/params checked by ``build_spec``)."""
    if not strategy or not str(strategy).strip():
        raise SpecError(f"strategy: required; registered: {', '.join(registry.keys())}")
    symbol = parse_instrument(instrument)
    key = str(strategy).strip()
    return Sleeve(
        name=name or f"{key}:{symbol}",
        strategy_key=key,
        instrument=symbol,
        bar_spec=parse_bar_spec(bar_spec or default_bar_spec),
        params=parse_params(params),
    )


def sleeves_from_json(value: str | list[dict[str, Any]], default_bar_spec: str = DEFAULT_BAR_SPEC) -> list[Sleeve]:
    """``'[{"strategy": "ema_cross", "instrument": "BTC/USD", "params": {...}}, ...]'`` -> sleeves."""
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except json.JSONDecodeError as e:
            raise SpecError(f"sleeves: not valid JSON ({e.msg} at char {e.pos})") from None
    if not isinstance(items, list) or not items:
        raise SpecError("sleeves: expected a non-empty list of {strategy, instrument, params?, bar_spec?, name?}")
    out = []
    allowed = {"strategy", "strategy_key", "instrument", "params", "bar_spec", "name"}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise SpecError(f"sleeves[{i}]: expected an object with strategy and instrument")
        unknown = set(item) - allowed
        if unknown:
            raise SpecError(f"sleeves[{i}]: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(allowed))}")
        strategy = item.get("strategy") or item.get("strategy_key")
        if not strategy or not item.get("instrument"):
            raise SpecError(f"sleeves[{i}]: strategy and instrument are required")
        try:
            out.append(
                make_sleeve(
                    strategy,
                    item["instrument"],
                    params=item.get("params"),
                    bar_spec=item.get("bar_spec"),
                    name=item.get("name"),
                    default_bar_spec=default_bar_spec,
                )
            )
        except SpecError as e:
            raise SpecError(f"sleeves[{i}].{e}") from None
    return out


def build_spec(
    *,
    sleeves: list[Sleeve],
    venue: str = venues.DEFAULT,
    feed: str | None = "auto",
    starting_cash: str | float = "100000",
    label: str | None = None,
    until: str | None = None,
    duration: str | float | None = None,
    max_notional_per_order: float | None = None,
    max_order_submit_rate: str | None = None,
    max_drawdown_pct: float | None = None,
    speed: str | float | None = None,
    seed: int = 7,
    catalog_path: str | None = None,
    anchor_ns: int | None = None,
    max_bars: int | None = None,
    outside_rth: bool = False,
    account_id: str | None = None,
    margin: str | float | None = None,
    fee_tier: str | float | None = None,
    report_every: str | float | None = None,
    report_at: str | None = None,
    notify: str | list[str] | tuple[str, ...] | None = None,
    notify_fills: str | float | None = None,
) -> SessionSpec:
    """Check everything and return an immutable ``SessionSpec``.

    The venue rules on its own fields (``Venue.validate``: feed, speed, outside RTH, account,
    instrument symbology), e.g. an account that is not a paper one is refused.
    ``report_every``, ``report_at``, ``notify`` (apprise URLs), ``notify_fills`` (a period) are for
    detached sessions: the supervisor keeps them.
    """
    place = venues.get(venue)
    feed = feed or "auto"
    if feed not in venues.feeds():
        raise SpecError(f"feed: {feed!r} is not available; allowed: {', '.join(venues.feeds())}")
    ruled = place.validate(VenueFields(feed, tuple(sleeves), speed, bool(outside_rth), account_id,
                                       parse_margin(margin)))
    _check_sleeves(sleeves)
    cash, currency = _cash_for(place, sleeves, starting_cash)
    risk = _risk(max_notional_per_order, max_order_submit_rate, max_drawdown_pct)
    if place.real_money:  # live: 5,000 per order and 2 orders a second unless the env raises them
        from kernelext.session.real_money import live_caps

        risk = live_caps(risk, asked_notional=max_notional_per_order is not None,
                         asked_rate=max_order_submit_rate is not None)
    seed = _whole(seed, "seed", 0, MAX_SEED)
    if catalog_path is not None:
        catalog_path = check_catalog(catalog_path, [s.bar_type for s in sleeves])
    if max_bars is not None:
        max_bars = _whole(max_bars, "max_bars", 1, 10**9)
    return SessionSpec(
        sleeves=tuple(sleeves),
        venue=venue,
        feed=ruled.feed,
        starting_cash=cash,
        currency=currency,
        label=clean_text(label or "", MAX_LABEL) or _default_label(sleeves),
        until=parse_until(until) if until else None,
        duration_s=parse_duration(duration) if duration not in (None, "") else None,
        risk=risk,
        speed=ruled.speed,
        seed=int(seed),
        catalog_path=catalog_path,
        anchor_ns=anchor_ns,
        max_bars=max_bars,
        outside_rth=ruled.outside_rth,
        account_id=ruled.account_id or "",
        margin=ruled.margin,
        fee_volume=parse_volume(fee_tier),
        **_supervised(report_every, report_at, notify, notify_fills),
    )


def _supervised(report_every: str | float | None, report_at: str | None, notify: Any,
                notify_fills: str | float | None) -> dict[str, Any]:
    """The checked fields the supervisor keeps (reports, the end, notifications)."""
    out: dict[str, Any] = {}
    if report_every not in (None, ""):
        out["report_every_s"] = parse_period(report_every, "report_every")
    if report_at not in (None, ""):
        out["report_at"] = parse_report_at(str(report_at))
    if notify:
        from kernelext.notify.urls import parse_urls

        out["notify"] = parse_urls(notify)
    if notify_fills not in (None, ""):
        out["notify_fills_s"] = parse_period(notify_fills, "notify_fills")
    return out


def _check_sleeves(sleeves: list[Sleeve]) -> None:
    """At least one sleeve, unique names, one bar spec per instrument, each strategy buildable."""
    if not sleeves:
        raise SpecError("strategy: a session needs a strategy and instrument, or sleeves")
    names = [s.name for s in sleeves]
    if len(set(names)) != len(names):
        raise SpecError(f"sleeves: names must be unique (got {names}); give each a name")
    by_instrument: dict[str, str] = {}
    for s in sleeves:
        if by_instrument.setdefault(s.instrument, s.bar_spec) != s.bar_spec:
            raise SpecError(
                f"bar_spec: sleeves on {s.instrument} must share one bar spec on the replay feed "
                f"(got {by_instrument[s.instrument]} and {s.bar_spec})"
            )
    for i, s in enumerate(sleeves):
        _check_strategy(s, i, book=len(sleeves) > 1)


def _cash_for(place: Venue, sleeves: list[Sleeve], starting_cash: str | float) -> tuple[Decimal, str]:
    """The starting cash, in the quote currency of every instrument (the venue says which). An
    amount without a currency is in that quote currency when the instruments share one (USDT for
    ``BTCUSDT.BINANCE``), else USD."""
    shared = place.quote_currencies(tuple(sleeves), "USD")
    cash, currency = parse_cash(starting_cash, next(iter(shared)) if len(shared) == 1 else "USD")
    quotes = place.quote_currencies(tuple(sleeves), currency)
    if quotes != {currency}:
        raise SpecError(
            f"starting_cash: currency {currency} must be the quote currency of every instrument ({', '.join(sorted(quotes))})"
        )
    return cash, currency


def _risk(notional: float | None, rate: str | None, drawdown: float | None) -> RiskCaps:
    caps = RiskCaps()
    if notional is not None:
        try:
            notional = float(notional)
        except (TypeError, ValueError):
            notional = -1.0
        if not 0 < notional < float("inf"):
            raise SpecError(f"max_notional_per_order: expected a positive number (got {notional!r})")
        caps = RiskCaps(notional, caps.max_order_submit_rate, caps.max_drawdown_pct)
    if rate is not None:
        if not re.fullmatch(r"\d+/\d{2}:\d{2}:\d{2}", str(rate)) or str(rate).startswith("0/"):
            raise SpecError(f"max_order_submit_rate: expected LIMIT/HH:MM:SS like 10/00:00:01 (got {rate!r})")
        caps = RiskCaps(caps.max_notional_per_order, str(rate), caps.max_drawdown_pct)
    if drawdown is not None:
        try:
            drawdown = float(drawdown)
        except (TypeError, ValueError):
            drawdown = -1.0
        if not 0 < drawdown < 100:
            raise SpecError(f"max_drawdown_pct: expected a percent between 0 and 100 (got {drawdown!r})")
        caps = RiskCaps(caps.max_notional_per_order, caps.max_order_submit_rate, drawdown)
    return caps


def _whole(value: Any, field: str, low: int, high: int) -> int:
    """A whole number in ``[low, high]`` (bools and fractions refused), or one-line ``SpecError``."""
    try:
        number = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        number = None
    if number is None or not low <= number <= high:
        raise SpecError(f"{field}: expected a whole number from {low} to {high} (got {value!r})")
    return number


def check_catalog(path: str, bar_types: list[str]) -> str:
    """A ``ParquetDataCatalog`` folder holding bars of every ``bar_types``; returns its absolute path."""
    folder = Path(str(path)).expanduser()
    if not folder.exists():
        raise SpecError(f"catalog: {path} does not exist; give a ParquetDataCatalog folder")
    if not folder.is_dir():
        raise SpecError(f"catalog: {path} is a file; give a ParquetDataCatalog folder")
    for bar_type in bar_types:
        bar_dir = folder / "data" / "bar" / bar_type.replace("/", "")
        if not any(bar_dir.glob("*.parquet")):
            raise SpecError(f"catalog: {path} has no bars of {bar_type}")
    return str(folder.resolve())


def _default_label(sleeves: list[Sleeve]) -> str:
    if len(sleeves) == 1:
        return f"{sleeves[0].strategy_key} {sleeves[0].instrument}"
    return f"book of {len(sleeves)}"


def spec_from_dict(d: dict[str, Any]) -> SessionSpec:
    """A stored spec (``SessionSpec.to_dict``, as in the ledger) back as a ``SessionSpec``
    (without its notification URLs: the ledger holds them masked; ``kernelext.notify.store`` raw)."""
    sleeves = tuple(Sleeve(**s) for s in d["sleeves"])
    risk = RiskCaps(**d.get("risk", {}))
    fields = {k: v for k, v in d.items() if k not in ("sleeves", "risk", "starting_cash", "notify")}
    return SessionSpec(sleeves=sleeves, risk=risk, starting_cash=Decimal(d["starting_cash"]), **fields)
