"""``%paper`` / ``%%paper``: paper sessions from notebook cells.

A thin handler over ``kernelext.api``. Arguments go through the CLI's parser
(``paperlab paper ...``), so flags and errors are identical. Errors print one line
to stderr, never a traceback, and leave the kernel and every running session alone.
Views (status card, dashboard, comparison) come from the display registry
(``surfaces.views``); without a UI package the magics print text.
"""

from __future__ import annotations

import atexit
import json
import shlex
import sys
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from kernelext import api
from kernelext.errors import SpecError, UsageError, one_line
from kernelext.events import CONTROL_VERBS
from kernelext.surfaces import views
from kernelext.surfaces.cli import (
    OneLineParser,
    add_backtest_arguments,
    add_detach_argument,
    add_paper_arguments,
    detached_lines,
    spec_from_args,
)


def build_magic_parser() -> OneLineParser:
    """``%paper SUBCOMMAND ...``: start, status, controls, frames, dashboard."""
    parser = OneLineParser(prog="%paper", description="Paper trading sessions in this kernel.", add_help=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    add_detach_argument(add_paper_arguments(sub.add_parser("start", help="start a session in the background", add_help=False)))
    for name in ("status", "dashboard", *CONTROL_VERBS):
        sub.add_parser(name, add_help=False).add_argument("--session", default=None)
    for name in api.FRAMES:
        p = sub.add_parser(name, add_help=False)
        if name != "sessions":
            p.add_argument("session", nargs="?", default=None)
            p.add_argument("--session", dest="session_flag", default=None)
        if name == "events":
            p.add_argument("--stage", default=None)
        if name == "perf":
            p.add_argument("--by", default=None, choices=("sleeve", "strategy", "instrument"))
    add_detach_argument(add_paper_arguments(sub.add_parser("book", help="(cell magic) start a book of sleeves", add_help=False)))
    add_backtest_arguments(sub.add_parser("backtest", help="backtest a spec or --like SESSION", add_help=False))
    cmp_ = sub.add_parser("compare", add_help=False)
    cmp_.add_argument("sessions", nargs="+")
    cmp_.add_argument("--html", default=None)
    rep = sub.add_parser("report", add_help=False)
    rep.add_argument("session", nargs="?", default=None)
    rep.add_argument("--html", default=None)
    sub.add_parser("help", add_help=False)
    sub.add_parser("attach", add_help=False).add_argument("session", nargs="?", default=None)
    return parser


def _help_text() -> str:
    paper = add_paper_arguments(OneLineParser(prog="%paper start", add_help=False))
    return (
        "%paper start --strategy ema_cross --instrument BTC/USD [flags]   start a session in the background\n"
        "%paper status|dashboard [--session ID]                         live status / Panel dashboard\n"
        "%paper pause|resume|flatten|kill|stop [--session ID]           controls (current session by default)\n"
        "%paper start --detach ...  |  %paper attach ID                   a session in its own process; show one\n"
        "%paper sessions | fills|orders|positions|equity|events|perf|round_trips [ID]   Polars frames\n"
        "%paper backtest [flags | --like SESSION]                        a recorded BacktestEngine run\n"
        "%paper compare BACKTEST PAPER [LIVE] [--html FILE]               metrics side by side + assessment\n"
        "%paper report [ID] [--html FILE]                                 one HTML page: metrics, charts, backtest, advice\n"
        "%%paper book [flags]  + a cell with a YAML or JSON list of {strategy, instrument, params?, bar_spec?, name?}\n\n"
        + paper.format_help()
    )


@magics_class
class PaperMagics(Magics):
    """The ``%paper`` line magic and ``%%paper`` cell magic."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.current: str | None = None  # the session the controls act on by default
        self._parser = build_magic_parser()

    @line_magic
    def paper(self, line: str) -> Any:
        return self._guarded(line, cell=None)

    @cell_magic("paper")
    def paper_cell(self, line: str, cell: str) -> Any:
        return self._guarded(line, cell=cell)

    def _guarded(self, line: str, cell: str | None) -> Any:
        """Run a magic; any error is one line on stderr, never a traceback (the kernel outlives it)."""
        from kernelext.actor import acting_as

        try:
            with acting_as("notebook"):
                return self._run(line, cell=cell)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001
            _error(e)
            return None

    # -- dispatch -------------------------------------------------------------------------------

    def _run(self, line: str, cell: str | None) -> Any:
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"line: {e} (check the quotes)") from None
        if not words or words[0] in ("help", "-h", "--help"):
            print(_help_text())
            return None
        ns = self._parser.parse_args(words)
        command = ns.command
        if cell is not None and command != "book":
            raise UsageError(f"%%paper: cell mode is for 'book' (got {command!r}); use %paper {command} on one line")
        if command == "attach":
            return self._attach(ns.session)
        if command == "start":
            return self._start(spec_from_args(ns), ns.require_backtest, ns.detach, ns.i_understand)
        if command == "book":
            if cell is None or not cell.strip():
                raise UsageError("%%paper book: put the sleeves (YAML or JSON list) in the cell body")
            ns.sleeves_json = json.dumps(_parse_sleeves(cell))
            return self._start(spec_from_args(ns), ns.require_backtest, ns.detach, ns.i_understand)
        if command == "backtest":
            session_id = api.backtest(None if ns.like else spec_from_args(ns), like=ns.like, bars=ns.bars, label=ns.label)
            print(f"backtest {session_id} recorded; compare it with %paper compare {session_id} PAPER_SESSION")
            return None
        if command == "compare":
            result = api.compare(*ns.sessions, html=ns.html)
            view = views.show("compare", *ns.sessions)
            if view is None:
                print(result.assessment)
                return result.table
            return view
        if command == "report":
            return self._report(ns.session or self.current, ns.html)
        if command in CONTROL_VERBS:
            session = api.control(ns.session or self.current, command)
            print(f"{command}: ok ({session})")
            return None
        if command == "status":
            return api.status(ns.session or self.current)
        if command == "dashboard":
            session_id = api.resolve(ns.session or self.current)
            view = views.show("dashboard", session_id)
            return view if view is not None else api.status(session_id)
        return self._frame(command, ns)

    def _start(self, spec: Any, require_backtest: bool, detach: bool = False, i_understand: str | None = None) -> None:
        """Start ``spec``; a live (REAL MONEY) one prints its summary and needs ``--i-understand U…``
        (a notebook cannot prompt: the start card has the typed field)."""
        from kernelext.errors import SessionStartError

        prepared = api.live_start(spec, confirm=False)  # gates 1-3, one line each
        if prepared is not None:
            print("*** REAL MONEY ***\n" + "\n".join(f"  {line}" for line in prepared.lines()))
        if detach:
            session_id = api.start_spec(spec, require_backtest=require_backtest, detach=True, i_understand=i_understand)
            print(f"session {session_id} detached: runs in its own process under the supervisor")
            for extra in detached_lines(spec):
                print(f"  {extra}")
            return self._attach(session_id)
        try:
            runner = api.start_spec(spec, require_backtest=require_backtest, i_understand=i_understand)
        except SessionStartError as e:
            first, _, tail = str(e).partition("\n")
            _error(first)
            if tail.strip():
                print(tail, file=sys.stderr)
            return None
        self.current = runner.session_id
        _display_status(runner)
        return None

    def _attach(self, session: str | None) -> None:
        """Make ``session`` the current one and show it: its status card when it runs here, else
        its status line and dashboard (any session, any process)."""
        found = api.attach(session)
        if not isinstance(found, dict):
            self.current = found.session_id
            _display_status(found)
            return None
        self.current = found["id"]
        print(f"session {found['id']} {found['status']} [{(found.get('feed') or '').upper()}]: {found['label']}"
              + (f" (error: {found['last_error']})" if found.get("last_error") else ""))
        view = views.show("dashboard", found["id"])
        if view is not None:
            from IPython.display import display

            display(view)
        return None

    def _report(self, session: str | None, html: str | None) -> Any:
        """Write the session's report, print its path; in a notebook, show it (``IPython.display.HTML``)."""
        result = api.report(session, html=html)
        print(f"report {result.session_id} -> {result.path}")
        if getattr(self.shell, "kernel", None) is None:
            return None
        from IPython.display import HTML

        return HTML(result._repr_html_())

    def _frame(self, command: str, ns: Any) -> Any:
        if command == "sessions":
            return api.sessions()
        session = ns.session or ns.session_flag or self.current
        return api.frame(command, session, stage=getattr(ns, "stage", None), by=getattr(ns, "by", None))


def _parse_sleeves(cell: str) -> list[dict[str, Any]]:
    """The cell body: a JSON list, or YAML (a list of mappings)."""
    text = cell.strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SpecError(f"sleeves: neither JSON nor YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, list):
        raise SpecError("sleeves: expected a list of {strategy, instrument, params?, bar_spec?, name?}")
    return data


def _display_status(runner: Any) -> None:
    """Show the live status card of a session started from a cell (text without a UI package)."""
    card = views.show("status_card", runner)
    if card is None:
        st = runner.status()
        print(f"session {st.session_id} {st.state} [{st.feed.upper()}]: {runner.spec.describe()}")
        return
    from IPython.display import display

    display(card)


def _error(e: BaseException | str) -> None:
    print(f"paper: error: {one_line(e)}", file=sys.stderr)


def load(ipython: Any) -> None:
    """Register the magics; stop every session when the kernel exits."""
    ipython.register_magics(PaperMagics)
    PaperMagics.paper.__doc__ = _help_text()
    atexit.register(api.stop_all)


def unload(ipython: Any) -> None:
    """Unloading the extension stops this kernel's sessions cleanly."""
    api.stop_all()
