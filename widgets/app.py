"""PaperLab's standalone app: a "Paper" tab (start a session, watch it) and a "Sessions" tab.

    uv run python -m widgets.app                      # http://127.0.0.1:5006
    PAPERLAB_APP_PASSWORD=... uv run python -m widgets.app --host 0.0.0.0

The app process is a runner host: sessions started here run in it, or, with the start card's
"Keep running" box ticked, detached in a supervised process of their own. The Paper tab
shows the session started here or, when none is shown (or the shown one ended),
the newest running session in the ledger, also one a notebook started. Binding
to anything but loopback needs TLS (or a TLS proxy) and a password of 12+ characters (generated and
printed once when none is given); the login is ``widgets.app_auth`` (Panel's basic auth, throttled). The header carries
the health chip of every venue with a gateway (``widgets.venues``; IB paper's: the ledger's
latest ``gateway_health`` row, "not checked" when there is none), refreshed on the session poll.
Everything is read through ``kernelext.api``.

Declared state (params): ``current_session`` (the session the Paper tab shows) and
``health_rows`` (each gateway venue's latest health row: the header chips).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any

from typing import TYPE_CHECKING

import panel as pn
import param

from kernelext import api, venues
from widgets.dashboard import SessionDashboard
from widgets.sessions_view import SessionsView
from widgets.ui import style
from widgets.ui.post import Repeat, every
from widgets.app_auth import PASSWORD_ENV, ThrottledAuthProvider, check_password, generated_password
from widgets.venues import chip

if TYPE_CHECKING:
    from kernelext.ledger import Ledger

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
POLL_MS = 1000
NO_SESSION = "No running session. Start one above, or from a notebook (`kernelext.start(...)`); it shows here."


class _SimpleStart:
    """Fallback start form (used only when ``widgets.panel_start`` is missing): strategy, instrument,
    params, speed, duration and a Start button running ``kernelext.start`` in this process."""

    def __init__(self, on_started: Callable[[Any], None]) -> None:
        import kernelext.compat  # noqa: F401  (Nautilus imported the polite way first)
        from kernelext.strategies import registry

        self.on_started = on_started
        pairs = list(venues.get(venues.DEFAULT).suggested_instruments)
        self.strategy = pn.widgets.Select(label="Strategy", options=registry.keys(), value="ema_cross", width=150)
        self.instrument = pn.widgets.Select(label="Instrument", options=pairs, value="BTC/USD", width=120)
        self.params = pn.widgets.TextInput(label="Params (JSON)", placeholder='{"fast": 10, "slow": 30}', width=200)
        self.speed = pn.widgets.TextInput(label="Speed (x or max)", value="60", width=110)
        self.duration = pn.widgets.TextInput(label="Duration", placeholder="e.g. 5m (empty: until stopped)", width=200)
        self.button = pn.widgets.Button(label="Start", color="primary", width=90, align="end")
        self.message = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self.button.on_click(lambda _e: self.start())

    def start(self) -> threading.Thread:
        """Start on a worker thread (a node takes a second or two to come up); returns the thread."""
        self.button.disabled, self.message.visible = True, False
        args = (self.strategy.value, self.instrument.value, self.params.value.strip(),
                self.speed.value.strip(), self.duration.value.strip())
        thread = threading.Thread(target=self._run, args=args, name="paperlab-app-start", daemon=True)
        thread.start()
        return thread

    def _run(self, strategy: str, instrument: str, params: str, speed: str, duration: str) -> None:
        try:
            try:
                parsed = json.loads(params) if params else None
            except json.JSONDecodeError as exc:
                raise ValueError(f"params: not valid JSON ({exc.msg}), e.g. {{\"fast\": 10}}") from None
            runner = api.start(strategy, instrument, params=parsed, speed=speed or None,
                               duration=duration or None)
        except Exception as exc:  # noqa: BLE001  (one line for the user)
            text = str(exc).strip().splitlines()
            self.message.object = text[0] if text else type(exc).__name__
            self.message.visible = True
        else:
            self.on_started(runner)
        finally:
            self.button.disabled = False

    def panel(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self.strategy, self.instrument, self.params, self.speed, self.duration, self.button),
            self.message, sizing_mode="stretch_width",
        )


def start_card(on_started: Callable[[Any], None], ledger: Ledger | None = None) -> Any:
    """``PanelStartCard`` from ``widgets.panel_start`` when it exists, else the fallback form.

    Either has ``.panel()`` and ``.start()``; ``on_started(runner)`` is called once a session runs.
    """
    try:
        from widgets.panel_start import PanelStartCard
    except ModuleNotFoundError as exc:
        if exc.name != "widgets.panel_start":
            raise
        return _SimpleStart(on_started)
    if ledger is not None and "ledger" in inspect.signature(PanelStartCard).parameters:
        return PanelStartCard(on_started=on_started, ledger=ledger)
    return PanelStartCard(on_started=on_started)


class PaperApp(pn.viewable.Viewer):
    """One browser session's app: start area, current session's dashboard, sessions history."""

    current_session = param.String(default=None, allow_None=True, doc="the session id the Paper tab shows")
    health_rows = param.Dict(default={}, doc="venue name -> its gateway's latest health row (header chips)")

    def __init__(self, ledger: Ledger | None = None, *, poll_ms: int = POLL_MS) -> None:
        super().__init__()
        self.ledger = api.open_ledger(ledger)
        self.poll_ms = poll_ms
        self.dashboard: SessionDashboard | None = None
        self.sessions = SessionsView(self.ledger)
        self.slot = pn.Column(pn.pane.Markdown(NO_SESSION), sizing_mode="stretch_width")
        self.chips = [(v, c) for v in venues.every() if (c := chip(v)) is not None]  # venues with a gateway
        self.health = pn.pane.HTML("", css_classes=["paperlab-app-health"], margin=(22, 10),
                                   stylesheets=style.stylesheets())
        self.health_rows = {v.name: None for v, _ in self.chips}
        self._health_changed()
        self.real_money = pn.pane.HTML(style.badge("REAL MONEY", "bad"), css_classes=["paperlab-app-real-money"],
                                       margin=(22, 10), stylesheets=style.stylesheets(), visible=False)
        self.start_card: Any = None  # made with the layout
        self._started: list[str] = []
        self._lock = threading.Lock()
        self._callback: Repeat | None = None
        self._layout: pn.viewable.Viewable | None = None

    def __panel__(self) -> pn.viewable.Viewable:
        return self.panel()

    def on_started(self, started: Any) -> None:
        """Start-card callback (any thread): show the session at the next poll (``started``: its runner,
        or the id of a detached session, which runs in a supervised process of its own)."""
        with self._lock:
            self._started.append(started if isinstance(started, str) else started.session_id)

    def _chips_html(self) -> str:
        return "".join(c.html(self.health_rows[v.name]) for v, c in self.chips)

    @property
    def health_text(self) -> str:
        """The header chips' text ('IB gateway: ok' ... 'IB gateway: not checked')."""
        return " ".join(c.text(self.health_rows[v.name]) for v, c in self.chips)

    @property
    def health_class(self) -> str:
        """The header chips' css classes."""
        return " ".join(c.css_class(self.health_rows[v.name]) for v, c in self.chips)

    def refresh_health(self) -> None:
        """Re-read each venue's latest health row; update the chips when one changed."""
        rows = {v.name: api.gateway_health(v.name, ledger=self.ledger) for v, _ in self.chips}
        if rows != self.health_rows:
            self.health_rows = rows

    @param.depends("health_rows", watch=True)
    def _health_changed(self) -> None:
        self.health.object = self._chips_html()

    def poll(self) -> None:
        """The gateway chip; then show a session started here, else (when nothing live is shown)
        the newest running one."""
        self.refresh_health()
        with self._lock:
            started, self._started = self._started, []
        if started:
            if started[-1] != self.current_session:
                self.show_session(started[-1])
            self.sessions.refresh()
            return
        if self.dashboard is not None and self.dashboard.status in api.ACTIVE_STATUSES:
            return
        sid = self.newest_running()
        if sid is not None and sid != self.current_session:
            self.show_session(sid)
        elif sid is None and self.dashboard is not None and self.dashboard.status == "deleted":
            self.clear()

    def newest_running(self) -> str | None:
        """The newest session whose process is running it, in any process of this host (or another host)."""
        return next((r["id"] for r in api.session_processes(active=True, ledger=self.ledger) if r["alive"]), None)

    def show_session(self, session_id: str) -> SessionDashboard:
        """Replace the Paper tab's dashboard with ``session_id``'s."""
        if self.dashboard is not None:
            self.dashboard.stop()
        self.dashboard = SessionDashboard(session_id, self.ledger)
        self.slot.objects = [self.dashboard.panel()]
        self.current_session = session_id
        place = venues.find((api.session_row(session_id, ledger=self.ledger) or {}).get("venue"))
        self.real_money.visible = place is not None and place.real_money  # the header says so too
        return self.dashboard

    def clear(self) -> None:
        """Back to the placeholder (the shown session was deleted)."""
        if self.dashboard is not None:
            self.dashboard.stop()
        self.dashboard = None
        self.current_session = None
        self.real_money.visible = False
        self.slot.objects = [pn.pane.Markdown(NO_SESSION)]

    def _tick(self) -> None:
        try:
            self.poll()
        except Exception:  # noqa: BLE001  (keep polling)
            log.exception("app poll failed")

    def _on_tab(self, event: Any) -> None:
        if event.new == 1:
            self.sessions.refresh()

    def panel(self) -> pn.viewable.Viewable:
        """Title + Tabs("Paper", "Sessions"); starts the session poll."""
        if self._layout is None:
            self.poll()
            self.start_card = start_card(self.on_started, self.ledger)
            paper = pn.Column(self.start_card.panel(), pn.layout.Divider(), self.slot,
                              sizing_mode="stretch_width")
            tabs = pn.Tabs(("Paper", paper), ("Sessions", self.sessions.panel()), sizing_mode="stretch_width")
            tabs.param.watch(self._on_tab, "active")  # opening the history shows it as it is now
            header = pn.Row(pn.pane.Markdown("## PaperLab"), self.real_money, self.health, sizing_mode="stretch_width")
            self._layout = pn.Column(header, tabs, sizing_mode="stretch_width")
        if self._callback is None:
            pn.state.onload(self._start_polling)  # once a browser loaded the page (at once outside a server)
        return self._layout

    def _start_polling(self) -> None:
        if self._callback is None:
            self._callback = every(self.poll_ms, self._tick)


def build_app(ledger: Ledger | None = None) -> pn.viewable.Viewable:
    """The whole app as one Panel object (serve it, or display it in a notebook)."""
    return PaperApp(ledger).panel()


def check_bind(host: str, password: str | None, *, tls: bool = False, behind_proxy: bool = False,
               where: str = PASSWORD_ENV) -> None:
    """Refuse (one-line ``ValueError`` saying how) a non-loopback bind over plain HTTP, and a weak password
    (``where`` it came from names the field)."""
    if password is not None:
        check_password(password, where)
    if host not in LOOPBACK_HOSTS and not (tls or behind_proxy):
        raise ValueError(
            f"refusing to serve PaperLab on {host!r} over plain HTTP (anyone on the network could read the "
            f"password): give --certfile and --keyfile, or --behind-proxy when a TLS proxy fronts it, "
            f"or bind to 127.0.0.1"
        )


def app_password(host: str, given: str | None) -> str | None:
    """The password to serve with: ``given``, else ``$PAPERLAB_APP_PASSWORD``, else (beyond loopback)
    a generated one, printed here once; None on loopback when none was given (no login)."""
    password = given or os.environ.get(PASSWORD_ENV) or None
    if password is None and host not in LOOPBACK_HOSTS:
        password = generated_password()
        print(f"PaperLab app password (generated, shown this once): {password}", flush=True)
    return password


def _websocket_origins(host: str, port: int) -> list[str]:
    """Origins allowed to open the app's websocket (never "*": other sites must not drive the app).

    Loopback: localhost and 127.0.0.1. Any other bind: the bound name, this machine's
    names and addresses, plus ``$PAPERLAB_APP_ORIGIN`` (comma-separated ``host[:port]``,
    e.g. a proxy's name).
    """
    names = {"localhost", "127.0.0.1"}
    if host not in LOOPBACK_HOSTS:
        if host not in ("0.0.0.0", "::", ""):
            names.add(host)
        names |= {socket.gethostname(), socket.getfqdn()}
        try:
            names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
        except OSError:
            pass
    origins = sorted(f"{n}:{port}" for n in names if ":" not in n)  # Bokeh cannot express IPv6 origins
    extra = os.environ.get("PAPERLAB_APP_ORIGIN", "")
    origins += [o.strip() for o in extra.split(",") if o.strip()]
    return origins


def serve(
    host: str = "127.0.0.1",
    port: int = 5006,
    *,
    basic_auth: str | None = None,
    show: bool = False,
    ledger: Ledger | None = None,
    threaded: bool = False,
    certfile: str | None = None,
    keyfile: str | None = None,
    behind_proxy: bool = False,
) -> Any:
    """Serve the app with ``pn.serve`` (blocks unless ``threaded``; then returns the server thread).

    ``basic_auth`` (the password; else ``$PAPERLAB_APP_PASSWORD``; at least 12 characters) turns on
    the login (``widgets.app_auth``: throttled, audited, hardened cookies). Beyond 127.0.0.1 /
    localhost / ::1 the app needs TLS (``certfile`` + ``keyfile``) or ``behind_proxy``, and a password
    (none given: one is generated and printed once). Sessions started in the app run in this process
    and are stopped when a blocking ``serve`` returns. Where the ledger has seen a venue's gateway
    (IB's), a health monitor probes it every 15 minutes.
    """
    from kernelext.actor import set_default_surface

    if bool(certfile) != bool(keyfile):
        raise ValueError("certfile: --certfile and --keyfile go together")
    explicit = basic_auth or os.environ.get(PASSWORD_ENV) or None
    check_bind(host, explicit, tls=bool(certfile), behind_proxy=behind_proxy,
               where="password" if basic_auth else PASSWORD_ENV)
    password = app_password(host, explicit)
    set_default_surface("app")  # controls, deletes and starts from the app are audited as such
    shared = api.open_ledger(ledger)
    for venue in venues.every():  # a venue in use here: keep the header's health chip current
        venue.watch_health(shared)
    options: dict[str, Any] = {}
    if password:
        options = {"auth_provider": ThrottledAuthProvider(password),
                   "cookie_secret": os.environ.get("PAPERLAB_COOKIE_SECRET") or secrets.token_hex(32)}
    if certfile:
        options.update(ssl_certfile=certfile, ssl_keyfile=keyfile)
    if behind_proxy:
        options["xheaders"] = True  # the proxy's X-Forwarded-Proto: https makes cookies Secure

    def page() -> pn.viewable.Viewable:
        pn.extension("tabulator")
        return build_app(shared)

    server = pn.serve(
        page, port=port, address=host, websocket_origin=_websocket_origins(host, port), show=show,
        title="PaperLab", verbose=not threaded, threaded=threaded, **options,
    )
    if not threaded:
        _stop_local_sessions()
    return server


def _stop_local_sessions() -> None:
    """Stop the sessions this process runs (the app is going away)."""
    api.stop_all()


def main(argv: list[str] | None = None) -> None:
    """``python -m widgets.app [--host H] [--port P] [--show] [--certfile F --keyfile F] [--behind-proxy]``
    (the password: ``$PAPERLAB_APP_PASSWORD``, never the command line)."""
    parser = argparse.ArgumentParser(prog="python -m widgets.app", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5006)
    parser.add_argument("--show", action="store_true", help="open a browser tab")
    parser.add_argument("--certfile", default=None)
    parser.add_argument("--keyfile", default=None)
    parser.add_argument("--behind-proxy", action="store_true")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, show=args.show, certfile=args.certfile, keyfile=args.keyfile,
              behind_proxy=args.behind_proxy)
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")


if __name__ == "__main__":
    main()
