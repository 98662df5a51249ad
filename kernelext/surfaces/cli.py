"""The headless runner: ``paperlab paper|sessions|fills|serve`` (also ``python -m kernelext``).

The ``paper`` argument parser is shared with the ``%paper`` magic, so flags and
errors are identical. Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from kernelext import venues
from kernelext.spec import SessionSpec, SpecError, build_spec, make_sleeve, sleeves_from_json


class UsageError(ValueError):
    """Bad command-line input: one line for the user."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump), raised not exited."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def add_paper_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags of ``paperlab paper`` / ``%paper start``."""
    p.add_argument("--strategy", help="registered strategy key, e.g. ema_cross")
    p.add_argument("--instrument", help=venues.help_for("instrument"))
    p.add_argument("--bar-spec", default=None, help=f"STEP-UNIT-LAST, e.g. 1-MINUTE-LAST ({venues.help_for('bar_spec')})")
    p.add_argument("--params", default=None, help='strategy params as JSON, e.g. \'{"fast": 10, "slow": 30}\'')
    p.add_argument("--sleeves-json", default=None, help="a book: JSON list of {strategy, instrument, params?, bar_spec?, name?}")
    p.add_argument("--starting-cash", default="100000 USD", help="e.g. '100000 USD'")
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
    p.add_argument("--require-backtest", action="store_true",
                   help="refuse to start unless a backtest of the same strategy, instrument and params has a trade")
    return p


def add_backtest_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags of ``paperlab backtest`` / ``%paper backtest``: a spec, or --like SESSION."""
    add_paper_arguments(p)
    p.add_argument("--like", default=None, help="re-run an earlier session over exactly the bars it saw")
    return p


def spec_from_args(ns: argparse.Namespace) -> SessionSpec:
    """Parsed flags -> validated ``SessionSpec`` (raises ``SpecError``); checks the backtest gate."""
    spec = _spec_from_args(ns)
    if getattr(ns, "require_backtest", False):
        from kernelext.research.gate import require_backtest

        require_backtest(spec)
    return spec


def _spec_from_args(ns: argparse.Namespace) -> SessionSpec:
    venue = venues.find(getattr(ns, "venue", venues.DEFAULT)) or venues.get(venues.DEFAULT)  # unknown: build_spec says so
    bar_spec = ns.bar_spec or venue.default_bar_spec
    if ns.sleeves_json:
        if ns.strategy or ns.instrument:
            raise SpecError("sleeves: give either --sleeves-json or --strategy/--instrument, not both")
        sleeves = sleeves_from_json(ns.sleeves_json, default_bar_spec=bar_spec)
    else:
        if not ns.instrument:
            raise SpecError(f"instrument: required, e.g. --instrument {venue.default_instrument}")
        sleeves = [make_sleeve(ns.strategy or "", ns.instrument, params=ns.params, bar_spec=bar_spec)]
    return build_spec(
        sleeves=sleeves,
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
    )


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="paperlab", description="Paper trading on NautilusTrader, from the shell.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    paper = add_paper_arguments(sub.add_parser("paper", help="run a paper session in the foreground"))
    paper.add_argument("--json", action="store_true", help="end with one JSON summary line")
    sub.add_parser("sessions", help="list sessions, newest first").add_argument("--json", action="store_true")
    bt = add_backtest_arguments(sub.add_parser("backtest", help="backtest a spec (or --like SESSION), recorded as a session"))
    bt.add_argument("--json", action="store_true", help="end with one JSON summary line")
    cmp_ = sub.add_parser("compare", help="backtest vs paper[ vs live]: metrics side by side and an assessment")
    cmp_.add_argument("sessions", nargs="+", help="2 or 3 session ids (prefixes, or 'latest')")
    cmp_.add_argument("--html", default=None, help="also write a self-contained HTML report here")
    for command in venues.commands():  # a venue's own subcommands
        command.configure(sub.add_parser(command.name, help=command.help))
    serve = sub.add_parser("serve", help="serve the PaperLab app (Paper and Sessions tabs)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (non-loopback needs --basic-auth)")
    serve.add_argument("--port", type=int, default=5006)
    serve.add_argument("--basic-auth", default=None, help="password for Panel's basic auth (or $PAPERLAB_APP_PASSWORD)")
    serve.add_argument("--show", action="store_true", help="open a browser")
    fills = sub.add_parser("fills", help="fills of a session")
    fills.add_argument("session", help="session id, unique prefix, or 'latest'")
    fills.add_argument("--format", choices=("table", "csv", "parquet", "json"), default="table")
    fills.add_argument("--out", default=None, help="write to this file")
    return parser


# -- commands ---------------------------------------------------------------------------------------


def cmd_paper(ns: argparse.Namespace) -> int:
    from kernelext.session.runner import SessionRunner, SessionStartError

    spec = spec_from_args(ns)
    runner = SessionRunner(spec)
    interrupted = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        try:
            runner.start()
        except SessionStartError as e:
            print(f"paperlab: error: {str(e).splitlines()[0]}", file=sys.stderr)
            return 1
        if not ns.json:
            print(f"session {runner.session_id} running: {runner.spec.describe()} [{runner.spec.feed.upper()}]", flush=True)
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
    summary = session_summary(runner)
    if ns.json:
        print(json.dumps(summary))
    else:
        print(format_summary(summary))
    return 0 if runner.state != "error" else 1


def session_summary(runner: Any) -> dict[str, Any]:
    """The facts a user wants at the end of a session, read back from the ledger."""
    from kernelext.research import frames

    st = runner.status()
    fills = frames.fills(runner.session_id, ledger=runner.ledger)
    orders = frames.orders(runner.session_id, ledger=runner.ledger)
    fees = float(fills["fee"].sum()) if fills.height else 0.0
    eq = st.equity
    return {
        "session_id": runner.session_id,
        "label": runner.spec.label,
        "status": st.state,
        "feed": runner.spec.feed.upper(),
        "venue": runner.spec.venue,
        "bars": st.bars,
        "orders": orders.height,
        "fills": fills.height,
        "denied": st.denied,
        "realized_pnl": round(eq.get("realized_pnl", 0.0), 2),
        "unrealized_pnl": round(eq.get("unrealized_pnl", 0.0), 2),
        "fees": round(fees, 2),
        "equity": round(eq.get("equity", float(runner.spec.starting_cash)), 2),
        "currency": runner.spec.currency,
        "started_at": st.started_at.isoformat() if st.started_at else None,
        "ended_at": runner.ended_at.isoformat() if runner.ended_at else None,
        "last_error": st.last_error,
    }


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"session {s['session_id']} ({s['label']}) {s['status']} [{s['feed']}]",
        f"  bars {s['bars']}  orders {s['orders']}  fills {s['fills']}  denied {s['denied']}",
        f"  realized P&L {s['realized_pnl']:,.2f}  unrealized {s['unrealized_pnl']:,.2f}  fees {s['fees']:,.2f}  "
        f"equity {s['equity']:,.2f} {s['currency']}",
    ]
    if s.get("last_error"):
        lines.append(f"  error: {s['last_error']}")
    return "\n".join(lines)


def cmd_sessions(ns: argparse.Namespace) -> int:
    from kernelext.research import frames

    df = frames.sessions()
    if ns.json:
        print(df.write_json())
    else:
        _print_frame(df.select(SESSION_SUMMARY_COLUMNS))
    return 0


def cmd_fills(ns: argparse.Namespace) -> int:
    from kernelext.research import frames

    df = frames.fills(ns.session)
    fmt = ns.format
    if ns.out:
        out = Path(ns.out)
        if fmt == "table":
            fmt = out.suffix.lstrip(".") or "csv"
        {"csv": df.write_csv, "parquet": df.write_parquet, "json": df.write_json}[fmt](out)
        print(f"{df.height} fills -> {out}")
    elif fmt == "csv":
        sys.stdout.write(df.write_csv())
    elif fmt == "json":
        print(df.write_json())
    elif fmt == "parquet":
        raise UsageError("--format parquet needs --out FILE")
    else:
        _print_frame(df)
    return 0


SESSION_SUMMARY_COLUMNS = ("session_id", "label", "status", "feed", "started_at", "fills", "orders", "realized_pnl", "fees")


def _print_frame(df: Any) -> None:
    import polars as pl

    with pl.Config(tbl_rows=200, tbl_cols=20, fmt_str_lengths=40, tbl_width_chars=250, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        print(df)


def cmd_backtest(ns: argparse.Namespace) -> int:
    from kernelext.research import frames
    from kernelext.research.backtest import backtest

    spec = None if ns.like else spec_from_args(ns)
    session_id = backtest(spec, like=ns.like, bars=ns.bars, label=ns.label)
    perf = frames.performance(session_id)
    fills = frames.fills(session_id)
    row = perf.row(0, named=True) if perf.height else {}
    summary = {
        "session_id": session_id, "kind": "backtest", "status": "stopped", "fills": fills.height,
        "trades": row.get("trades", 0), "realized_pnl": round(row.get("realized_pnl") or 0.0, 2),
        "fees": round(row.get("fees") or 0.0, 2), "win_rate": row.get("win_rate"),
        "max_drawdown_pct": row.get("max_drawdown_pct"), "sharpe": row.get("sharpe"),
    }
    if ns.json:
        print(json.dumps(summary))
    else:
        print(f"backtest {session_id}: {summary['fills']} fills, {summary['trades']} round trips, "
              f"realized P&L {summary['realized_pnl']:,.2f}, fees {summary['fees']:,.2f}")
    return 0


def cmd_compare(ns: argparse.Namespace) -> int:
    from kernelext.research.compare import compare

    result = compare(*ns.sessions)
    _print_frame(result.table)
    print(result.assessment)
    if ns.html:
        result.to_html(ns.html)
        print(f"HTML report -> {ns.html}")
    return 0


def cmd_serve(ns: argparse.Namespace) -> int:
    from widgets.app import serve  # widgets depend on kernelext, imported only to serve them

    serve(ns.host, ns.port, basic_auth=ns.basic_auth, show=ns.show)
    return 0


COMMANDS = {"paper": cmd_paper, "sessions": cmd_sessions, "fills": cmd_fills, "serve": cmd_serve,
            "backtest": cmd_backtest, "compare": cmd_compare}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``paperlab`` console script."""
    try:
        ns = build_parser().parse_args(argv)
        run = COMMANDS.get(ns.command) or next(c.run for c in venues.commands() if c.name == ns.command)
        return run(ns)
    except (UsageError, SpecError, ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"paperlab: error: {str(msg).splitlines()[0]}", file=sys.stderr)
        return 2


def run() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
