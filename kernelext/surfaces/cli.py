"""The headless runner: ``paperlab paper|sessions|status|<control>|<frame>|logs|backtest|compare|serve|lab|api|token``
(also ``python -m kernelext``).

A thin handler over ``kernelext.api``: it parses words, calls the facade, prints.
The ``paper`` argument parser is shared with the ``%paper`` magic, so flags and
errors are identical. Errors are one line on stderr (``one_line``) and exit code 2
for bad input, 1 for a venue or session that failed; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from kernelext import api, venues
from kernelext.errors import PaperLabError, SpecError, UsageError, one_line
from kernelext.spec import SessionSpec
from kernelext.surfaces.cli_api import add_api_command, cmd_api, cmd_token
from kernelext.surfaces.cli_audit import add_audit_command, cmd_audit
from kernelext.surfaces.cli_ledger import add_ledger_command, cmd_ledger
from kernelext.surfaces import cli_live


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the field (no usage dump), raised not exited."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(_field_message(self, message))

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError(_field_message(self, message or "invalid input"))
        super().exit(status, message)


_ARGPARSE_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"argument (?P<arg>[^:]+): invalid int value: (?P<got>.*)"), "{field}: expected a whole number (got {got})"),
    (re.compile(r"argument (?P<arg>[^:]+): invalid float value: (?P<got>.*)"), "{field}: expected a number (got {got})"),
    (re.compile(r"argument (?P<arg>[^:]+): invalid choice: (?P<got>\S+) \(choose from (?P<allowed>.*)\)"),
     "{field}: {got} is not allowed; allowed: {allowed}"),
    (re.compile(r"argument (?P<arg>[^:]+): expected (one|at least one) argument"), "{field}: needs a value"),
    (re.compile(r"the following arguments are required: (?P<arg>[^,]+)"), "{field}: required"),
    (re.compile(r"unrecognized arguments: (?P<got>.*)"), "arguments: {got} not recognized (see --help)"),
)


def _field_message(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's wording -> ``field: what is allowed (got ...)``, the field being the flag's dest."""
    for pattern, template in _ARGPARSE_MESSAGES:
        m = pattern.fullmatch(message.strip())
        if m:
            groups = m.groupdict()
            arg = groups.get("arg", "")
            field = _dest(parser, arg.split("/")[0].strip()) if arg else ""
            allowed = groups.get("allowed", "").replace("'", "")
            return template.format(field=field, got=groups.get("got", ""), allowed=allowed)
    return message


def _dest(parser: argparse.ArgumentParser, arg: str) -> str:
    for action in parser._actions:
        if arg in action.option_strings or arg == action.dest or arg == action.metavar:
            return action.dest
    return arg.lstrip("-").replace("-", "_")


def add_paper_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags of ``paperlab paper`` / ``%paper start``."""
    p.add_argument("--strategy", help="registered strategy key, e.g. ema_cross")
    p.add_argument("--instrument", help=venues.help_for("instrument"))
    p.add_argument("--bar-spec", default=None, help=f"STEP-UNIT-LAST, e.g. 1-MINUTE-LAST ({venues.help_for('bar_spec')})")
    p.add_argument("--params", default=None, help='strategy params as JSON, e.g. \'{"fast": 10, "slow": 30}\'')
    p.add_argument("--sleeves-json", default=None, help="a book: JSON list of {strategy, instrument, params?, bar_spec?, name?}")
    p.add_argument("--starting-cash", default="100000",
                   help="e.g. '100000 USD' (default: 100000 in the instruments' quote currency)")
    p.add_argument("--label", default=None)
    p.add_argument("--venue", default=venues.DEFAULT, help=" or ".join(v.summary for v in venues.every()))
    p.add_argument("--outside-rth", action="store_true", help=venues.help_for("outside_rth"))
    p.add_argument("--account", default=None, help=venues.help_for("account"))
    p.add_argument("--feed", default="auto", help=venues.help_for("feed"))
    p.add_argument("--speed", default="max", help=venues.help_for("speed"))
    p.add_argument("--seed", type=int, default=7, help=venues.help_for("seed"))
    p.add_argument("--catalog", default=None, help=venues.help_for("catalog"))
    p.add_argument("--bars", type=int, default=None, help=venues.help_for("bars"))
    p.add_argument("--for", dest="duration", default=None, help="auto-stop after a duration: 30s, 10m, 2h")
    p.add_argument("--until", default=None, help="auto-stop at HH:MM US/Eastern")
    p.add_argument("--max-notional", type=float, default=None, help="max notional per order (default 25000)")
    p.add_argument("--max-submit-rate", default=None, help="max order submit rate, e.g. 10/00:00:01")
    p.add_argument("--max-drawdown-pct", type=float, default=None, help="halt trading at this drawdown percent")
    p.add_argument("--margin", default=None, help=venues.help_for("margin"))
    p.add_argument("--fee-tier", default=None, help=venues.help_for("fee_tier"))
    cli_live.add_confirm_argument(p)
    p.add_argument("--require-backtest", action="store_true",
                   help="refuse to start unless a backtest of the same strategy, instrument and params has a trade")
    return p


def add_backtest_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags of ``paperlab backtest`` / ``%paper backtest``: a spec, or --like SESSION."""
    add_paper_arguments(p)
    p.add_argument("--like", default=None, help="re-run an earlier session over exactly the bars it saw")
    return p


def spec_from_args(ns: argparse.Namespace) -> SessionSpec:
    """Parsed flags -> validated ``SessionSpec`` (raises ``SpecError``) through ``api.spec``."""
    venue = venues.find(getattr(ns, "venue", venues.DEFAULT)) or venues.get(venues.DEFAULT)  # unknown: build_spec says so
    bar_spec = ns.bar_spec or venue.default_bar_spec
    if ns.sleeves_json:
        if ns.strategy or ns.instrument:
            raise SpecError("sleeves: give either --sleeves-json or --strategy/--instrument, not both")
        which: dict[str, Any] = {"sleeves": ns.sleeves_json, "default_bar_spec": bar_spec}
    else:
        if not ns.instrument:
            raise SpecError(f"instrument: required, e.g. --instrument {venue.default_instrument}")
        which = {"strategy": ns.strategy or "", "instrument": ns.instrument, "params": ns.params, "bar_spec": bar_spec}
    return api.spec(
        **which,
        venue=ns.venue,
        feed=ns.feed,
        starting_cash=ns.starting_cash,
        label=ns.label,
        until=ns.until,
        duration=ns.duration,
        max_notional_per_order=ns.max_notional,
        max_order_submit_rate=ns.max_submit_rate,
        max_drawdown_pct=ns.max_drawdown_pct,
        speed=ns.speed,
        seed=ns.seed,
        catalog_path=ns.catalog,
        max_bars=ns.bars,
        outside_rth=bool(getattr(ns, "outside_rth", False)),
        account_id=getattr(ns, "account", None),
        margin=getattr(ns, "margin", None),
        fee_tier=getattr(ns, "fee_tier", None),
        **supervised_from_args(ns),
    )


def supervised_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    """``--report-every --report-at --notify --notify-fills`` as ``api.spec`` options (none on parsers
    without them)."""
    options = {"report_every": getattr(ns, "report_every", None), "report_at": getattr(ns, "report_at", None),
               "notify": getattr(ns, "notify", None), "notify_fills": getattr(ns, "notify_fills", None)}
    return {k: v for k, v in options.items() if v}


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="paperlab", description="Paper trading on NautilusTrader, from the shell.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    paper = add_paper_arguments(sub.add_parser("paper", help="run a paper session in the foreground"))
    paper.add_argument("--json", action="store_true", help="end with one JSON summary line")
    add_detach_argument(paper)
    sessions = sub.add_parser("sessions", help="list sessions, newest first")
    sessions.add_argument("--json", action="store_true")
    sessions.add_argument("--running", action="store_true", help="only sessions running now (here or elsewhere)")
    bt = add_backtest_arguments(sub.add_parser("backtest", help="backtest a spec (or --like SESSION), recorded as a session"))
    bt.add_argument("--json", action="store_true", help="end with one JSON summary line")
    cmp_ = sub.add_parser("compare", help="backtest vs paper[ vs live]: metrics side by side and an assessment")
    cmp_.add_argument("sessions", nargs="+", help="2 or 3 session ids (prefixes, or 'latest')")
    cmp_.add_argument("--html", default=None, help="also write a self-contained HTML report here")
    for command in venues.commands():  # a venue's own subcommands
        command.configure(sub.add_parser(command.name, help=command.help))
    serve = sub.add_parser("serve", help="serve the PaperLab app (Paper and Sessions tabs)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (non-loopback: TLS or --behind-proxy, and a password)")
    serve.add_argument("--port", type=int, default=5006)
    serve.add_argument("--basic-auth", default=None, help=argparse.SUPPRESS)  # refused: see cmd_serve
    serve.add_argument("--password-prompt", action="store_true",
                       help="ask for the app password (else $PAPERLAB_APP_PASSWORD; none: generated, printed once)")
    serve.add_argument("--certfile", default=None, help="TLS certificate (PEM)")
    serve.add_argument("--keyfile", default=None, help="TLS private key (PEM)")
    serve.add_argument("--behind-proxy", action="store_true", help="a TLS-terminating proxy fronts the app")
    serve.add_argument("--show", action="store_true", help="open a browser")
    lab = sub.add_parser("lab", help="open the notebooks in JupyterLab (the quickstart first); works as root too")
    lab.add_argument("notebook", nargs="?", default=None, help="notebook to open (default notebooks/01_quickstart.ipynb)")
    lab.add_argument("--port", type=int, default=None, help="port for JupyterLab (default: its own choice)")
    lab.add_argument("--no-browser", action="store_true", help="serve without opening a browser")
    add_supervisor_commands(sub)
    gc = sub.add_parser("gc", help="remove finished sessions, dead processes' logs and reports older than a duration")
    gc.add_argument("--older-than", required=True, help="e.g. 30d or 12h (running sessions are never removed)")
    gc._negative_number_matcher = re.compile(r"^-\d")  # '-1d' is a (bad) value, not an option: say why it is bad
    add_shell_commands(sub)
    add_report_command(sub)
    add_audit_command(sub)
    add_ledger_command(sub)
    cli_live.add_live_commands(sub)
    add_api_command(sub)
    return parser


# -- detached sessions (a section of its own) ---------------------------------------------------


def add_detach_argument(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--detach``: run the session in a supervised process of its own and return at once; and what
    the supervisor keeps for it: reports, an end, notifications (they need ``--detach``)."""
    p.add_argument("--detach", action="store_true",
                   help="run in a process of its own under the supervisor (relaunched if it dies); print its id")
    p.add_argument("--report-every", default=None,
                   help="with --detach: write a report to $PAPERLAB_HOME/reports every period (30m, 4h, 1d)")
    p.add_argument("--report-at", default=None,
                   help="with --detach: at this ISO time (US/Eastern unless it has an offset) stop the session, "
                        "write the final report and notify, e.g. 2026-12-11T10:00")
    p.add_argument("--notify", action="append", default=None, metavar="URL",
                   help="with --detach: an apprise URL (repeatable; default $PAPERLAB_NOTIFY) told of relaunches, "
                        "errors, risk halts and reports")
    p.add_argument("--notify-fills", nargs="?", const="1m", default=None, metavar="EVERY",
                   help="with --detach and notify URLs: also fills, at most one message per EVERY (default 1m)")
    return p


def detached_lines(spec: SessionSpec) -> list[str]:
    """What the supervisor keeps for a detached session, a line each (URLs masked)."""
    lines = []
    if spec.report_every_s:
        lines.append(f"reports: every {spec.report_every_s:g}s to $PAPERLAB_HOME/reports")
    if spec.report_at:
        lines.append(f"end: at {spec.report_at} stop, write the final report, notify")
    if spec.notify:
        fills = f"; fills at most once per {spec.notify_fills_s:g}s" if spec.notify_fills_s else ""
        lines.append(f"notify: {', '.join(spec.notify_shown)} (relaunches, errors, risk halts, reports{fills})")
    return lines


def add_supervisor_commands(sub: Any) -> None:
    """``paperlab supervise [--stop]``."""
    sup = sub.add_parser("supervise", help="run the supervisor of detached sessions in the foreground")
    sup.add_argument("--stop", action="store_true", help="stop the running supervisor (sessions keep running)")
    sup.add_argument("--ray", default=None, metavar="auto|ADDRESS",
                     help="place detached sessions on a Ray cluster (default $PAPERLAB_CLUSTER; none: this machine)")


def cmd_paper_detached(ns: argparse.Namespace, spec: SessionSpec) -> int:
    import dataclasses

    from kernelext.notify.urls import from_env

    if not spec.notify:  # shown below as the session will have them (api.start_detached does the same)
        spec = dataclasses.replace(spec, notify=from_env())
    session_id = api.start_spec(spec, require_backtest=ns.require_backtest, detach=True, i_understand=ns.i_understand)
    if ns.json:
        print(json.dumps({"session_id": session_id, "status": "starting", "detached": True,
                          "report_every_s": spec.report_every_s, "report_at": spec.report_at,
                          "notify": list(spec.notify_shown), "notify_fills_s": spec.notify_fills_s}))
    else:
        print(f"session {session_id} detached: {spec.describe()}; "
              f"control it with paperlab or %paper attach {session_id}")
        for line in detached_lines(spec):
            print(f"  {line}")
    return 0


def cmd_supervise(ns: argparse.Namespace) -> int:
    if not ns.stop:
        return api.supervise(cluster=ns.ray)
    pid = api.stop_supervisor()
    print("supervisor: none running" if pid is None else f"supervisor {pid} stopped; sessions keep running")
    return 0


# -- commands ---------------------------------------------------------------------------------------


def cmd_paper(ns: argparse.Namespace) -> int:
    spec = spec_from_args(ns)
    ns.i_understand = cli_live.confirm_live(spec, ns.i_understand)  # a live start: summary, typed id
    if ns.detach:
        return cmd_paper_detached(ns, spec)
    interrupted = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        runner = api.start_spec(spec, require_backtest=ns.require_backtest, i_understand=ns.i_understand)
        if not ns.json:
            tag = "*** REAL MONEY ***" if venues.get(runner.spec.venue).real_money else runner.spec.feed.upper()
            print(f"session {runner.session_id} running: {runner.spec.describe()} [{tag}]", flush=True)
            for note in runner.notes:
                print(f"  note: {note}")
        while runner.is_alive and not interrupted:
            runner.wait(0.1)
        if interrupted and runner.is_alive:
            print("interrupted: flattening and stopping", file=sys.stderr)
            runner.kill()
        runner.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    summary = api.summary(runner)
    if ns.json:
        print(json.dumps(summary))
    else:
        print(format_summary(summary))
    return 0 if runner.state != "error" else 1


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"session {s['session_id']} ({s['label']}) {s['status']} [{s['feed']}]",
        f"  bars {s['bars']}  orders {s['orders']}  fills {s['fills']}  denied {s['denied']}"
        + (f"  part-filled {s['part_filled']}" if s.get("part_filled") else ""),
        f"  realized P&L {s['realized_pnl']:,.2f}  unrealized {s['unrealized_pnl']:,.2f}  fees {s['fees']:,.2f}  "
        f"equity {s['equity']:,.2f} {s['currency']}",
    ]
    if s.get("last_error"):
        lines.append(f"  error: {s['last_error']}")
    return "\n".join(lines)


def cmd_sessions(ns: argparse.Namespace) -> int:
    df = api.sessions()
    if ns.running:
        df = df.filter(df["session_id"].is_in(api.running_sessions()))
    if ns.json:
        print(df.write_json())
    else:
        _print_frame(df.select(SESSION_SUMMARY_COLUMNS))
    return 0


SESSION_SUMMARY_COLUMNS = ("session_id", "label", "status", "feed", "started_at", "fills", "orders", "realized_pnl", "fees")


def _print_frame(df: Any) -> None:
    import polars as pl

    with pl.Config(tbl_rows=200, tbl_cols=20, fmt_str_lengths=40, tbl_width_chars=250, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        print(df)


def cmd_backtest(ns: argparse.Namespace) -> int:
    spec = None if ns.like else spec_from_args(ns)
    session_id = api.backtest(spec, like=ns.like, bars=ns.bars, label=ns.label)
    summary = api.backtest_summary(session_id)
    if ns.json:
        print(json.dumps(summary))
    else:
        print(f"backtest {session_id}: {summary['fills']} fills, {summary['trades']} round trips, "
              f"realized P&L {summary['realized_pnl']:,.2f}, fees {summary['fees']:,.2f}")
    return 0


def cmd_compare(ns: argparse.Namespace) -> int:
    result = api.compare(*ns.sessions, html=ns.html)
    _print_frame(result.table)
    print(result.assessment)
    if ns.html:
        print(f"HTML report -> {ns.html}")
    return 0




def cmd_serve(ns: argparse.Namespace) -> int:
    from kernelext.surfaces import views

    if not 0 < ns.port < 65536:
        raise SpecError(f"port: expected 1-65535 (got {ns.port})")
    if ns.basic_auth is not None:
        raise UsageError("basic_auth: a password on the command line is seen by every local user (ps); set "
                         "PAPERLAB_APP_PASSWORD (12+ characters) or use --password-prompt")
    serve = views.get("app")
    if serve is None:
        raise UsageError("serve: the app needs the widgets package (install paperlab with its UI)")
    password = None
    if ns.password_prompt:
        import getpass

        password = getpass.getpass("PaperLab app password (12+ characters): ") or None
    serve(ns.host, ns.port, basic_auth=password, show=ns.show, certfile=ns.certfile, keyfile=ns.keyfile,
          behind_proxy=ns.behind_proxy)
    return 0


def cmd_lab(ns: argparse.Namespace) -> int:
    from kernelext.surfaces.lab import run_lab

    return run_lab(notebook=ns.notebook, port=ns.port, open_browser=not ns.no_browser)


def cmd_gc(ns: argparse.Namespace) -> int:
    done = api.gc(ns.older_than)
    print(f"removed {len(done['sessions'])} sessions, {len(done['logs'])} log files and "
          f"{len(done['reports'])} reports older than {ns.older_than}")
    return 0


COMMANDS = {"gc": cmd_gc, "paper": cmd_paper, "sessions": cmd_sessions, "serve": cmd_serve,
            "backtest": cmd_backtest, "compare": cmd_compare, "lab": cmd_lab}
COMMANDS["supervise"] = cmd_supervise


# -- the shell: status, controls, frames, logs (a block of its own) -------------------------------

SESSION_HELP = "session id, unique prefix, or 'latest'"
EXPORT_FRAMES: dict[str, str] = {
    "fills": "fills of a session", "orders": "orders of a session (--open: not in a final status)",
    "positions": "positions of a session (--open: non-zero quantity)", "equity": "equity curve of a session",
    "events": "events of a session", "perf": "performance metrics of a session",
    "round_trips": "round trips (entry to exit) of a session",
}
EXPORT_WRITERS = {"csv": "write_csv", "parquet": "write_parquet", "json": "write_json"}


def add_shell_commands(sub: Any) -> None:
    """``status``, the controls, the frame exports and ``logs``."""
    status = sub.add_parser("status", help="status of a session running anywhere (this process, another, the ledger)")
    status.add_argument("session", help=SESSION_HELP)
    status.add_argument("--json", action="store_true", help="one JSON object")
    for verb in api.CONTROL_VERBS:
        control = sub.add_parser(verb, help=f"{verb} a session (here or in another process)")
        control.add_argument("session", nargs="?" if verb == "kill" else None, help=SESSION_HELP)
        if verb == "kill":
            control.add_argument("--all", action="store_true", help="kill every running session of this ledger")
    for name, help_ in EXPORT_FRAMES.items():
        export = sub.add_parser(name, help=help_)
        export.add_argument("session", help=SESSION_HELP)
        export.add_argument("--format", choices=("table", "csv", "parquet", "json"), default="table")
        export.add_argument("--out", default=None, help="write to this file")
        if name in api.OPEN_FRAMES:
            export.add_argument("--open", action="store_true", help="only the open ones")
    logs = sub.add_parser("logs", help="a session's own log lines (Nautilus's and its strategies')")
    logs.add_argument("session", help=SESSION_HELP)
    logs.add_argument("--follow", action="store_true", help="keep printing new lines until the session ends")
    logs.add_argument("--lines", type=int, default=50, help="how many of the last lines (default 50)")


def cmd_status(ns: argparse.Namespace) -> int:
    report = api.status_report(ns.session)
    print(api.to_json(report) if ns.json else format_status(report))
    return 0


def format_status(r: dict[str, Any]) -> str:
    """A status report as a few lines for a terminal."""
    eq = r["equity"]
    money = "  ".join(f"{k} {v:,.2f}" for k, v in eq.items() if v is not None) or "no equity yet"
    where = f"pid {r['pid']} on {r['host']}" + ("" if r["alive"] else " (not running)")
    lines = [
        f"session {r['session_id']} ({r['label']}) {r['state']}"
        + (f" [{r['trading_state']}]" if r["trading_state"] else "") + f"  {r['venue']} {r['feed']}  {where}",
        f"  bars {r['bars']}  orders {r['orders']}  fills {r['fills']}  open orders {r['open_orders']}"
        f"  dropped {r['dropped'] if r['dropped'] is not None else '-'}  relaunches {r['relaunches']}",
        f"  {money} {r['currency'] or ''}".rstrip(),
    ]
    lines += [f"  position {p['instrument']} {p['side']} {p['quantity']:g} @ {p['avg_px_open'] or 0:,.2f}"
              for p in r["positions"]]
    lines += [f"  part-filled {o['client_order_id']} {o['side']} {o['filled']:g} of {o['quantity']:g} ({o['status']})"
              for o in r.get("part_filled", ())]
    if r["last_error"]:
        lines.append(f"  error: {r['last_error']}")
    return "\n".join(lines)


def cmd_control(ns: argparse.Namespace) -> int:
    verb = ns.command
    if verb == "kill" and ns.all:
        if ns.session:
            raise UsageError("session: give a session or --all, not both")
        killed = api.kill_all()
        print(f"kill --all: ok ({len(killed)} killed{': ' + ', '.join(killed) if killed else ''})")
        return 0
    if not ns.session:
        raise UsageError("session: required (or --all to kill every running session)")
    print(f"{verb}: ok ({api.control(ns.session, verb)})")
    return 0


def cmd_frame(ns: argparse.Namespace) -> int:
    """Any ``EXPORT_FRAMES`` frame: a table on screen, or csv/json/parquet to stdout or ``--out``."""
    from kernelext.paths import check_output_file, write_file

    fmt = ns.format
    if ns.out:
        suffixes = tuple(f".{f}" for f in EXPORT_WRITERS) if fmt == "table" else (f".{fmt}",)
        out = check_output_file(ns.out, field="out", suffixes=suffixes)
        fmt = out.suffix.lower().lstrip(".") if fmt == "table" else fmt
    elif fmt == "parquet":
        raise UsageError("format: parquet needs --out FILE.parquet")
    df = api.open_frame(ns.command, ns.session, open_only=getattr(ns, "open", False))
    if ns.out:
        write_file(out, "out", lambda: getattr(df, EXPORT_WRITERS[fmt])(out))
        print(f"{df.height} {ns.command} -> {out}")
    elif fmt == "csv":
        sys.stdout.write(df.write_csv())
    elif fmt == "json":
        print(df.write_json())
    else:
        _print_frame(df)
    return 0


def cmd_logs(ns: argparse.Namespace) -> int:
    try:
        for line in api.logs(ns.session, follow=ns.follow, lines=ns.lines):
            print(line, flush=ns.follow)
    except KeyboardInterrupt:
        pass
    return 0


# -- reports (a section of its own) --------------------------------------------------------------


def add_report_command(sub: Any) -> None:
    """``paperlab report SESSION [--html FILE]``."""
    rep = sub.add_parser("report", help="a session as one HTML file: metrics, charts, its backtest and a recommendation")
    rep.add_argument("session", help=SESSION_HELP)
    rep.add_argument("--html", default=None, help="write here (default $PAPERLAB_HOME/reports/<session>-<time>.html)")
    rep.add_argument("--notify", action="append", default=None, metavar="URL",
                     help="send its figures and path to this apprise URL (repeatable; default $PAPERLAB_NOTIFY)")


def cmd_report(ns: argparse.Namespace) -> int:
    result = api.report(ns.session, html=ns.html, notify=ns.notify)
    if result.recommendation:
        print(f"recommendation: {result.recommendation}")
    print(f"report {result.session_id} -> {result.path}")
    for delivery in result.deliveries:
        print(f"notify {delivery}")
    return 0


COMMANDS.update(cli_live.COMMANDS)
COMMANDS.update({"audit": cmd_audit, "ledger": cmd_ledger, "api": cmd_api, "token": cmd_token, "status": cmd_status, "report": cmd_report,
                 "logs": cmd_logs, **dict.fromkeys(api.CONTROL_VERBS, cmd_control),
                 **dict.fromkeys(EXPORT_FRAMES, cmd_frame)})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``paperlab`` console script: one line on stderr for any error, never a traceback."""
    from kernelext.actor import acting_as

    try:
        ns = build_parser().parse_args(argv)
        run = COMMANDS.get(ns.command) or next(c.run for c in venues.commands() if c.name == ns.command)
        with acting_as("cli"):
            return run(ns)
    except PaperLabError as e:
        return _fail(one_line(e), e.exit_code)
    except (ValueError, KeyError) as e:  # a message meant for the user from below the facade
        return _fail(one_line(e) if isinstance(e, KeyError) else str(e), 2)
    except Exception as e:  # noqa: BLE001  (a bug still reaches the person as one line)
        from kernelext.surfaces.crash import record

        return _fail(f"{one_line(e)} (unexpected; details in {record(e)})", 1)


def _fail(message: str, code: int) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"paperlab: error: {first}", file=sys.stderr)
    return code


def run() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
