"""The start card's IB paper panel: gateway state, the account at rest, Check / Start / Restart.

One model (``IbPanelModel``: state and work, no widgets) and two thin views: ``IbPanel``
(ipywidgets, in ``widgets.startcard``) and ``PanelIbPanel`` (Panel, in
``widgets.panel_start``); the cards find them through ``widgets.venues`` (the venue's
``panel`` kind ``ib``), as the headers find ``CHIP``. Probing the gateway and ``docker compose`` run in worker threads;
every result reaches the model through the view's ``post`` (the kernel loop's
``LoopBridge`` for ipywidgets, the Bokeh document's loop for Panel), so widgets are only
written on the UI thread. A check is recorded in the ledger (``check_gateway``), which
is what the dashboard and app health chips (``health_chip_html``, shared here) read.
Nothing here reads the gateway's ``.env``; compose output is masked by ``ib_compose``.
"""

from __future__ import annotations

import html
import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import panel as pn

from kernelext.errors import one_line
from kernelext.events import now_ns
from kernelext.ledger import Ledger
from kernelext.venues.ib import compose as ib_compose
from kernelext.venues.ib.probe import (
    HEALTH_OFF,
    HEALTH_OK,
    HEALTH_RELOGIN,
    AccountSnapshot,
    GatewayTarget,
    ProbeFailure,
    ProbeResult,
    health_of,
    mask_account,
    probe_account,
)
from kernelext.venues.ib.health import HealthRow, check_gateway
from widgets.feed import eastern_str

if TYPE_CHECKING:
    from bokeh.document import Document

    from widgets.startcard import LoopBridge

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

log = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]
OUTPUT_LINES = 200
IB_CASH_NOTE = (
    "IB paper trades the IB paper account itself: its own cash and positions are used (no starting "
    "cash), bars arrive in real time (no speed). Instruments in IB symbology SYMBOL.EXCHANGE, e.g. QQQ.NASDAQ."
)
_CLASS = {HEALTH_OK: "ok", HEALTH_RELOGIN: "relogin", HEALTH_OFF: "off"}
_COLOR = {"ok": "#1e8449", "relogin": "#b9770e", "off": "#c0392b", "unknown": "#7f8c8d"}


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
    color = _COLOR[_CLASS.get(state or "", "unknown")]
    return (
        f'<span class="{health_class(state)}" title="{html.escape(tooltip, quote=True)}" '
        f'style="background:{color};color:white;border-radius:4px;padding:2px 8px;margin-left:8px;'
        f'font-size:0.85em;font-weight:600">{html.escape(health_text(state))}</span>'
    )


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
    return "-" if value is None or math.isnan(value) else f"{value:,.2f} {currency}"


def _qty(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}"


def _holdings_html(snap: AccountSnapshot) -> str:
    if not snap.holdings:
        return "<div class='paperlab-ib-holdings' style='color:#666'>no holdings</div>"
    head = "".join(f"<th style='text-align:left;padding:0 10px 0 0'>{h}</th>" for h in
                   ("symbol", "exchange", "position", "avg cost"))
    rows = "".join(
        f"<tr><td>{html.escape(h.symbol)}</td><td>{html.escape(h.exchange)}</td>"
        f"<td style='text-align:right'>{_qty(h.position)}</td>"
        f"<td style='text-align:right'>{h.avg_cost:,.2f}</td></tr>"
        for h in snap.holdings
    )
    return f"<table class='paperlab-ib-holdings' style='font-size:0.9em'><tr>{head}</tr>{rows}</table>"


def _stat(title: str, value: str) -> str:
    return (
        "<div style='border:1px solid #ccc;border-radius:6px;padding:2px 10px;min-width:7em'>"
        f"<div style='font-size:0.8em;color:#666'>{html.escape(title)}</div>"
        f"<div style='font-weight:600'>{html.escape(value)}</div></div>"
    )


def account_html(result: ProbeResult | None, *, checking: bool = False, checked_at: int | None = None) -> str:
    """Chip + the account at rest (equity, cash, buying power, exposure, holdings) or the reason."""
    state = health_of(result) if result is not None else None
    when = f" at {eastern_str(checked_at, '%H:%M:%S')} ET" if checked_at else ""
    doing = " <i style='color:#666'>checking...</i>" if checking else ""
    chip = health_chip_html(state, f"checked{when}" if when else "not checked yet")
    if result is None:
        return f"<div class='paperlab-ib-state'>{chip}{doing}</div>"
    if isinstance(result, ProbeFailure):
        return (
            f"<div class='paperlab-ib-state'>{chip}{doing} <b>{html.escape(result.state)}</b>"
            f"<div class='paperlab-ib-reason' style='color:#b00'>{html.escape(result.message)}</div></div>"
        )
    cur = result.currency
    kind = "paper" if result.is_paper else "LIVE"
    cards = [("Equity", _money(result.equity, cur)), ("Cash", _money(result.cash, cur)),
             ("Buying power", _money(result.buying_power, cur)), ("Exposure", _money(result.exposure, cur))]
    return (
        f"<div class='paperlab-ib-state'>{chip}{doing} account <code>{html.escape(mask_account(result.account_id))}"
        f"</code> ({kind}){html.escape(when)}"
        "<div class='paperlab-ib-account' style='display:flex;gap:6px;flex-wrap:wrap;margin:4px 0'>"
        + "".join(_stat(t, v) for t, v in cards)
        + f"</div>{_holdings_html(result)}</div>"
    )


def _code_box(text: str) -> str:
    return (
        "<pre class='paperlab-ib-commands' style='user-select:all;background:#f4f4f4;border:1px solid #ddd;"
        f"padding:4px 8px;white-space:pre-wrap;margin:2px 0'><code>{html.escape(text)}</code></pre>"
    )


def output_html(model: IbPanelModel) -> str:
    """Compose output (while/after a run), the commands to run by hand (no docker), or a hint."""
    if model.lines:
        status = f"running {model.action}..." if model.action else ""
        text = "\n".join(model.lines)
        return (
            f"<div style='color:#666;font-size:0.85em'>{html.escape(status)}</div>"
            "<pre class='paperlab-ib-compose' style='max-height:14em;overflow:auto;margin:0;font-size:0.85em'>"
            f"{html.escape(text)}</pre>"
        )
    if model.commands:
        return (
            "<div style='font-size:0.9em'>Docker is not available here: run this where Docker runs "
            "(credentials in the .env next to compose.yaml):</div>" + _code_box(model.commands)
        )
    if model.action:
        return f"<div style='color:#666'>running {html.escape(model.action)}...</div>"
    hint = model.hint()
    return f"<div style='color:#666;font-size:0.9em'>{html.escape(hint)}</div>" if hint else ""


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
            return f"Start gateway runs: {ib_compose.compose_text('start')}"
        if self.result.state == "logged out" and self.docker:
            return "Restart gateway logs it in again (paper logins need no 2FA approval, live ones do)."
        return ""

    # -- work in threads -----------------------------------------------------------------------

    def _in_thread(self, fn: Callable[[], Any], done: Callable[[Any, BaseException | None], None], name: str) -> Future:
        """``fn`` on a worker thread, then ``done(result, error)`` posted to the UI thread."""
        fut: Future = Future()

        def run() -> None:
            result, error = None, None
            try:
                result = fn()
            except Exception as e:  # noqa: BLE001  (shown as one line)
                error = e
            self.post(lambda: done(result, error))  # queued before the future resolves
            fut.set_result(None)

        threading.Thread(target=run, name=name, daemon=True).start()
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

        self._check_future = self._in_thread(lambda: (self._probe(), ib_compose.docker_available()), done,
                                             "paperlab-ib-check")
        return self._check_future

    def _probe(self) -> ProbeResult:
        """Worker: one probe, recorded by ``check_gateway`` when the ledger opens."""
        try:
            target = GatewayTarget.from_env()
        except ValueError as exc:  # a bad PAPERLAB_IB_PORT / CLIENT_ID
            return ProbeFailure("wrong port", str(exc))
        seen: list[ProbeResult] = []

        def probe(t: GatewayTarget, timeout: float) -> ProbeResult:
            seen.append(probe_account(t, timeout))
            return seen[-1]

        ledger = self._open_ledger()
        if ledger is None:
            return probe(target, self.timeout)
        try:
            check_gateway(ledger, target, timeout=self.timeout, probe=probe)
        except Exception:  # noqa: BLE001  (recording failed; the probe result still shows)
            log.exception("recording the gateway health failed")
        finally:
            ledger.close_thread()
        return seen[-1] if seen else probe(target, self.timeout)

    def _open_ledger(self) -> Ledger | None:
        if self.ledger is not None:
            return self.ledger
        try:
            return Ledger()
        except Exception:  # noqa: BLE001  (no ledger: probe without recording)
            log.warning("no ledger to record the gateway health in", exc_info=True)
            return None

    def _suggest_commands(self) -> None:
        """No docker here: show the command the failure calls for (none once the gateway is ok)."""
        if self.action:
            return
        failure = self.result if isinstance(self.result, ProbeFailure) else None
        action = {"gateway down": "start", "logged out": "restart"}.get(failure.state) if failure else None
        if action and not self.docker:
            self.lines.clear()
            self.commands = ib_compose.compose_text(action)  # type: ignore[arg-type]
        elif not action:
            self.commands = ""

    def compose(self, action: ib_compose.Action) -> Future | None:
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

        def work() -> int | None:
            if not ib_compose.docker_available():
                return None
            self.post(lambda: add(f"$ {ib_compose.compose_text(action)}"))
            return ib_compose.run_compose(action, lambda line: self.post(lambda: add(line)))

        def done(code: int | None, error: BaseException | None) -> None:
            self.action = None
            if error is not None:
                self.lines.append(f"{action} failed: {one_line(error)}")
            elif code is None:
                self.docker = False
                self.lines.clear()
                self.commands = ib_compose.compose_text(action)
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
        if bridge is None:
            from widgets.startcard import LoopBridge  # startcard imports this module

            bridge = LoopBridge()
        self._bridge = bridge
        self.model = IbPanelModel(ledger, post=bridge.post, on_change=self.render, timeout=timeout)
        self.shown = False
        self.status = w.HTML()
        self.output = w.HTML()
        self.check_button = w.Button(description="Check gateway", icon="refresh", tooltip="read-only probe")
        self.start_button = w.Button(description="Start gateway", icon="play",
                                     tooltip=ib_compose.compose_text("start"))
        self.restart_button = w.Button(description="Restart gateway", icon="repeat",
                                       tooltip=ib_compose.compose_text("restart"))
        self.check_button.on_click(lambda _b: self.check())
        self.start_button.on_click(lambda _b: self.model.compose("start"))
        self.restart_button.on_click(lambda _b: self.model.compose("restart"))
        buttons = w.HBox([self.check_button, self.start_button, self.restart_button])
        self.widget = w.VBox([buttons, self.status, self.output],
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
        self.status = pn.pane.HTML("", css_classes=["paperlab-ib-status"], sizing_mode="stretch_width")
        self.output = pn.pane.HTML("", css_classes=["paperlab-ib-output"], sizing_mode="stretch_width")
        self.check_button = pn.widgets.Button(label="Check gateway", css_classes=["paperlab-ib-check"],
                                              description="read-only probe of the gateway")
        self.start_button = pn.widgets.Button(label="Start gateway", css_classes=["paperlab-ib-start"],
                                              description=ib_compose.compose_text("start"))
        self.restart_button = pn.widgets.Button(label="Restart gateway", css_classes=["paperlab-ib-restart"],
                                                description=ib_compose.compose_text("restart"))
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
        from widgets.panel_start import _on_doc  # panel_start imports this module

        _on_doc(self._doc, fn)

    def show(self) -> None:
        """The panel became visible: check the gateway once."""
        if not self.shown:
            self.shown = True
            self.check()

    def check(self) -> Future:
        """The Check gateway button."""
        self._doc = pn.state.curdoc
        return self.model.check()

    def _compose(self, action: ib_compose.Action) -> Future | None:
        self._doc = pn.state.curdoc
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
