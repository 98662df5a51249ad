"""The guided start card in Panel (the standalone app's "New session" form).

Same form as the ipywidgets ``StartCard``, all logic in ``widgets.startform``. Start
validates at once (one-line error in an Alert), then runs ``startform.launch`` in a
worker thread; the outcome is applied on the Bokeh document's loop when served
(``widgets.ui.post.post_to_ui`` with the captured document), directly otherwise. Every
interactive widget has a stable ``paperlab-*`` CSS class for browser tests. A venue with a
start panel (``widgets.venues``, e.g. IB paper's) shows it with its note; the fields shown
(speed, starting cash, Outside RTH) are the venue's ``form_fields``.

"Keep running after this notebook closes" (off by default) starts the session detached: the
supervisor runs it in a process of its own and Start returns its id at once. The card then says
so and attaches to it as ``%paper attach`` does: its dashboard (``widgets.dashboard``) shows below
the card, unless the host shows it (the app's Paper tab does, through ``on_started``).

Declared state (params): ``busy`` (a start is under way: the Start button waits), ``error_text``
and ``log_tail`` (the one-line error and the log tail under it).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from functools import partial
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from kernelext.spec import SpecError
from widgets import startform as sf
from widgets.dashboard import SessionDashboard
from widgets.startform import FormState, ParamField, error_parts
from widgets.ui.post import current_doc, in_thread, post_to_ui
from widgets.venues import start_panels

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from kernelext.session.runner import SessionRunner

__all__ = ["PanelStartCard"]


def _param_widget(f: ParamField) -> pn.widgets.Widget:
    """The Panel input for one strategy parameter, prefilled with its default."""
    kw: dict[str, Any] = {"label": f.name, "css_classes": [f"paperlab-param-{f.name}"]}
    if f.kind == "bool":
        return pn.widgets.Checkbox(value=bool(f.default), **kw)
    if f.kind == "choice":
        return pn.widgets.Select(options=list(f.choices), value=f.default, **kw)
    if f.kind == "int" and not (f.optional or f.required):
        return pn.widgets.IntInput(value=f.default, **kw)
    if f.kind == "float" and not (f.optional or f.required):
        return pn.widgets.FloatInput(value=f.default, **kw)
    if f.kind == "json":
        return pn.widgets.TextAreaInput(value=sf.default_text(f), height=70, **kw)
    hint = "required" if f.required else ("blank = none" if f.optional else "")
    return pn.widgets.TextInput(value=sf.default_text(f), placeholder=hint, **kw)


def _set_instruments(widget: pn.widgets.AutocompleteInput, venue: str, value: str | None = None) -> None:
    """Point an instrument input at ``venue``: its choices (free text if its symbology is), ``value`` or its default."""
    place = sf.venue_of(venue)
    widget.param.update(
        restrict=not place.free_text_instruments, options=sf.instrument_choices(venue=venue),
        value=value or sf.venue_defaults(venue)[0], placeholder=place.instrument_placeholder,
    )


class _PanelSleeveRow:
    """One book sleeve: strategy, instrument, params JSON, remove button."""

    def __init__(
        self, strategy: str, instrument: str, on_remove: Callable[[_PanelSleeveRow], None], venue: str | None = None
    ) -> None:
        self.strategy = pn.widgets.Select(
            options=sf.strategy_choices(), value=strategy, width=140, css_classes=["paperlab-sleeve-strategy"]
        )
        self.instrument = pn.widgets.AutocompleteInput(
            options=sf.instrument_choices(venue=venue), value=instrument, case_sensitive=False,
            search_strategy="includes", min_characters=1, restrict=not sf.venue_of(venue).free_text_instruments, width=120,
            css_classes=["paperlab-sleeve-instrument"],
        )
        self.params = pn.widgets.TextAreaInput(
            placeholder=sf.params_placeholder(strategy), height=40, width=280, css_classes=["paperlab-sleeve-params"]
        )
        self.remove_button = pn.widgets.Button(label="✕", width=40, css_classes=["paperlab-sleeve-remove"])
        self.remove_button.on_click(lambda _e: on_remove(self))
        self.strategy.param.watch(lambda e: setattr(self.params, "placeholder", sf.params_placeholder(e.new)), "value")
        self.row = pn.Row(self.strategy, self.instrument, self.params, self.remove_button)

    def set_venue(self, venue: str, instrument: str) -> None:
        """Pairs only (restricted), or free symbology text with suggestions; now ``instrument``."""
        _set_instruments(self.instrument, venue, instrument)

    def value(self) -> dict[str, Any]:
        return {"strategy": self.strategy.value, "instrument": self.instrument.value, "params": self.params.value}


class PanelStartCard(pn.viewable.Viewer):
    """The start form in Panel; ``on_started(runner)`` once a session runs (``on_started(session_id)``
    once a detached one is handed to the supervisor)."""

    busy = param.Boolean(default=False, doc="a start is under way")
    error_text = param.String(default="", doc="the one-line error shown ('' when none)")
    log_tail = param.String(default="", doc="the failed start's log tail ('' hides it)")

    def __init__(
        self, on_started: Callable[[SessionRunner | str], None] | None = None, *, ledger: Ledger | None = None
    ) -> None:
        super().__init__()
        self.on_started = on_started
        self.ledger = ledger
        self.started_runner: SessionRunner | None = None
        self.started_id: str | None = None  # the session started last (detached or not)
        self.dashboard: SessionDashboard | None = None  # a detached session's, when no host shows it
        self._starting: Future | None = None
        self._venue = sf.venue_of(sf.DEFAULT_VENUE)
        choices = sf.venue_choices()
        unavailable = [c for c in choices if not c.available]
        self.venue = pn.widgets.Select(
            label="Venue", options=[c.label for c in choices], value=sf.DEFAULT_VENUE,
            disabled_options=[c.label for c in unavailable], css_classes=["paperlab-venue"],
            description="; ".join(f"{c.label}: {c.reason}" for c in unavailable) or None,
        )
        self.mode = pn.widgets.RadioButtonGroup(
            label="Mode", options={"Single strategy": "single", "Book": "book"}, value="single", css_classes=["paperlab-mode"]
        )
        self.strategy = pn.widgets.Select(
            label="Strategy", options=sf.strategy_choices(), value="ema_cross", css_classes=["paperlab-strategy"]
        )
        self.instrument = pn.widgets.AutocompleteInput(
            label="Instrument", options=sf.instrument_choices(), value="BTC/USD", case_sensitive=False,
            search_strategy="includes", min_characters=1, restrict=True, placeholder="type to search, e.g. eth",
            css_classes=["paperlab-instrument"],
        )
        self.params = pn.Column(css_classes=["paperlab-params"])
        self.param_widgets: dict[str, pn.widgets.Widget] = {}
        self.single = pn.Column(self.strategy, self.instrument, self.params)
        self.sleeve_rows: list[_PanelSleeveRow] = []
        self.rows = pn.Column()
        self.add_sleeve_button = pn.widgets.Button(label="Add sleeve", css_classes=["paperlab-add-sleeve"])
        self.book = pn.Column(pn.pane.Markdown("**Sleeves** (strategy, instrument, params JSON)"), self.rows,
                              self.add_sleeve_button, visible=False)
        self.timeframe = pn.widgets.Select(
            label="Timeframe", options=list(sf.TIMEFRAMES),
            value=sf.DEFAULT_TIMEFRAME,
            css_classes=["paperlab-timeframe"],
        )
        self.cash = pn.widgets.TextInput(label="Starting cash", value=sf.DEFAULT_CASH["USD"], css_classes=["paperlab-cash"])
        self.until = pn.widgets.TextInput(label="Auto-stop (HH:MM ET)", placeholder="optional", css_classes=["paperlab-until"])
        self.label = pn.widgets.TextInput(label="Label", placeholder="optional", css_classes=["paperlab-label"])
        self.speed = pn.widgets.TextInput(
            label="Speed", value=sf.DEFAULT_SPEED, css_classes=["paperlab-speed"],
            description="bar intervals per interval of wall time: 1 = real time, 60 = a 1-minute bar a second, max",
        )
        self.outside_rth = pn.widgets.Checkbox(
            label="Outside RTH (trade and take bars outside regular trading hours)", value=False,
            css_classes=["paperlab-outside-rth"],
        )
        self.detach = pn.widgets.Checkbox(
            label="Keep running after this notebook closes (its own supervised process)", value=False,
            css_classes=["paperlab-detach"],
        )
        self.attached = pn.Column(sizing_mode="stretch_width", css_classes=["paperlab-attached"])
        self.venue_panels = {name: cls(ledger) for name, cls in start_panels(panel_start=True).items()}
        self.form_note = pn.pane.Markdown("", css_classes=["paperlab-venue-note"])  # the venue panel's note
        self.venue_section = pn.Column(
            self.form_note, self.outside_rth, visible=False, css_classes=["paperlab-venue-section"], sizing_mode="stretch_width",
        )
        self.live_summary = pn.pane.Markdown("", css_classes=["paperlab-live-summary"])
        self.i_understand = pn.widgets.TextInput(
            label="Type the live account id to enable Start", placeholder="U...", css_classes=["paperlab-live-confirm"],
        )
        self.live_section = pn.Column(self.live_summary, self.i_understand, visible=False,
                                      css_classes=["paperlab-live"], sizing_mode="stretch_width")
        self.live: sf.LiveCheck | None = None  # a real-money venue's summary and typed-id match
        self.start_button = pn.widgets.Button(label="Start", color="primary", css_classes=["paperlab-start"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["paperlab-error"])
        self.log_text = pn.pane.Str("", css_classes=["paperlab-log-text"])
        self.log_card = pn.Card(self.log_text, title="log tail", collapsed=True, visible=False, css_classes=["paperlab-log"])
        self.started = pn.pane.Alert("", alert_type="success", visible=False, css_classes=["paperlab-started"])
        self._layout = pn.Column(
            pn.pane.Markdown("### New paper session"), self.venue, self.venue_section, self.mode, self.single, self.book,
            self.timeframe, self.cash, self.until, self.label, self.speed, self.detach, self.live_section,
            self.start_button, self.error,
            self.log_card, self.started, self.attached,
            css_classes=["paperlab-start-card"],
        )
        self.strategy.param.watch(lambda _e: self._make_params(), "value")
        self.mode.param.watch(lambda _e: self._mode_changed(), "value")
        self.venue.param.watch(lambda _e: self._venue_changed(), "value")
        self.instrument.param.watch(lambda e: setattr(self.cash, "value", sf.suggest_cash(e.new, self.cash.value)), "value")
        self.add_sleeve_button.on_click(lambda _e: self.add_sleeve())
        self.start_button.on_click(lambda _e: self.start())
        self.i_understand.param.watch(lambda _e: self._check_live(), "value_input")
        for widget in (self.strategy, self.instrument, self.timeframe, self.mode):
            widget.param.watch(lambda _e: self._check_live(), "value")
        self._make_params()

    def panel(self) -> pn.Column:
        """The card, to serve or to put in a layout."""
        return self._layout

    def __panel__(self) -> pn.Column:
        return self._layout

    @param.depends("busy", watch=True)
    def _busy_changed(self) -> None:
        self._refresh_start()
        self.start_button.label = "Starting..." if self.busy else "Start"

    def _refresh_start(self) -> None:
        """Start is disabled while a start runs, and on a real-money venue until the typed id matches."""
        self.start_button.disabled = self.busy or (self.live is not None and not self.live.matches)

    def _check_live(self) -> None:
        """A real-money venue: the summary to confirm and whether the typed account id matches."""
        typed = self.i_understand.value_input if self.i_understand.value_input is not None else self.i_understand.value
        self.live = sf.live_check(self.state(), typed or "", ledger=self.ledger)
        self.live_section.visible = self.live is not None
        if self.live is not None:
            self.live_summary.object = self.live.markdown()
        self._refresh_start()

    @param.depends("error_text", "log_tail", watch=True)
    def _error_changed(self) -> None:
        self.error.object = self.error_text
        self.error.visible = bool(self.error_text)
        self.log_text.object = self.log_tail
        self.log_card.visible = bool(self.log_tail)

    # -- form ----------------------------------------------------------------------------------

    def _make_params(self) -> None:
        fields = sf.param_fields(self.strategy.value) if self.strategy.value else []
        self.param_widgets = {f.name: _param_widget(f) for f in fields}
        self.params.objects = list(self.param_widgets.values())

    def _venue_changed(self) -> None:
        """Another venue: its panel and fields (Outside RTH, speed, starting cash), its defaults."""
        venue = self.venue.value
        place = sf.venue_of(venue)
        if place is self._venue:
            return
        self._venue, fields = place, place.form_fields
        panel = self.venue_panels.get(place.name)
        self.form_note.object = f"*{panel.note}*" if panel else ""
        self.venue_section.objects = [self.form_note, self.outside_rth, *([panel.panel()] if panel else [])]
        self.venue_section.visible = panel is not None or "outside_rth" in fields
        self.outside_rth.visible = "outside_rth" in fields
        self.cash.visible, self.speed.visible = "starting_cash" in fields, "speed" in fields
        _set_instruments(self.instrument, venue)
        self.timeframe.value = sf.venue_defaults(venue)[1]
        for row, default in zip(self.sleeve_rows, sf.default_instruments(venue, len(self.sleeve_rows)), strict=True):
            row.set_venue(venue, default)
        if panel is not None:
            panel.show()
        self.i_understand.value = ""
        self._check_live()

    def _mode_changed(self) -> None:
        book = self.mode.value == "book"
        if book and not self.sleeve_rows:
            self.add_sleeve(self.strategy.value, self.instrument.value or sf.venue_defaults(self.venue.value)[0])
        self.single.visible = not book
        self.book.visible = book

    def add_sleeve(self, strategy: str | None = None, instrument: str | None = None) -> _PanelSleeveRow:
        """A new book row (also the Add sleeve button); instrument default the venue's second suggestion."""
        suggested = self._venue.suggested_instruments
        instrument = instrument or suggested[1 % len(suggested)]
        row = _PanelSleeveRow(strategy or sf.strategy_choices()[0], instrument, self._remove_sleeve, self.venue.value)
        self.sleeve_rows.append(row)
        self.rows.objects = [r.row for r in self.sleeve_rows]
        return row

    def _remove_sleeve(self, row: _PanelSleeveRow) -> None:
        self.sleeve_rows = [r for r in self.sleeve_rows if r is not row]
        self.rows.objects = [r.row for r in self.sleeve_rows]

    def state(self) -> FormState:
        """The form's current values."""
        state = sf.read_form(self, self.instrument.value or "")
        state.i_understand = (self.i_understand.value_input or self.i_understand.value or "").strip()
        return state

    # -- starting ------------------------------------------------------------------------------

    def start(self) -> Future | None:
        """Validate (errors show at once), then start in a worker thread; None on a bad form."""
        if self._starting is not None and not self._starting.done():
            return self._starting
        self._show_error("", "")
        self.started.visible = False
        try:
            spec = sf.to_spec(self.state())
        except SpecError as e:
            self._show_error(*error_parts(e))
            return None
        self.busy = True
        doc = current_doc()
        typed = self.state().i_understand
        live = {"i_understand": typed} if typed else {}  # a real-money start: the id the person typed
        if self.detach.value:
            def launch() -> SessionRunner | str:
                return sf.launch(spec, ledger=self.ledger, detach=True, **live)
        else:
            def launch() -> SessionRunner | str:
                return sf.launch(spec, ledger=self.ledger, **live)
        done = partial(self._done, spec.describe())
        self._starting = in_thread(launch, done, lambda fn: post_to_ui(doc, fn), "paperlab-panel-start")
        return self._starting

    def wait_started(self, timeout: float = 90.0) -> SessionRunner | str | None:
        """Block until a start in progress ends (tests, scripts); the runner, the session id of a
        detached start, or None."""
        if self._starting is not None:
            wait_futures([self._starting], timeout)
        return self.started_runner or self.started_id

    def _done(self, what: str, started: SessionRunner | str | None, error: BaseException | None) -> None:
        """The start's outcome, on the document's loop."""
        self.busy = False
        if error is not None or started is None:
            self._show_error(*error_parts(error or RuntimeError("no runner")))
            return
        if isinstance(started, str):
            self.started_runner, self.started_id = None, started
            self.started.object = (f"Started `{started}` detached: {what}. It runs in its own process under "
                                   "the supervisor and keeps running when this page or notebook closes.")
        else:
            self.started_runner, self.started_id = started, started.session_id
            self.started.object = f"Started `{started.session_id}`: {what}"
        self.started.visible = True
        self._attach(started if isinstance(started, str) else None)
        if self.on_started is not None:
            self.on_started(started)

    def _attach(self, session_id: str | None) -> None:
        """Show a detached session's dashboard under the card (``%paper attach``), unless a host shows it."""
        if self.dashboard is not None:
            self.dashboard.stop()
            self.dashboard = None
        self.attached.objects = []
        if session_id is None or self.on_started is not None:
            return
        self.dashboard = SessionDashboard(session_id, self.ledger)
        self.attached.objects = [self.dashboard.panel()]

    def _show_error(self, message: str, tail: str) -> None:
        self.param.update(error_text=message, log_tail=tail)
