"""The start card's IB paper panel: gateway state, the account at rest, Check / Start / Restart.

One model (``IbPanelModel``: state and work, no widgets) and two thin views: ``IbPanel``
(ipywidgets, in ``widgets.startcard``) and ``PanelIbPanel`` (Panel, in
``widgets.panel_start``); the cards find them through ``widgets.venues`` (the venue's
``panel`` kind ``ib``), as the headers find ``CHIP``. The gateway work is the venue's own
(``venues.get("ib-paper")``: ``check_gateway``, ``docker_available``, ``gateway_command``,
``run_gateway``); it runs in worker threads and every result reaches the model through the
view's ``post`` (``widgets.ui``: the kernel loop's ``LoopBridge`` for ipywidgets,
``post_to_ui`` for Panel), so widgets are only written on the UI thread. A check is recorded
in the ledger, which is what the dashboard and app health chips (``health_chip_html``, shared
here) read. Nothing here reads the gateway's ``.env``; compose output is masked by the venue.
"""

from __future__ import annotations

import html
import math
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import panel as pn

from kernelext import venues
from kernelext.errors import one_line
from kernelext.events import now_ns
from kernelext.spec import mask_account
from kernelext.venues.base import (
    HEALTH_OFF,
    HEALTH_OK,
    HEALTH_RELOGIN,
    AccountSnapshot,
    ProbeFailure,
    ProbeResult,
    Venue,
    health_of,
)
from widgets.feed import eastern_str
from widgets.ui import style
from widgets.ui.kernel import LoopBridge
from widgets.ui.post import Post, current_doc, in_thread, post_to_ui

if TYPE_CHECKING:
    from bokeh.document import Document

    from kernelext.ledger import Ledger
    from kernelext.venues.ib.compose import Action
    from kernelext.venues.ib.health import HealthRow

__all__ = [
    "CHIP",
    "IB_CASH_NOTE",
    "IbPanel",
    "IbPanelModel",
    "PanelIbPanel",
    "account_html",
    "health_chip_html",
    "health_class",
    "health_text",
    "health_tooltip",
    "output_html",
    "IbHealthChip",
]

VENUE = "ib-paper"  # the venue these widgets are the panel of
OUTPUT_LINES = 200
IB_CASH_NOTE = (
    "IB paper trades the IB paper account itself: its own cash and positions are used (no starting "
    "cash), bars arrive in real time (no speed). Instruments in IB symbology SYMBOL.EXCHANGE, e.g. QQQ.NASDAQ."
)
_CLASS = {HEALTH_OK: "ok", HEALTH_RELOGIN: "relogin", HEALTH_OFF: "off"}
_TONE: dict[str, style.Tone] = {"ok": "ok", "relogin": "warn", "off": "bad", "unknown": "unknown"}


def _venue() -> Venue:
    return venues.get(VENUE)


# -- the health chip (also the dashboard's and the app's) ---------------------------------------


def health_class(state: str | None) -> str:
    """CSS classes of the chip: ``paperlab-ib-health paperlab-ib-health-ok|relogin|off|unknown``."""
    return f"paperlab-ib-health paperlab-ib-health-{_CLASS.get(state or '', 'unknown')}"


def health_text(state: str | None) -> str:
    """``IB gateway: ok`` / ``re-login needed`` / ``off`` / ``not checked``."""
    return f"IB gateway: {state or 'not checked'}"


def health_tooltip(row: HealthRow | None) -> str:
    """The last transition's message and time (US/Eastern)."""
    if row is None:
        return "no gateway check recorded yet"
    return f"{row.message} (since {eastern_str(row.ts)} ET)".strip()


def health_chip_html(state: str | None, tooltip: str = "") -> str:
    """The chip as an HTML span (css classes from ``health_class``, ``title`` = tooltip)."""
    tone = _TONE[_CLASS.get(state or "", "unknown")]
    return style.badge(health_text(state), tone, cls=health_class(state), title=tooltip)


class IbHealthChip:
    """The gateway health chip of the dashboard and app headers, from a ``gateway_health`` row."""

    def text(self, row: HealthRow | None) -> str:
        return health_text(row.state if row else None)

    def css_class(self, row: HealthRow | None) -> str:
        return health_class(row.state if row else None)

    def html(self, row: HealthRow | None) -> str:
        return health_chip_html(row.state if row else None, health_tooltip(row))


CHIP = IbHealthChip()


# -- rendering (shared by both views) -----------------------------------------------------------


def _money(value: float, currency: str) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.2f} {currency}".rstrip()


def _qty(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}"


def _holdings_html(snap: AccountSnapshot) -> str:
    if not snap.holdings:
        return style.span("no holdings", "paperlab-ib-holdings paperlab-muted", "div")
    head = "".join(f"<th>{h}</th>" for h in ("symbol", "exchange", "position", "avg cost"))
    rows = "".join(
        f"<tr><td>{html.escape(h.symbol)}</td><td>{html.escape(h.exchange)}</td>"
        f"<td class='paperlab-num'>{_qty(h.position)}</td>"
        f"<td class='paperlab-num'>{_money(h.avg_cost, '')}</td></tr>"
        for h in snap.holdings
    )
    return f"<table class='paperlab-ib-holdings paperlab-table'><tr>{head}</tr>{rows}</table>"


def account_html(result: ProbeResult | None, *, checking: bool = False, checked_at: int | None = None) -> str:
    """Chip + the account at rest (equity, cash, buying power, exposure, holdings) or the reason."""
    state = health_of(result) if result is not None else None
    when = f" at {eastern_str(checked_at, '%H:%M:%S')} ET" if checked_at else ""
    doing = " " + style.span("checking...", "paperlab-muted", "i") if checking else ""
    chip = health_chip_html(state, f"checked{when}" if when else "not checked yet")
    if result is None:
        return f"<div class='paperlab-ib-state'>{chip}{doing}</div>"
    if isinstance(result, ProbeFailure):
        return (
            f"<div class='paperlab-ib-state'>{chip}{doing} <b>{html.escape(result.state)}</b>"
            f"{style.span(result.message, 'paperlab-ib-reason paperlab-text-bad', 'div')}</div>"
        )
    cur = result.currency
    kind = "paper" if result.is_paper else "LIVE"
    cards = [("Equity", _money(result.equity, cur)), ("Cash", _money(result.cash, cur)),
             ("Buying power", _money(result.buying_power, cur)), ("Exposure", _money(result.exposure, cur))]
    return (
        f"<div class='paperlab-ib-state'>{chip}{doing} account <code>{html.escape(mask_account(result.account_id))}"
        f"</code> ({kind}){html.escape(when)}"
        f"{style.stats(cards, 'paperlab-ib-account')}{_holdings_html(result)}</div>"
    )


def _code_box(text: str) -> str:
    return f"<pre class='paperlab-ib-commands paperlab-code'><code>{html.escape(text)}</code></pre>"


def output_html(model: IbPanelModel) -> str:
    """Compose output (while/after a run), the commands to run by hand (no docker), or a hint."""
    if model.lines:
        status = f"running {model.action}..." if model.action else ""
        text = "\n".join(model.lines)
        return style.span(status, "paperlab-muted paperlab-smaller", "div") + style.scroll(text, "paperlab-ib-compose")
    if model.commands:
        return style.span("Docker is not available here: run this where Docker runs (credentials in the .env "
                          "next to compose.yaml):", "paperlab-small", "div") + _code_box(model.commands)
    if model.action:
        return style.span(f"running {model.action}...", "paperlab-muted", "div")
    hint = model.hint()
    return style.span(hint, "paperlab-muted paperlab-small", "div") if hint else ""


# -- the model -----------------------------------------------------------------------------------


class IbPanelModel:
    """Gateway check and compose runs for one panel; mutated on the UI thread only.

    ``post(fn)`` runs ``fn`` on the UI thread (from any thread); ``on_change()`` re-renders
    (called on the UI thread). ``ledger`` (default: the default ``Ledger()``) records checks.
    """

    def __init__(
        self, ledger: Ledger | None = None, *, post: Post, on_change: Callable[[], None], timeout: float = 5.0,
    ) -> None:
        self.ledger = ledger
        self.post = post
        self.on_change = on_change
        self.timeout = timeout
        self.result: ProbeResult | None = None
        self.checked_at: int | None = None
        self.checking = False
        self.docker: bool | None = None  # known after the first check or compose click
        self.action: str | None = None  # the compose action running
        self.lines: deque[str] = deque(maxlen=OUTPUT_LINES)
        self.exit_code: int | None = None
        self.commands = ""  # shown in a copyable box when docker is absent
        self.futures: list[Future] = []
        self._check_future: Future | None = None

    @property
    def health(self) -> str | None:
        """``ok`` / ``re-login needed`` / ``off``, or None before the first check."""
        return health_of(self.result) if self.result is not None else None

    def hint(self) -> str:
        """What to do next, in one line ('' when all is well or nothing is known)."""
        if not isinstance(self.result, ProbeFailure):
            return ""
        if self.result.state == "gateway down" and self.docker:
            return f"Start gateway runs: {_venue().gateway_command('start')}"
        if self.result.state == "logged out" and self.docker:
            return "Restart gateway logs it in again (paper logins need no 2FA approval, live ones do)."
        return ""

    # -- work in threads -----------------------------------------------------------------------

    def _in_thread(self, fn: Callable[[], Any], done: Callable[[Any, BaseException | None], None], name: str) -> Future:
        """``fn`` on a worker thread, then ``done(result, error)`` posted to the UI thread."""
        fut = in_thread(fn, done, self.post, name)
        self.futures = [f for f in self.futures if not f.done()] + [fut]
        return fut

    def check(self) -> Future:
        """Probe the gateway in a worker thread (read-only) and record the health; never blocks."""
        if self.checking and self._check_future is not None:
            return self._check_future
        self.checking = True
        self.on_change()

        def done(result: tuple[ProbeResult, bool] | None, error: BaseException | None) -> None:
            self.checking = False
            if error is not None or result is None:
                self.result = ProbeFailure("gateway down", f"check failed: {one_line(error)}")
            else:
                self.result, self.docker = result
            self.checked_at = now_ns()
            self._suggest_commands()
            self.on_change()

        venue = _venue()
        self._check_future = self._in_thread(
            lambda: (venue.check_gateway(self.ledger, self.timeout), venue.docker_available()), done,
            "paperlab-ib-check",
        )
        return self._check_future

    def _suggest_commands(self) -> None:
        """No docker here: show the command the failure calls for (none once the gateway is ok)."""
        if self.action:
            return
        failure = self.result if isinstance(self.result, ProbeFailure) else None
        action = {"gateway down": "start", "logged out": "restart"}.get(failure.state) if failure else None
        if action and not self.docker:
            self.lines.clear()
            self.commands = _venue().gateway_command(action)
        elif not action:
            self.commands = ""

    def compose(self, action: Action) -> Future | None:
        """Run ``docker compose`` for ``action`` in a worker thread, streaming output; or show the command.

        None when a compose run is already going.
        """
        if self.action is not None:
            return None
        self.action, self.exit_code, self.commands = action, None, ""
        self.lines.clear()
        self.on_change()

        def add(line: str) -> None:
            self.lines.append(line)
            self.on_change()

        venue = _venue()

        def work() -> int | None:
            if not venue.docker_available():
                return None
            self.post(lambda: add(f"$ {venue.gateway_command(action)}"))
            return venue.run_gateway(action, lambda line: self.post(lambda: add(line)))

        def done(code: int | None, error: BaseException | None) -> None:
            self.action = None
            if error is not None:
                self.lines.append(f"{action} failed: {one_line(error)}")
            elif code is None:
                self.docker = False
                self.lines.clear()
                self.commands = venue.gateway_command(action)
            else:
                self.docker, self.exit_code = True, code
                after = " (the gateway takes about a minute to log in; then Check gateway)" if code == 0 else ""
                self.lines.append(f"exit code {code}{after}")
            self.on_change()

        return self._in_thread(work, done, f"paperlab-ib-{action}")


# -- ipywidgets view -----------------------------------------------------------------------------


class IbPanel:
    """The IB panel in ipywidgets; widget writes happen on the kernel loop (``LoopBridge``)."""

    note = IB_CASH_NOTE  # the start card shows it above the panel

    def __init__(
        self, ledger: Ledger | None = None, *, bridge: LoopBridge | None = None, timeout: float = 5.0,
    ) -> None:
        self._bridge = bridge if bridge is not None else LoopBridge()
        self.model = IbPanelModel(ledger, post=self._bridge.post, on_change=self.render, timeout=timeout)
        self.shown = False
        self.status = w.HTML()
        self.output = w.HTML()
        self.check_button = w.Button(description="Check gateway", icon="refresh", tooltip="read-only probe")
        venue = _venue()
        self.start_button = w.Button(description="Start gateway", icon="play",
                                     tooltip=venue.gateway_command("start"))
        self.restart_button = w.Button(description="Restart gateway", icon="repeat",
                                       tooltip=venue.gateway_command("restart"))
        self.check_button.on_click(lambda _b: self.check())
        self.start_button.on_click(lambda _b: self.model.compose("start"))
        self.restart_button.on_click(lambda _b: self.model.compose("restart"))
        buttons = w.HBox([self.check_button, self.start_button, self.restart_button])
        self.widget = w.VBox([style.style_widget(), buttons, self.status, self.output],
                             layout=w.Layout(border="1px solid #eee", padding="4px"))
        self.render()

    def show(self) -> None:
        """The panel became visible: check the gateway once."""
        if not self.shown:
            self.shown = True
            self.check()

    def check(self) -> Future:
        """The Check gateway button."""
        return self.model.check()

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the checks and compose runs started so far end, then apply them (tests)."""
        wait_futures(list(self.model.futures), timeout)
        self._bridge.pump()

    @property
    def text(self) -> str:
        """Everything the panel shows, as HTML (tests)."""
        return self.status.value + self.output.value

    def render(self) -> None:
        """Model -> widgets (UI thread)."""
        m = self.model
        self.status.value = account_html(m.result, checking=m.checking, checked_at=m.checked_at)
        self.output.value = output_html(m)
        self.check_button.disabled = m.checking
        self.start_button.disabled = self.restart_button.disabled = m.action is not None


# -- Panel view ----------------------------------------------------------------------------------


class PanelIbPanel:
    """The IB panel in Panel; results are applied on the Bokeh document's loop when served."""

    note = IB_CASH_NOTE  # the start card shows it above the panel

    def __init__(self, ledger: Ledger | None = None, *, timeout: float = 5.0) -> None:
        self._doc: Document | None = None
        self.model = IbPanelModel(ledger, post=self._post, on_change=self.render, timeout=timeout)
        self.shown = False
        self.status = pn.pane.HTML("", css_classes=["paperlab-ib-status"], sizing_mode="stretch_width",
                                   stylesheets=style.stylesheets())
        self.output = pn.pane.HTML("", css_classes=["paperlab-ib-output"], sizing_mode="stretch_width",
                                   stylesheets=style.stylesheets())
        self.check_button = pn.widgets.Button(label="Check gateway", css_classes=["paperlab-ib-check"],
                                              description="read-only probe of the gateway")
        venue = _venue()
        self.start_button = pn.widgets.Button(label="Start gateway", css_classes=["paperlab-ib-start"],
                                              description=venue.gateway_command("start"))
        self.restart_button = pn.widgets.Button(label="Restart gateway", css_classes=["paperlab-ib-restart"],
                                                description=venue.gateway_command("restart"))
        self.check_button.on_click(lambda _e: self.check())
        self.start_button.on_click(lambda _e: self._compose("start"))
        self.restart_button.on_click(lambda _e: self._compose("restart"))
        self._layout = pn.Column(
            pn.Row(self.check_button, self.start_button, self.restart_button), self.status, self.output,
            css_classes=["paperlab-ib-panel"], sizing_mode="stretch_width",
        )
        self.render()

    def panel(self) -> pn.Column:
        """The panel, to put in a layout."""
        return self._layout

    def _post(self, fn: Callable[[], None]) -> None:
        post_to_ui(self._doc, fn)

    def show(self) -> None:
        """The panel became visible: check the gateway once."""
        if not self.shown:
            self.shown = True
            self.check()

    def check(self) -> Future:
        """The Check gateway button."""
        self._doc = current_doc()
        return self.model.check()

    def _compose(self, action: Action) -> Future | None:
        self._doc = current_doc()
        return self.model.compose(action)

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the checks and compose runs started so far end (tests)."""
        wait_futures(list(self.model.futures), timeout)

    @property
    def text(self) -> str:
        """Everything the panel shows, as HTML (tests)."""
        return self.status.object + self.output.object

    def render(self) -> None:
        """Model -> widgets (the document's thread when served)."""
        m = self.model
        self.status.object = account_html(m.result, checking=m.checking, checked_at=m.checked_at)
        self.output.object = output_html(m)
        self.check_button.disabled = m.checking
        self.start_button.disabled = self.restart_button.disabled = m.action is not None


START_PANEL = IbPanel  # what ``widgets.venues`` hands the ipywidgets start card
PANEL_START_PANEL = PanelIbPanel  # ... and the Panel start card
