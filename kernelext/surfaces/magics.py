"""``%paper`` / ``%%paper``: paper sessions from notebook cells.

Arguments go through the CLI's parser (``paperlab paper ...``), so flags and errors
are identical. Errors print one line to stderr, never a traceback, and leave the
kernel and every running session alone. Widgets are imported lazily, only to
display them (``widgets`` depends on ``kernelext``, never the reverse).
"""

from __future__ import annotations

import atexit
import json
import shlex
import sys
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from kernelext.surfaces.cli import OneLineParser, UsageError, add_backtest_arguments, add_paper_arguments, spec_from_args
from kernelext.spec import SpecError

FRAME_COMMANDS = ("sessions", "fills", "orders", "positions", "equity", "events", "perf", "round_trips")
CONTROL_COMMANDS = ("pause", "resume", "flatten", "kill", "stop")


def build_magic_parser() -> OneLineParser:
    """``%paper SUBCOMMAND ...``: start, status, controls, frames, dashboard."""
    parser = OneLineParser(prog="%paper", description="Paper trading sessions in this kernel.", add_help=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    add_paper_arguments(sub.add_parser("start", help="start a session in the background", add_help=False))
    for name in ("status", "dashboard", *CONTROL_COMMANDS):
        sub.add_parser(name, add_help=False).add_argument("--session", default=None)
    for name in FRAME_COMMANDS:
        p = sub.add_parser(name, add_help=False)
        if name != "sessions":
            p.add_argument("session", nargs="?", default=None)
            p.add_argument("--session", dest="session_flag", default=None)
        if name == "events":
            p.add_argument("--stage", default=None)
        if name == "perf":
            p.add_argument("--by", default=None, choices=("sleeve", "strategy", "instrument"))
    add_paper_arguments(sub.add_parser("book", help="(cell magic) start a book of sleeves", add_help=False))
    add_backtest_arguments(sub.add_parser("backtest", help="backtest a spec or --like SESSION", add_help=False))
    cmp_ = sub.add_parser("compare", add_help=False)
    cmp_.add_argument("sessions", nargs="+")
    cmp_.add_argument("--html", default=None)
    sub.add_parser("help", add_help=False)
    return parser


def _help_text() -> str:
    paper = add_paper_arguments(OneLineParser(prog="%paper start", add_help=False))
    return (
        "%paper start --strategy ema_cross --instrument BTC/USD [flags]   start a session in the background\n"
        "%paper status|dashboard [--session ID]                         live status / Panel dashboard\n"
        "%paper pause|resume|flatten|kill|stop [--session ID]           controls (current session by default)\n"
        "%paper sessions | fills|orders|positions|equity|events|perf|round_trips [ID]   Polars frames\n"
        "%paper backtest [flags | --like SESSION]                        a recorded BacktestEngine run\n"
        "%paper compare BACKTEST PAPER [LIVE] [--html FILE]               metrics side by side + assessment\n"
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
        try:
            return self._run(line, cell=None)
        except (UsageError, SpecError, ValueError, KeyError, RuntimeError) as e:
            _error(e)
            return None

    @cell_magic("paper")
    def paper_cell(self, line: str, cell: str) -> Any:
        try:
            return self._run(line, cell=cell)
        except (UsageError, SpecError, ValueError, KeyError, RuntimeError) as e:
            _error(e)
            return None

    # -- dispatch -------------------------------------------------------------------------------

    def _run(self, line: str, cell: str | None) -> Any:
        words = shlex.split(line)
        if not words or words[0] in ("help", "-h", "--help"):
            print(_help_text())
            return None
        ns = self._parser.parse_args(words)
        command = ns.command
        if cell is not None and command != "book":
            raise UsageError(f"%%paper: cell mode is for 'book' (got {command!r}); use %paper {command} on one line")
        if command == "start":
            return self._start(spec_from_args(ns))
        if command == "book":
            if cell is None or not cell.strip():
                raise UsageError("%%paper book: put the sleeves (YAML or JSON list) in the cell body")
            ns.sleeves_json = json.dumps(_parse_sleeves(cell))
            return self._start(spec_from_args(ns))
        if command == "backtest":
            from kernelext.research.backtest import backtest

            session_id = backtest(None if ns.like else spec_from_args(ns), like=ns.like, bars=ns.bars, label=ns.label)
            print(f"backtest {session_id} recorded; compare it with %paper compare {session_id} PAPER_SESSION")
            return None
        if command == "compare":
            from kernelext.research.compare import compare

            result = compare(*ns.sessions)
            if ns.html:
                result.to_html(ns.html)
            try:
                from widgets.compare_view import CompareView

                return CompareView(*ns.sessions).panel()
            except ImportError:
                print(result.assessment)
                return result.table
        if command in CONTROL_COMMANDS:
            from kernelext.session import control

            session = self._session(ns.session)
            control.send(session, command)
            print(f"{command}: ok ({session})")
            return None
        if command == "status":
            return self._runner_or_row(self._session(ns.session))
        if command == "dashboard":
            return self._dashboard(self._session(ns.session))
        return self._frame(command, ns)

    def _session(self, given: str | None) -> str:
        from kernelext.ledger import Ledger

        if given:
            return Ledger().resolve_session(given)
        if self.current:
            return self.current
        return Ledger().resolve_session("latest")

    def _start(self, spec: Any) -> None:
        from kernelext.session.runner import SessionRunner, SessionStartError

        try:
            runner = SessionRunner(spec).start()
        except SessionStartError as e:
            first, _, tail = str(e).partition("\n")
            _error(first)
            if tail.strip():
                print(tail, file=sys.stderr)
            return None
        self.current = runner.session_id
        _display_status(runner)
        return None

    def _runner_or_row(self, session_id: str) -> Any:
        import kernelext.session.runner as runner_mod

        runner = runner_mod.SessionRunner.live().get(session_id)
        if runner is not None:
            return runner.status()
        from kernelext.ledger import Ledger

        row = Ledger().session(session_id) or {}
        return {k: row.get(k) for k in ("id", "label", "status", "feed", "venue", "started_at", "ended_at", "last_error")}

    def _dashboard(self, session_id: str) -> Any:
        from widgets.dashboard import SessionDashboard

        return SessionDashboard(session_id).panel()

    def _frame(self, command: str, ns: Any) -> Any:
        from kernelext.research import frames

        if command == "sessions":
            return frames.sessions()
        session = self._session(ns.session or ns.session_flag)
        if command == "events":
            return frames.events(session, stage=ns.stage)
        if command == "perf":
            return frames.performance(session, by=ns.by)
        return getattr(frames, command)(session)


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
    """Show the live status card (ipywidgets) for a session started from a cell."""
    try:
        from IPython.display import display
        from widgets.startcard import SessionCard

        display(SessionCard.for_session(runner).widget)
    except ImportError:
        st = runner.status()
        print(f"session {st.session_id} {st.state} [{st.feed.upper()}]: {runner.spec.describe()}")


def _error(e: BaseException | str) -> None:
    text = e if isinstance(e, str) else (e.args[0] if isinstance(e, KeyError) and e.args else str(e))
    print(f"paper: error: {str(text).splitlines()[0] if str(text) else type(e).__name__}", file=sys.stderr)


def load(ipython: Any) -> None:
    """Register the magics; stop every session when the kernel exits."""
    ipython.register_magics(PaperMagics)
    PaperMagics.paper.__doc__ = _help_text()
    atexit.register(_stop_all)


def unload(ipython: Any) -> None:
    """Unloading the extension stops this kernel's sessions cleanly."""
    _stop_all()


def _stop_all() -> None:
    module = sys.modules.get("kernelext.session.runner")
    if module is not None:
        module.SessionRunner.stop_all()
