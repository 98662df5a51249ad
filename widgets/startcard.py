"""The guided start card and the live session card, in ipywidgets.

``StartCard().widget`` is the form; a successful Start flips it (its VBox children are
replaced) to a ``SessionCard``: status cards, Pause/Resume/Flatten/Kill and an event feed.
With "Keep running after this notebook closes" ticked, Start hands the session to the
supervisor (its own process) and flips to an ``AttachedCard`` (``widgets.attached``): what
``%paper attach`` tells of it, live (status line, numbers, controls, event feed from the ledger).
A venue with a start panel (``widgets.venues``: IB paper's gateway state, account,
Check / Start / Restart gateway) shows it with its note; the fields shown (speed,
starting cash, Outside RTH) are the venue's ``form_fields``.

Threading: widget state is only ever changed on the kernel's thread. Starting a session
and the controls run in worker threads, which hand their results back through a
``LoopBridge`` (``widgets.ui.kernel``: onto the kernel's asyncio loop). The session
card refreshes itself from ``loop.call_later`` ticks on that loop; ``refresh()`` does one
update synchronously (tests, or a kernel without a running loop).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from kernelext import api, venues
from kernelext.events import CONTROL_VERBS, STAGES, Event, now_ns
from kernelext.spec import EASTERN, SpecError
from widgets import startform as sf
from widgets.attached import AttachedCard
from widgets.startform import FormState, ParamField, error_parts
from widgets.ui import style
from widgets.ui.kernel import LoopBridge, kernel_loop
from widgets.venues import start_panels

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from kernelext.session.runner import SessionRunner, SessionStatus

__all__ = ["LoopBridge", "SessionCard", "StartCard", "kernel_loop"]

log = logging.getLogger(__name__)

TICK_S = 0.5
FEED_LINES = 200
FEED_STAGES = frozenset(STAGES - {"bar.received", "equity.update", "equity.batch"})  # cards show these
CONTROLS = tuple(v for v in CONTROL_VERBS if v != "stop")  # the buttons; stop (positions left open) is for scripts
_DESC = {"description_width": "9em"}


# -- small helpers ----------------------------------------------------------------------------------


def _et(ts: dt.datetime | int | None, fmt: str = "%H:%M:%S") -> str:
    if ts is None:
        return "-"
    if isinstance(ts, int):
        ts = dt.datetime.fromtimestamp(ts / 1e9, dt.UTC)
    return ts.astimezone(EASTERN).strftime(fmt)


def _money(value: float | None, currency: str = "") -> str:
    return "-" if value is None else f"{value:,.2f} {currency}".strip()


def _hide(widget: w.Widget, hidden: bool) -> None:
    widget.layout.display = "none" if hidden else None


# -- the session card -------------------------------------------------------------------------------


class SessionCard:
    """Live status of one running session, with Pause/Resume/Flatten/Kill and an event feed."""

    def __init__(
        self,
        runner: SessionRunner,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        interval: float = TICK_S,
        autotick: bool = True,
        on_new: Callable[[], None] | None = None,
    ) -> None:
        self.runner = runner
        self.interval = interval
        self.status: SessionStatus | None = None
        self.feed_lines: deque[str] = deque(maxlen=FEED_LINES)  # newest first
        self.finished = False
        self.closed = False
        self._bridge = LoopBridge(loop)
        self._view = runner.hub.subscribe(maxlen=500, stages=FEED_STAGES)
        self._handle: asyncio.TimerHandle | None = None
        self._controls: list[Future] = []
        self.header = w.HTML()
        self.stats = w.HTML()
        self.buttons = {
            name: w.Button(description=name.capitalize(), button_style=kind, tooltip=tip, layout=w.Layout(width="7em"))
            for name, kind, tip in (
                ("pause", "warning", "deny new orders; positions stay open"),
                ("resume", "success", "trade again"),
                ("flatten", "info", "cancel all orders, close all positions"),
                ("kill", "danger", "flatten, then stop the session"),
            )
        }
        for name, button in self.buttons.items():
            button.on_click(lambda _b, name=name: self.control(name))
        self.new_button = w.Button(description="New session", icon="plus")
        self.new_button.on_click(lambda _b: on_new() if on_new else None)
        _hide(self.new_button, True)
        self.feed = w.HTML()
        self.widget = w.VBox(
            [style.style_widget(), self.header, self.stats, w.HBox([*self.buttons.values(), self.new_button]), self.feed],
            layout=w.Layout(border="1px solid #ddd", padding="6px", width="100%"),
        )
        self._on_new = on_new
        self._add_line(now_ns(), "card", f"watching {runner.session_id}: {runner.spec.describe()}")
        self.refresh()
        if autotick:
            self._schedule()

    @classmethod
    def for_session(cls, runner: SessionRunner, *, loop: asyncio.AbstractEventLoop | None = None) -> SessionCard:
        """A live card for a session started elsewhere (the ``%paper start`` magic); display ``.widget``."""
        return cls(runner, loop=loop)

    # pause/resume/flatten/kill attributes for tests and callers
    @property
    def pause_button(self) -> w.Button:
        return self.buttons["pause"]

    @property
    def resume_button(self) -> w.Button:
        return self.buttons["resume"]

    @property
    def flatten_button(self) -> w.Button:
        return self.buttons["flatten"]

    @property
    def kill_button(self) -> w.Button:
        return self.buttons["kill"]

    # -- controls ------------------------------------------------------------------------------

    def control(self, name: str) -> Future:
        """Send ``name`` to the session (``api.control``) in a worker thread; the ack lands in the feed
        (kernel thread)."""
        if name not in CONTROLS:
            raise ValueError(f"control: {name!r} is not one of {', '.join(CONTROLS)}")
        button = self.buttons[name]
        button.disabled = True
        t0 = time.monotonic()

        def done(_result: Any, error: BaseException | None) -> None:
            ms = 1000 * (time.monotonic() - t0)
            button.disabled = self.finished
            self._drain_view()  # events up to now first, so the ack lands above them
            text = f"{name} ok ({ms:.0f} ms)" if error is None else f"{name} failed: {error_parts(error)[0]}"
            self._add_line(now_ns(), "ack", text)
            self._render_feed()

        sid, ledger = self.runner.session_id, self.runner.ledger
        fut = self._bridge.run_in_thread(lambda: api.control(sid, name, ledger=ledger), done, name=f"paperlab-{name}")
        self._controls.append(fut)
        return fut

    def wait_controls(self, timeout: float = 30.0) -> None:
        """Block until the controls clicked so far are done, then refresh (tests, scripts)."""
        wait_futures(self._controls, timeout)
        self._controls = [f for f in self._controls if not f.done()]
        self.refresh()

    # -- refresh -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """One update from the runner: acks, new events, status. Call on the kernel thread."""
        self._bridge.pump()
        alive = self.runner.is_alive
        self._drain_view()
        self.status = self.runner.status()
        self._render()
        if not alive and not self.finished:
            self._finish()

    def close(self) -> None:
        """Stop refreshing (the session keeps running)."""
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.runner.hub.unsubscribe(self._view)

    def _schedule(self) -> None:
        if not (self.closed or self.finished):
            self._handle = self._bridge.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self._handle = None
        if self.closed:
            return
        if self.widget.comm is None:  # the widget was closed
            self.close()
            return
        try:
            self.refresh()
        except Exception as e:  # noqa: BLE001  (keep ticking; say what went wrong)
            log.exception("session card refresh failed")
            self._add_line(now_ns(), "card", f"refresh failed: {error_parts(e)[0]}")
        self._schedule()

    def _finish(self) -> None:
        self.finished = True
        self._drain_view()
        self.runner.hub.unsubscribe(self._view)
        for button in self.buttons.values():
            button.disabled = True
        _hide(self.new_button, self._on_new is None)
        self._render()

    # -- rendering -----------------------------------------------------------------------------

    def _drain_view(self) -> None:
        for event in self._view.drain():
            self._add_event(event)

    def _add_event(self, event: Event) -> None:
        who = f"{event.sleeve}: " if event.sleeve else ""
        self._add_line(event.ts, event.stage, f"{who}{event.message}")

    def _add_line(self, ts: int, stage: str, text: str) -> None:
        self.feed_lines.appendleft(f"{_et(ts)} ET  {stage:<16} {text}")

    def _render(self) -> None:
        s = self.status
        if s is None:
            return
        spec = self.runner.spec
        started = f"started {_et(s.started_at)} ET" if s.started_at else "starting"
        until = f", auto-stop {_et(s.stop_at, '%H:%M')} ET" if s.stop_at else ""
        error = style.span(s.last_error, "paperlab-text-bad", "div") if s.last_error else ""
        real_money = venues.get(spec.venue).real_money
        tag = style.badge("REAL MONEY", "bad") if real_money else style.badge(s.feed.upper(), "dark")
        self.header.value = (
            f"{tag} <b>{style.esc(s.label)}</b> <code>{s.session_id}</code> "
            f"{style.span(f'{started}{until}; {spec.describe()}', 'paperlab-muted')}{error}"
        )
        eq, cur = s.equity, s.equity.get("currency", spec.currency)
        state = s.state if s.trading_state in ("-", "ACTIVE") else f"{s.state} ({s.trading_state})"
        cards = [
            ("state", state),
            ("bars", f"{s.bars:,}"),
            ("orders", f"{s.orders:,}"),
            ("fills", f"{s.fills:,}"),
            ("equity", _money(eq.get("equity"), cur)),
            ("unrealized P&L", _money(eq.get("unrealized_pnl"), cur)),
            ("realized P&L", _money(eq.get("realized_pnl"), cur)),
        ]
        self.stats.value = style.stats(cards)
        self._render_feed()

    def _render_feed(self) -> None:
        text = "\n".join(self.feed_lines)
        self.feed.value = style.scroll(text)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


# -- the start form -----------------------------------------------------------------------------------


def _param_widget(f: ParamField) -> w.Widget:
    """The input for one strategy parameter, prefilled with its default."""
    common = {"description": f.name, "style": _DESC}
    if f.kind == "bool":
        return w.Checkbox(value=bool(f.default), indent=True, **common)
    if f.kind == "choice":
        return w.Dropdown(options=list(f.choices), value=f.default, **common)
    if f.kind == "int" and not (f.optional or f.required):
        return w.IntText(value=f.default, **common)
    if f.kind == "float" and not (f.optional or f.required):
        return w.FloatText(value=f.default, **common)
    if f.kind == "json":
        return w.Textarea(value=sf.default_text(f), rows=2, layout=w.Layout(width="32em"), **common)
    hint = "required" if f.required else ("blank = none" if f.optional else "")
    return w.Text(value=sf.default_text(f), placeholder=hint, **common)


def _instrument_input(venue: str | None, value: str) -> w.Widget:
    """A book row's instrument: a pair dropdown, or free text with suggestions (the venue's symbology)."""
    place = sf.venue_of(venue)
    if place.free_text_instruments:
        return w.Combobox(options=list(place.suggested_instruments), value=value, ensure_option=False,
                          placeholder=place.default_instrument, layout=w.Layout(width="9em"))
    return w.Dropdown(options=sf.instrument_choices(), value=value, layout=w.Layout(width="9em"))


class _SleeveRow:
    """One book sleeve: strategy, instrument, params JSON, remove button."""

    def __init__(
        self, strategy: str, instrument: str, on_remove: Callable[[_SleeveRow], None], venue: str | None = None
    ) -> None:
        self.strategy = w.Dropdown(options=sf.strategy_choices(), value=strategy, layout=w.Layout(width="10em"))
        self.instrument = _instrument_input(venue, instrument)
        self.params = w.Textarea(placeholder=sf.params_placeholder(strategy), rows=1, layout=w.Layout(width="22em"))
        self.remove_button = w.Button(icon="times", tooltip="remove this sleeve", layout=w.Layout(width="3em"))
        self.remove_button.on_click(lambda _b: on_remove(self))
        self.strategy.observe(lambda ch: setattr(self.params, "placeholder", sf.params_placeholder(ch["new"])), "value")
        self.box = w.HBox([self.strategy, self.instrument, self.params, self.remove_button])

    def set_venue(self, venue: str, instrument: str) -> None:
        """Swap the instrument input for ``venue``'s kind, now at ``instrument``."""
        old, self.instrument = self.instrument, _instrument_input(venue, instrument)
        self.box.children = (self.strategy, self.instrument, self.params, self.remove_button)
        old.close()

    def value(self) -> dict[str, Any]:
        return {"strategy": self.strategy.value, "instrument": self.instrument.value, "params": self.params.value}


class StartCard:
    """The guided start form (ipywidgets); flips to a ``SessionCard`` once the session runs (an
    ``AttachedCard`` once a detached one is handed to the supervisor).

    ``on_started`` gets the ``SessionRunner``, or the session id of a detached start.
    """

    def __init__(
        self,
        *,
        on_started: Callable[[SessionRunner | str], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.on_started = on_started
        self.ledger = ledger
        self.runner: SessionRunner | None = None
        self.session_id: str | None = None  # the session started last (detached or not)
        self.session_card: SessionCard | AttachedCard | None = None
        self.error_text = ""
        self._bridge = LoopBridge(loop)
        self._starting: Future | None = None
        self._venue = sf.venue_of(sf.DEFAULT_VENUE)
        self._build()

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        choices = sf.venue_choices()
        self._venues = {c.label: c for c in choices}
        self.venue = w.Dropdown(
            options=[(c.label if c.available else f"{c.label} (unavailable)", c.label) for c in choices],
            value=sf.DEFAULT_VENUE, description="Venue", style=_DESC,
        )
        self.venue_note = w.HTML()
        self.mode = w.ToggleButtons(options=[("Single strategy", "single"), ("Book", "book")], value="single")
        self.strategy = w.Dropdown(options=sf.strategy_choices(), value="ema_cross", description="Strategy", style=_DESC)
        self.instrument_search = w.Text(placeholder="search pairs, e.g. eth", description="Instrument", style=_DESC)
        self.instrument = w.Dropdown(options=sf.instrument_choices(), value="BTC/USD", layout=w.Layout(width="10em"))
        self.pair_box = w.HBox([self.instrument_search, self.instrument])
        self.symbol_input = w.Combobox(ensure_option=False, description="Instrument", style=_DESC)  # free-text symbology
        _hide(self.symbol_input, True)
        self.params_box = w.VBox()
        self.param_widgets: dict[str, w.Widget] = {}
        self.single_box = w.VBox([self.strategy, self.pair_box, self.symbol_input, self.params_box])
        self.sleeve_rows: list[_SleeveRow] = []
        self.rows_box = w.VBox()
        self.add_sleeve_button = w.Button(description="Add sleeve", icon="plus")
        self.book_box = w.VBox(
            [w.HTML("<b>Sleeves</b> (strategy, instrument, params JSON)"), self.rows_box, self.add_sleeve_button]
        )
        self.timeframe = w.Dropdown(options=list(sf.TIMEFRAMES), value=sf.DEFAULT_TIMEFRAME, description="Timeframe", style=_DESC)
        self.cash = w.Text(value=sf.DEFAULT_CASH["USD"], description="Starting cash", style=_DESC)
        self.until = w.Text(placeholder="HH:MM ET (optional)", description="Auto-stop", style=_DESC)
        self.label = w.Text(placeholder="optional", description="Label", style=_DESC)
        self.speed = w.Text(
            value=sf.DEFAULT_SPEED, description="Speed", style=_DESC,
            tooltip="bar intervals per interval of wall time: 1 = real time, 60 = a 1-minute bar a second, max",
        )
        self.outside_rth = w.Checkbox(
            value=False, description="Outside RTH", style=_DESC,
            tooltip="trade and take bars outside regular trading hours (IB)",
        )
        self.detach = w.Checkbox(
            value=False, description="Keep running after this notebook closes", indent=False,
            tooltip="run the session in a supervised process of its own (detached); attach to it from anywhere",
        )
        self.form_note = w.HTML()  # the venue panel's note
        self.venue_panels = {name: cls(self.ledger, bridge=self._bridge) for name, cls in start_panels().items()}
        self.venue_box = w.VBox([self.form_note, self.outside_rth])
        _hide(self.venue_box, True)
        self.live_summary = w.HTML()
        self.i_understand = w.Text(placeholder="U...", description="Live account id", continuous_update=True)
        self.live_box = w.VBox([self.live_summary, self.i_understand])
        _hide(self.live_box, True)
        self.live: sf.LiveCheck | None = None  # a real-money venue's summary and typed-id match
        self.start_button = w.Button(description="Start", button_style="success", icon="play")
        self.message = w.HTML()
        self.log_tail = w.HTML()
        self.form = w.VBox(
            [
                w.HTML("<b>New paper session</b>"), w.HBox([self.venue, self.venue_note]), self.venue_box, self.mode,
                self.single_box, self.book_box, self.timeframe, self.cash, self.until, self.label, self.speed,
                self.detach, self.live_box, self.start_button, self.message, self.log_tail,
            ]
        )
        self.widget = w.VBox([self.form], layout=w.Layout(border="1px solid #ddd", padding="6px"))
        self.venue.observe(lambda _ch: self._venue_changed(), "value")
        self.mode.observe(lambda _ch: self._mode_changed(), "value")
        self.strategy.observe(lambda _ch: self._make_params(), "value")
        self.instrument_search.observe(lambda ch: self._filter_instruments(ch["new"]), "value")
        self.instrument.observe(lambda ch: self._instrument_changed(ch["new"]), "value")
        self.add_sleeve_button.on_click(lambda _b: self.add_sleeve())
        self.start_button.on_click(lambda _b: self.start())
        self.i_understand.observe(lambda _ch: self._check_live(), "value")
        for widget in (self.strategy, self.instrument, self.symbol_input, self.timeframe, self.mode):
            widget.observe(lambda _ch: self._check_live(), "value")
        self._make_params()
        self._mode_changed()

    def _check_live(self) -> None:
        """A real-money venue: the summary to confirm; Start stays disabled until the typed id matches."""
        self.live = sf.live_check(self.state(), self.i_understand.value or "", ledger=self.ledger)
        _hide(self.live_box, self.live is None)
        if self.live is not None:
            text = self.live.refusal or "<br>".join(style.esc(line) for line in self.live.lines)
            self.live_summary.value = f"<b>REAL MONEY</b>: {text}"
        choice = self._venues.get(self.venue.value)
        self.start_button.disabled = (self._busy or (choice is not None and not choice.available)
                                      or (self.live is not None and not self.live.matches))

    def _venue_changed(self) -> None:
        choice = self._venues[self.venue.value]
        self.venue_note.value = "" if choice.available else style.span(f"unavailable: {choice.reason}", "paperlab-muted", "i")
        self.start_button.disabled = not choice.available or self._busy
        if sf.venue_of(choice.label) is not self._venue:
            self._switch_venue(choice.label)
        self.i_understand.value = ""
        self._check_live()

    def _switch_venue(self, label: str) -> None:
        """Another venue: its panel and fields (Outside RTH, speed, starting cash), its defaults."""
        venue = self._venue = sf.venue_of(label)
        free, fields = venue.free_text_instruments, venue.form_fields
        panel = self.venue_panels.get(venue.name)
        self.form_note.value = style.span(panel.note, "paperlab-muted", "i") if panel else ""
        self.venue_box.children = (self.form_note, self.outside_rth, *((panel.widget,) if panel else ()))
        for widget, hidden in ((self.venue_box, panel is None and "outside_rth" not in fields),
                               (self.outside_rth, "outside_rth" not in fields), (self.symbol_input, not free),
                               (self.pair_box, free), (self.cash, "starting_cash" not in fields),
                               (self.speed, "speed" not in fields)):
            _hide(widget, hidden)
        instrument, self.timeframe.value = sf.venue_defaults(label)
        if free:
            self.symbol_input.options = list(venue.suggested_instruments)
            self.symbol_input.placeholder = venue.instrument_placeholder
            self.symbol_input.value = instrument
        for row, default in zip(self.sleeve_rows, sf.default_instruments(label, len(self.sleeve_rows)), strict=True):
            row.set_venue(label, default)
        if panel is not None:
            panel.show()

    def _mode_changed(self) -> None:
        book = self.mode.value == "book"
        if book and not self.sleeve_rows:
            current = self.symbol_input.value.strip() if self._venue.free_text_instruments else self.instrument.value
            self.add_sleeve(self.strategy.value, current or sf.venue_defaults(self.venue.value)[0])
        _hide(self.single_box, book)
        _hide(self.book_box, not book)

    def _make_params(self) -> None:
        """(Re)generate the parameter inputs for the selected strategy."""
        fields = sf.param_fields(self.strategy.value) if self.strategy.value else []
        self.param_widgets = {f.name: _param_widget(f) for f in fields}
        self.params_box.children = tuple(self.param_widgets.values())

    def _filter_instruments(self, query: str) -> None:
        matches = sf.instrument_choices(query)
        current = self.instrument.value
        self.instrument.options = matches
        self.instrument.value = current if current in matches else (matches[0] if matches else None)

    def _instrument_changed(self, instrument: str | None) -> None:
        self.cash.value = sf.suggest_cash(instrument, self.cash.value)

    def add_sleeve(self, strategy: str | None = None, instrument: str | None = None) -> _SleeveRow:
        """A new book row (also the Add sleeve button); instrument default the venue's second suggestion."""
        suggested = self._venue.suggested_instruments
        instrument = instrument or suggested[1 % len(suggested)]
        row = _SleeveRow(strategy or sf.strategy_choices()[0], instrument, self._remove_sleeve, self.venue.value)
        self.sleeve_rows.append(row)
        self.rows_box.children = tuple(r.box for r in self.sleeve_rows)
        return row

    def _remove_sleeve(self, row: _SleeveRow) -> None:
        self.sleeve_rows = [r for r in self.sleeve_rows if r is not row]
        self.rows_box.children = tuple(r.box for r in self.sleeve_rows)

    # -- starting ------------------------------------------------------------------------------

    @property
    def _busy(self) -> bool:
        return self._starting is not None and not self._starting.done()

    def _instrument(self) -> str:
        """The single-mode instrument: free text where the venue takes it, else the chosen pair (or the search)."""
        if self._venue.free_text_instruments:
            return self.symbol_input.value.strip()
        return self.instrument.value or self.instrument_search.value

    def state(self) -> FormState:
        """The form's current values."""
        state = sf.read_form(self, self._instrument())
        state.i_understand = (self.i_understand.value or "").strip()
        return state

    def start(self) -> Future | None:
        """Validate (errors show at once) and start in a worker thread; the card flips when it runs."""
        if self._busy:
            return self._starting
        self._show_error("", "")
        try:
            spec = sf.to_spec(self.state())
        except SpecError as e:
            self._show_error(*error_parts(e))
            return None
        detach = bool(self.detach.value)
        self.start_button.disabled = True
        self.message.value = f"starting {style.esc(spec.describe())}{' (detached)' if detach else ''} ..."
        typed = self.state().i_understand
        live = {"i_understand": typed} if typed else {}  # a real-money start: the id the person typed
        if detach:
            def launch() -> SessionRunner | str:
                return sf.launch(spec, ledger=self.ledger, detach=True, **live)
        else:
            def launch() -> SessionRunner | str:
                return sf.launch(spec, ledger=self.ledger, **live)
        self._starting = self._bridge.run_in_thread(launch, self._started, name="paperlab-start")
        return self._starting

    def wait_started(self, timeout: float = 90.0) -> SessionRunner | str | None:
        """Block until a start in progress ends, then apply it (tests, scripts); the runner, the
        session id of a detached start, or None."""
        if self._starting is not None:
            wait_futures([self._starting], timeout)
        self._bridge.pump()
        return self.runner or self.session_id

    def _started(self, started: SessionRunner | str | None, error: BaseException | None) -> None:
        self._starting = None
        self._venue_changed()
        if error is not None or started is None:
            self._show_error(*error_parts(error or RuntimeError("no runner")))
            return
        self.message.value = ""
        if isinstance(started, str):  # detached: its own process; show it as %paper attach does
            self.runner, self.session_id = None, started
            self.session_card = AttachedCard(started, ledger=self.ledger, loop=self._bridge.loop,
                                             on_new=self._back_to_form)
        else:
            self.runner, self.session_id = started, started.session_id
            self.session_card = SessionCard(started, loop=self._bridge.loop, on_new=self._back_to_form)
        self.widget.children = (self.session_card.widget,)
        if self.on_started is not None:
            self.on_started(started)

    def _back_to_form(self) -> None:
        if self.session_card is not None:
            self.session_card.close()
        self.widget.children = (self.form,)

    def _show_error(self, message: str, tail: str) -> None:
        self.error_text = message
        self.message.value = style.span(message, "paperlab-text-bad") if message else ""
        self.log_tail.value = style.details("log tail", tail) if tail else ""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
