"""The one facade every surface calls: the CLI, the magics, ``kernelext.*``, the widgets, the app.

It knows nothing of its callers (the model is freqtrade's ``rpc/rpc.py``): each
function takes plain input, validates it through ``spec``, and returns plain data,
a Polars frame, or a session handle. It decides, in one place, whether a session
runs in this process (its runner answers) or elsewhere (the ledger answers, and
controls travel through the ledger's command queue).

Errors are ``kernelext.errors.PaperLabError``: one line naming the field.
Importing this module loads neither Nautilus nor Polars; each call imports what it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from kernelext.errors import NotFound, SpecError
from kernelext.events import CONTROL_VERBS
from kernelext.session import live

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

    from kernelext.ledger import Ledger
    from kernelext.events import Event
    from kernelext.research.compare import Comparison
    from kernelext.session.hub import View
    from kernelext.session.runner import SessionRunner
    from kernelext.spec import SessionSpec

__all__ = [
    "FRAMES",
    "CONTROL_VERBS",
    "spec",
    "start",
    "start_book",
    "start_spec",
    "resolve",
    "attach",
    "live_runner",
    "control",
    "status",
    "summary",
    "sessions",
    "frame",
    "backtest",
    "backtest_summary",
    "compare",
    "delete_session",
    "clear_sessions",
    "stop_all",
    "gateway_status",
]

FRAMES: tuple[str, ...] = ("sessions", "fills", "orders", "positions", "equity", "events", "perf", "round_trips")
"""The frames a surface can ask for by name (``perf`` is ``performance``)."""

_SESSION_FIELDS = ("id", "label", "status", "kind", "feed", "venue", "started_at", "ended_at", "last_error")


def _ledger(ledger: Ledger | None) -> Ledger:
    from kernelext.ledger import Ledger

    return ledger or Ledger()


# -- input -> spec --------------------------------------------------------------------------------


def spec(
    strategy: str | None = None,
    instrument: str | None = None,
    *,
    params: dict[str, Any] | str | None = None,
    bar_spec: str | None = None,
    sleeves: list[dict[str, Any]] | str | None = None,
    **options: Any,
) -> SessionSpec:
    """A validated ``SessionSpec`` from one strategy + instrument, or from ``sleeves`` (a book).

    ``options`` are ``spec.build_spec`` keywords (venue, feed, starting_cash, label, until,
    duration, speed, seed, catalog_path, max_bars, risk caps, outside_rth, account_id).
    """
    from kernelext.spec import build_spec, make_sleeve, sleeves_from_json

    _check_options(build_spec, options, allowed_extra=("default_bar_spec",))
    if sleeves is not None:
        if strategy or instrument:
            raise SpecError("sleeves: give either sleeves or strategy/instrument, not both")
        default_bar_spec = options.pop("default_bar_spec", None)
        parsed = sleeves_from_json(sleeves, **({"default_bar_spec": default_bar_spec} if default_bar_spec else {}))
        return build_spec(sleeves=parsed, **options)
    if not instrument:
        raise SpecError("instrument: required, e.g. BTC/USD")
    sleeve = make_sleeve(strategy or "", instrument, params=params, bar_spec=bar_spec)
    return build_spec(sleeves=[sleeve], **options)


def _check_options(fn: Any, options: dict[str, Any], allowed_extra: tuple[str, ...] = ()) -> None:
    """Unknown keyword options are one line naming them (not a TypeError from deep inside)."""
    import inspect

    known = [name for name in inspect.signature(fn).parameters if name != "sleeves"] + list(allowed_extra)
    for name in options:
        if name not in known:
            raise SpecError(f"{name}: not an option; allowed: {', '.join(sorted(known))}")


# -- sessions -------------------------------------------------------------------------------------


def start_spec(session_spec: SessionSpec, *, ledger: Ledger | None = None, require_backtest: bool = False,
               detach: bool = False, i_understand: str | None = None) -> Any:
    """Start a validated spec in a background thread of this process; returns its running ``SessionRunner``.

    ``require_backtest``: refuse unless a backtest of the same strategy, instrument and params traded.
    ``detach``: run it in a process of its own under the supervisor instead; returns its id at once.
    Raises ``SpecError``/``Refused`` before anything is written, ``SessionStartError`` if the node fails.
    Reports, an end time and notifications (``report_every``, ``report_at``, ``notify``, ``notify_fills``)
    are kept by the supervisor: they need ``detach``.
    A real-money venue (``ib-live``) also needs the edition flag, an approval of every sleeve and
    ``i_understand``: the live account id typed by the person (see ``live_start``).
    """
    live_start_ = live_start(session_spec, ledger=ledger, i_understand=i_understand)
    if not detach and session_spec.supervised():
        raise SpecError(f"{session_spec.supervised()[0]}: needs --detach (detach=True): the supervisor keeps "
                        "report schedules and sends notifications")
    if require_backtest:
        from kernelext.research.gate import require_backtest as gate

        gate(session_spec, ledger)
    if live_start_ is not None:  # recorded before anything connects: who started real money, with what
        record_audit("live.start", _live_detail(live_start_), ledger=ledger)
    if detach:
        session_id = start_detached(session_spec, ledger=ledger)
        _audit_start(session_spec, session_id, ledger, detached=True)
        return session_id
    from kernelext.session.runner import SessionRunner

    runner = SessionRunner(session_spec, ledger=ledger).start()
    _audit_start(session_spec, runner.session_id, ledger or runner.ledger, detached=False)
    return runner


def _audit_start(session_spec: SessionSpec, session_id: str, ledger: Ledger | None, *, detached: bool) -> None:
    """The audit row of a start: what runs where (the spec's venue, sleeves and risk caps)."""
    _audit_after("session.start", {
        "session_id": session_id, "venue": session_spec.venue, "feed": session_spec.feed,
        "detached": detached,
        "sleeves": _sleeves_detail(session_spec),
        "caps": {"max_notional_per_order": session_spec.risk.max_notional_per_order,
                 "max_order_submit_rate": session_spec.risk.max_order_submit_rate,
                 "max_drawdown_pct": session_spec.risk.max_drawdown_pct},
    }, ledger)


def live_start(session_spec: SessionSpec, *, ledger: Ledger | None = None, i_understand: str | None = None,
               confirm: bool = True) -> Any:
    """The live-trading gates of a spec on a real-money venue (None for any other venue): the edition
    flag, an approval of every sleeve, and (``confirm``) the typed account id ``i_understand``.
    Returns the ``LiveStart`` whose ``lines()`` are the summary a person confirms; refusals are one line."""
    from kernelext import venues

    if not venues.get(session_spec.venue).real_money:
        return None
    from kernelext.session import real_money

    prepared = real_money.prepare(session_spec, _ledger(ledger))
    if confirm:
        real_money.check_confirmation(session_spec, i_understand)
    return prepared


def _live_detail(prepared: Any) -> dict[str, Any]:
    """A live start's audit detail: account masked, edition flag and cap values, the approvals used."""
    import os

    from kernelext.session import real_money
    from kernelext.spec import mask_account

    spec_ = prepared.spec
    return {"venue": spec_.venue, "account": mask_account(spec_.account_id),
            "edition_flag": os.environ.get(real_money.EDITION_ENV, ""),
            "caps": {"max_notional_per_order": spec_.risk.max_notional_per_order,
                     "max_order_submit_rate": spec_.risk.max_order_submit_rate},
            "ceilings": dict(zip(("max_notional", "max_submit_rate"), real_money.ceilings(), strict=True)),
            "approvals": [a["id"] for a in prepared.approvals],
            "sleeves": _sleeves_detail(spec_)}


def _sleeves_detail(session_spec: SessionSpec) -> list[dict[str, Any]]:
    """What runs, for an audit row: each sleeve's strategy, instrument and params."""
    return [{"strategy": s.strategy_key, "instrument": s.instrument, "params": s.params} for s in session_spec.sleeves]


def start(strategy: str, instrument: str, *, params: dict[str, Any] | str | None = None,
          bar_spec: str | None = None, ledger: Ledger | None = None, detach: bool = False,
          i_understand: str | None = None, **options: Any) -> Any:
    """Start a one-strategy paper session in the background; returns its ``SessionRunner``
    (``detach``: its session id; it runs in a supervised process of its own; ``i_understand``: the
    live account id, typed, for a real-money venue)."""
    return start_spec(spec(strategy, instrument, params=params, bar_spec=bar_spec, **options), ledger=ledger,
                      detach=detach, i_understand=i_understand)


def start_book(sleeves: list[dict[str, Any]] | str, *, ledger: Ledger | None = None, detach: bool = False,
               i_understand: str | None = None, **options: Any) -> Any:
    """Start a book: several sleeves ``{strategy, instrument, params?, bar_spec?, name?}`` on one account
    (``detach``: in a supervised process of its own; returns its session id)."""
    return start_spec(spec(sleeves=sleeves, **options), ledger=ledger, detach=detach, i_understand=i_understand)


def resolve(session: str | None, *, ledger: Ledger | None = None) -> str:
    """A session id from an exact id, a unique prefix, or 'latest' (None: the newest)."""
    try:
        return _ledger(ledger).resolve_session(session or "latest")
    except ValueError as e:
        raise NotFound(f"session: {e}") from None


def live_runner(session: str) -> SessionRunner | None:
    """The runner of ``session`` (an exact id) if it runs in this process, else None."""
    return live.get(session)


def attach(session: str | None, *, ledger: Ledger | None = None) -> SessionRunner | dict[str, Any]:
    """The session to show and control: its runner when it runs here, else its ledger row."""
    session_id = resolve(session, ledger=ledger)
    runner = live.get(session_id)
    return runner if runner is not None else _row(session_id, ledger)


def _row(session_id: str, ledger: Ledger | None) -> dict[str, Any]:
    row = _ledger(ledger).session(session_id) or {}
    return {k: row.get(k) for k in _SESSION_FIELDS}


def control(session: str | None, verb: str, *, ledger: Ledger | None = None, timeout: float = 10.0) -> str:
    """``pause|resume|flatten|kill|stop`` a session here or in any process; returns the session id."""
    from kernelext.session import control as controls

    if verb not in CONTROL_VERBS:
        raise SpecError(f"control: {verb!r} is not a control; allowed: {', '.join(CONTROL_VERBS)}")
    session_id = resolve(session, ledger=ledger)
    outcome = "failed"
    try:
        if verb == "resume" and live.get(session_id) is None and _ended(session_id, ledger):
            resume_ended(session_id, ledger=ledger)
        else:
            controls.send(session_id, verb, ledger=ledger, timeout=timeout)
        outcome = "ok"
    except Exception as e:
        from kernelext.errors import one_line

        outcome = one_line(e)
        raise
    finally:
        _audit_after(f"control.{verb}", {"session_id": session_id, "result": outcome}, ledger)
    return session_id


def _ended(session_id: str, ledger: Ledger | None) -> bool:
    from kernelext.supervisor.request import RESUMABLE_STATUSES

    return (_ledger(ledger).session(session_id) or {}).get("status") in RESUMABLE_STATUSES


def resume_ended(session: str, *, ledger: Ledger | None = None) -> str:
    """Resume a stopped, crashed or failed paper session in a supervised process of its own,
    with the same id: its balances, positions, resting orders and strategy states are
    restored from the ledger before it trades, and a replay continues after its last bar.
    Returns the session id at once (``paperlab resume SESSION``, ``%paper resume``)."""
    from kernelext.supervisor.request import request_resume
    from kernelext.supervisor.spawn import ensure_running

    led = _ledger(ledger)
    session_id = resolve(session, ledger=led)
    _check_supervised_ledger(led)
    request_resume(session_id, led)  # refused before anything starts; a request waits for the supervisor
    ensure_running()
    return session_id


def status(session: str | None, *, ledger: Ledger | None = None) -> Any:
    """A live ``SessionStatus`` when the session runs here, else its ledger row (a dict)."""
    found = attach(session, ledger=ledger)
    return found if isinstance(found, dict) else found.status()


def summary(runner: SessionRunner) -> dict[str, Any]:
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
        "part_filled": len(_part_filled(orders)),
        "realized_pnl": round(eq.get("realized_pnl", 0.0), 2),
        "unrealized_pnl": round(eq.get("unrealized_pnl", 0.0), 2),
        "fees": round(fees, 2),
        "equity": round(eq.get("equity", float(runner.spec.starting_cash)), 2),
        "currency": runner.spec.currency,
        "started_at": st.started_at.isoformat() if st.started_at else None,
        "ended_at": runner.ended_at.isoformat() if runner.ended_at else None,
        "last_error": st.last_error,
    }


def stop_all(timeout: float = 10.0) -> None:
    """Stop every session running in this process (extension unload, kernel or app shutdown)."""
    for runner in live.runners().values():
        runner.stop(reason="host shutdown", timeout=timeout)


def delete_session(session: str, *, ledger: Ledger | None = None) -> str:
    """Delete a finished session and all its rows; a running one is refused."""
    from kernelext.errors import Refused
    from kernelext.ledger import ACTIVE_STATUSES

    led = _ledger(ledger)
    session_id = resolve(session, ledger=led)
    if live.get(session_id) is not None or (led.session(session_id) or {}).get("status") in ACTIVE_STATUSES:
        raise Refused(f"session: {session_id} is running; stop it before deleting")
    led.delete_session(session_id)
    _forget_notify([session_id])
    _audit_after("session.delete", {"session_id": session_id}, led)
    return session_id


def _forget_notify(session_ids: list[str]) -> None:
    """Remove the notification URLs kept for deleted sessions (``kernelext.notify.store``)."""
    from kernelext.notify import store

    for session_id in session_ids:
        store.forget(session_id)


def clear_sessions(*, ledger: Ledger | None = None) -> int:
    """Delete every finished session; returns how many went."""
    led = _ledger(ledger)
    count = led.clear_sessions()
    _audit_after("session.clear_all", {"sessions": count}, led)
    return count


def gc(older_than: str, *, ledger: Ledger | None = None) -> dict[str, Any]:
    """Remove what is older than ``older_than`` (``30d``, ``12h``): finished sessions that ended
    before the cutoff with all their rows, the Nautilus logs of dead processes and the files in
    ``$PAPERLAB_HOME/reports``. Running sessions (and live processes' logs) are never touched."""
    import re
    import time

    from kernelext.ledger import pid_alive
    from kernelext.paths import remove_older
    from kernelext.spec import parse_duration

    try:
        seconds = parse_duration(older_than)
    except SpecError as e:
        raise SpecError(f"older_than: {str(e).partition(': ')[2]}") from None
    cutoff = time.time() - seconds
    led = _ledger(ledger)
    led.mark_crashed(live_ids=live.ids())
    sessions_ = led.delete_sessions_ended_before(int(cutoff * 1e9))
    _forget_notify(sessions_)

    def running(path: Any) -> bool:
        m = re.match(r"nautilus-(\d+)", path.name)
        return bool(m) and pid_alive(int(m.group(1)))

    home = led.path.parent
    logs = remove_older(home / "logs", "nautilus-*", cutoff, keep=running)
    reports = remove_older(home / "reports", "*", cutoff)
    _audit_after("session.gc", {"older_than": older_than, "sessions": sessions_}, led)
    return {"sessions": sessions_, "logs": [str(p) for p in logs], "reports": [str(p) for p in reports]}


# -- frames ---------------------------------------------------------------------------------------


def sessions(*, ledger: Ledger | None = None) -> pl.DataFrame:
    """Every session, newest first (sessions of dead processes are marked crashed first)."""
    from kernelext.research import frames

    return frames.sessions(ledger)


def frame(name: str, session: str | None = None, *, ledger: Ledger | None = None, stage: str | None = None,
          by: str | None = None) -> pl.DataFrame:
    """A Polars frame by name (``FRAMES``) of a session (id, prefix, 'latest'; None: the newest)."""
    from kernelext.research import frames

    if name not in FRAMES:
        raise SpecError(f"frame: {name!r} is not a frame; allowed: {', '.join(FRAMES)}")
    if name == "sessions":
        return frames.sessions(ledger)
    session_id = resolve(session, ledger=ledger)
    if name == "events":
        return frames.events(session_id, stage=stage, ledger=ledger)
    if name == "perf":
        return frames.performance(session_id, by=by, ledger=ledger)
    return getattr(frames, name)(session_id, ledger=ledger)


# -- research -------------------------------------------------------------------------------------


def backtest(session_spec: SessionSpec | None = None, *, like: str | None = None, bars: int | None = None,
             label: str | None = None, ledger: Ledger | None = None) -> str:
    """A ``BacktestEngine`` run of a spec (or ``like=SESSION``: exactly the bars it saw), recorded
    as a ``backtest`` session; returns its id."""
    from kernelext.research.backtest import backtest as run

    if session_spec is None and like is None:
        raise SpecError("backtest: give a spec (strategy and instrument) or like=SESSION")
    if like is not None:
        like = resolve(like, ledger=ledger)
    return run(session_spec, like=like, bars=bars, label=label, ledger=ledger)


def backtest_summary(session_id: str, *, ledger: Ledger | None = None) -> dict[str, Any]:
    """Fills, round trips, P&L, fees, win rate, drawdown and Sharpe of a recorded backtest."""
    from kernelext.research import frames

    perf = frames.performance(session_id, ledger=ledger)
    fills = frames.fills(session_id, ledger=ledger)
    row = perf.row(0, named=True) if perf.height else {}
    return {
        "session_id": session_id, "kind": "backtest", "status": "stopped", "fills": fills.height,
        "trades": row.get("trades", 0), "realized_pnl": round(row.get("realized_pnl") or 0.0, 2),
        "fees": round(row.get("fees") or 0.0, 2), "win_rate": row.get("win_rate"),
        "max_drawdown_pct": row.get("max_drawdown_pct"), "sharpe": row.get("sharpe"),
    }


def compare(*sessions_: str, html: str | None = None, ledger: Ledger | None = None) -> Comparison:
    """Backtest vs paper[ vs live]: metrics side by side and a plain-words assessment.

    ``html``: also write the self-contained report there (checked before the work is done).
    """
    from kernelext.research.compare import compare as run

    from kernelext.paths import check_output_file, write_file

    if html is not None:
        check_output_file(html, field="html", suffixes=(".html", ".htm"))
    if not 2 <= len(sessions_) <= 3:
        raise SpecError(f"sessions: give 2 or 3 sessions (backtest, paper[, live]); got {len(sessions_)}")
    sessions_ = tuple(resolve(s, ledger=ledger) for s in sessions_)
    result = run(*sessions_, ledger=ledger)
    if html is not None:
        write_file(html, "html", lambda: result.to_html(html))
    return result


# -- venues ---------------------------------------------------------------------------------------


def gateway_status(venue: str, *, timeout: float = 5.0, ledger: Ledger | None = None) -> Any:
    """A read-only probe of a venue's gateway (account at rest, or why not), recorded as health."""
    from kernelext import venues

    if not 0 < timeout <= 600:
        raise SpecError(f"timeout: expected seconds between 0 and 600 (got {timeout:g})")
    result = venues.get(venue).probe(_ledger(ledger), timeout)
    if result is None:
        raise SpecError(f"venue: {venue} has no gateway to probe")
    return result


def to_json(value: Any) -> str:
    """One JSON line (datetimes as ISO text)."""
    return json.dumps(value, default=str)


# -- views: what the widgets and the app read (live views poll these) ---------------------------
# Appended as a section of its own: thin wrappers over ``ledger.queries`` and the venue registry,
# so a view never reaches below the facade. Constants are the ledger's own (sqlite only to import).

from kernelext.ledger.queries import EQUITY_FIELDS  # noqa: E402
from kernelext.ledger.sessions import ACTIVE_STATUSES  # noqa: E402

__all__ += [
    "ACTIVE_STATUSES",
    "EQUITY_FIELDS",
    "open_ledger",
    "session_row",
    "session_statuses",
    "session_processes",
    "sleeves",
    "counts_by_sleeve",
    "fill_count",
    "events_after",
    "equity_after",
    "feed_history",
    "gateway_health",
    "ledger_version",
    "live_events",
]


def open_ledger(ledger: Ledger | None = None) -> Ledger:
    """The ledger a view keeps for its reads: ``ledger`` itself, else the default one."""
    return _ledger(ledger)


def ledger_version(*, ledger: Ledger | None = None) -> tuple[int, int, int]:
    """A token that changes whenever anything was committed to the ledger (by any thread or process)
    since the calling thread's previous call: a live view polls it often and reads rows only when it
    changed. Cheap (no table is read); a token of another thread never equals this thread's."""
    return _ledger(ledger).data_version()


def live_events(session_id: str, *, notify: Callable[[Event], None] | None = None,
                maxlen: int = 20_000, settle: float = 2.0) -> View | None:
    """The events of a session that runs in this process, pushed as its node publishes them (before
    the ledger stores them): a bounded buffer to ``drain()`` (``dropped`` counts what overflowed),
    ``close()`` ends it. ``notify(event)`` is called on the publishing thread after each event (hand a
    wake-up on; never block there). Returns once what the session published before is stored (at
    most ``settle`` seconds of a busy ledger), so a read of the ledger after this misses nothing
    the buffer lacks. None when the session does not run in this process."""
    runner = live.get(session_id)
    hub = getattr(runner, "hub", None)
    if hub is None:
        return None
    view = hub.subscribe(maxlen, notify=notify)
    runner.writer.flush(settle)
    return view


def session_row(session_id: str, *, ledger: Ledger | None = None) -> dict[str, Any] | None:
    """label, kind, venue, feed, status and last_error of one session (an exact id); None when gone."""
    from kernelext.ledger import queries

    return queries.session_header(_ledger(ledger), session_id)


def session_statuses(*, ledger: Ledger | None = None) -> list[tuple[str, str]]:
    """(id, status) of every session, by id: what a history view reloads for."""
    from kernelext.ledger import queries

    return queries.session_statuses(_ledger(ledger))


def session_processes(session_id: str | None = None, *, active: bool = False,
                      ledger: Ledger | None = None) -> list[dict[str, Any]]:
    """id, status, pid, host and ``alive`` of one session (empty when gone), of every session, or
    (``active``) of those in an active status, newest first.

    ``alive``: the session is active and its process may still be running it (here: its runner
    is live; another process of this host: that pid runs; another host: assumed).
    """
    from kernelext.ledger import queries

    led = _ledger(ledger)
    rows = queries.active_session_processes(led) if active else queries.session_processes(led, session_id)
    return [{**row, "alive": _alive(row)} for row in rows]


def _alive(row: dict[str, Any]) -> bool:
    import os
    import socket

    from kernelext.ledger import pid_alive

    if row.get("status") not in ACTIVE_STATUSES:
        return False
    if row.get("host") not in (None, socket.gethostname()):
        return True  # another host: we cannot tell, assume it runs
    pid = row.get("pid")
    if pid == os.getpid():
        return live.get(row.get("id") or "") is not None
    return pid is None or pid_alive(pid)


def sleeves(session_id: str | None = None, *, ledger: Ledger | None = None) -> list[dict[str, Any]]:
    """The sleeves (session_id, sleeve, strategy_key, instrument, ...) of one session or of all."""
    from kernelext.ledger import queries

    return queries.sleeves(_ledger(ledger), session_id)


def counts_by_sleeve(session_id: str, table: str, *, ledger: Ledger | None = None) -> dict[str | None, int]:
    """Rows of ``table`` ("fills" or "orders") per sleeve of one session."""
    from kernelext.ledger import queries

    if table not in ("fills", "orders"):
        raise SpecError(f"table: {table!r} is not counted by sleeve; allowed: fills, orders")
    return queries.counts_by_sleeve(_ledger(ledger), session_id, table)  # type: ignore[arg-type]


def fill_count(session_id: str | None = None, *, ledger: Ledger | None = None) -> int:
    """Fills of one session, or of every session."""
    from kernelext.ledger import queries

    return queries.fill_count(_ledger(ledger), session_id)


def events_after(session_id: str, after_id: int, *, limit: int = 5000,
                 ledger: Ledger | None = None) -> tuple[list[tuple], int, bool]:
    """A session's event rows ``(id, sleeve, stage, message, ts, extras_json)`` stored after
    ``events.id`` ``after_id`` -> (rows, the id to read after next time, full: more is waiting).

    A range scan up to the table's current top, so a poll reads about what was written since the
    previous one; the next poll may start at that top (event ids are never reused).
    """
    from kernelext.ledger import queries

    led = _ledger(ledger)
    top = queries.max_event_id(led)
    if top <= after_id:
        return [], after_id, False
    rows = queries.feed_events_between(led, session_id, after_id, top, limit)
    full = len(rows) >= limit
    return rows, (int(rows[-1][0]) if full else top), full


def equity_after(session_id: str, after_rowid: int | None, *, limit: int = 5000,
                 ledger: Ledger | None = None) -> tuple[list[tuple], int | None, bool]:
    """A session's equity rows ``(rowid, ts, *EQUITY_FIELDS, currency)`` after its row ``after_rowid``
    (None: from its first) -> (rows, its last rowid read, full: more is waiting).

    Equity rowids are not AUTOINCREMENT (a delete at the table's end lets them be reused), so the
    next read starts after the session's own last row, not at the table's top.
    """
    from kernelext.ledger import queries

    led = _ledger(ledger)
    if after_rowid is None:
        rows = queries.feed_equity_first(led, session_id, limit)
    else:
        top = queries.max_equity_rowid(led)
        rows = queries.feed_equity_between(led, session_id, after_rowid, top, limit) if top > after_rowid else []
    last = int(rows[-1][0]) if rows else after_rowid
    return rows, last, len(rows) >= limit


def feed_history(session_id: str, per_class: int, *, classes: tuple[str, ...] = (),
                 ledger: Ledger | None = None) -> tuple[list[tuple], list[tuple], int, int]:
    """A live view's first read: the last ``per_class`` events of each stage class (GLOB patterns in
    ``classes``) and of the other stages (``equity.*`` left out), oldest first; the last ``per_class``
    equity rows -> (event rows, equity rows, rows left out, the events id to read after next).
    """
    from kernelext.ledger import queries

    led = _ledger(ledger)
    top = queries.max_event_id(led)
    rows: list[tuple] = []
    for pattern in classes:
        rows += queries.feed_latest_events(led, session_id, top, per_class, glob=pattern)
    rows += queries.feed_latest_events(led, session_id, top, per_class, exclude=(*classes, "equity.*"))
    rows.sort(key=lambda r: r[0])
    points = queries.feed_equity_last(led, session_id, per_class)
    n_events, n_points = queries.feed_totals(led, session_id)
    return rows, points, n_events + n_points - len(rows) - len(points), top


def gateway_health(venue: str | None, *, ledger: Ledger | None = None) -> Any:
    """The latest recorded health of a venue's gateway (None: none recorded, no gateway, no such venue)."""
    from kernelext import venues

    found = venues.find(venue)
    return found.health(_ledger(ledger)) if found is not None else None


# -- detached sessions: supervised processes ----------------------------------------------------
# A section of its own: a detached session runs in a process of its own under the supervisor
# (``kernelext.supervisor``), which relaunches it when its process dies.

__all__ += ["start_detached", "detached_ids", "supervise", "supervisor_pid", "stop_supervisor"]


def start_detached(session_spec: SessionSpec, *, ledger: Ledger | None = None) -> str:
    """Hand a validated spec to the supervisor (started on demand); returns the session id at once.

    The session's row (status ``starting``) and its launch request go to the ledger; the
    supervisor starts the session's own process, which claims the row (its pid). Without ``notify``
    in the spec, ``$PAPERLAB_NOTIFY`` is used (the ledger keeps the URLs masked). The supervisor
    reads ``$PAPERLAB_HOME``'s ledger: another ``ledger`` is refused in one line.
    """
    import dataclasses

    from kernelext.notify.urls import from_env
    from kernelext.supervisor.request import request_launch
    from kernelext.supervisor.spawn import ensure_running

    if not session_spec.notify:  # $PAPERLAB_NOTIFY, checked before anything starts or is written
        session_spec = dataclasses.replace(session_spec, notify=from_env())
    led = _ledger(ledger)
    _check_supervised_ledger(led)
    ensure_running()
    return request_launch(session_spec, led)


def _check_supervised_ledger(led: Ledger) -> None:
    """``Refused`` unless ``led`` is the ledger the supervisor watches (``$PAPERLAB_HOME``'s)."""
    from kernelext.errors import Refused
    from kernelext.ledger import default_path

    if not led.is_default:
        raise Refused(f"detach: detached sessions use the ledger of $PAPERLAB_LEDGER_URL or else $PAPERLAB_HOME "
                      f"({default_path()}), not {led.where}; point PAPERLAB_HOME (or PAPERLAB_LEDGER_URL) at it")


def detached_ids(*, ledger: Ledger | None = None) -> set[str]:
    """Ids of the sessions started detached (handed to the supervisor), whatever their status now."""
    from kernelext.ledger import SESSION_STATUSES, queries
    from kernelext.supervisor.request import LAUNCH

    rows = queries.detached_sessions(_ledger(ledger), LAUNCH, sorted(SESSION_STATUSES))
    return {row["id"] for row in rows}


def supervise(cluster: str | None = None) -> int:
    """Run the supervisor in the foreground until SIGTERM/SIGINT (``paperlab supervise``); ``cluster``
    (``auto`` or a Ray address; default ``$PAPERLAB_CLUSTER``) places the sessions on a Ray cluster."""
    from kernelext.supervisor.daemon import serve

    return serve(cluster)


def supervisor_pid() -> int | None:
    """The pid of the supervisor of this ``PAPERLAB_HOME``, or None when none runs."""
    from kernelext.supervisor.files import running_pid

    return running_pid()


def stop_supervisor(timeout: float = 10.0) -> int | None:
    """Stop the supervisor (its sessions keep running); its pid, or None when none ran."""
    from kernelext.supervisor.daemon import stop

    return stop(timeout)


# -- the shell: status of any session, kill everything, a session's log ---------------------------
# Appended as a section of its own (``paperlab status|kill --all|logs|orders ...`` and the dashboard's
# Log tab call these).

__all__ += ["running_sessions", "status_report", "kill_all", "open_frame", "logs"]

OPEN_FRAMES: tuple[str, ...] = ("orders", "positions")
"""Frames with open rows: orders not in a final status, positions with a non-zero quantity."""


def running_sessions(*, ledger: Ledger | None = None) -> list[str]:
    """Ids of the sessions in an active status whose process is alive (here or elsewhere), newest first."""
    led = _ledger(ledger)
    led.mark_crashed(live_ids=live.ids())
    return [row["id"] for row in session_processes(active=True, ledger=led) if row["alive"]]


def open_frame(name: str, session: str | None = None, *, open_only: bool = False,
               ledger: Ledger | None = None) -> pl.DataFrame:
    """``frame(name, session)``; ``open_only``: only its open rows (``OPEN_FRAMES``)."""
    if open_only and name not in OPEN_FRAMES:
        raise SpecError(f"open: only for {', '.join(OPEN_FRAMES)} (not {name})")
    df = frame(name, session, ledger=ledger)
    return _open_rows(name, df) if open_only else df


def _open_rows(name: str, df: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    from kernelext.ledger.queries import FINAL_ORDER_STATUSES

    if name == "orders":
        return df.filter(~pl.col("status").is_in(FINAL_ORDER_STATUSES) | pl.col("status").is_null())
    return df.filter(pl.col("quantity").fill_null(0.0) != 0.0)


def status_report(session: str | None, *, ledger: Ledger | None = None) -> dict[str, Any]:
    """Everything a person asks of a session running anywhere, as plain JSON-able data: state,
    pid, host, feed, venue, counters, open orders, positions, equity, last error, dropped events,
    relaunches. Its live runner answers when it runs here, else the ledger."""
    from kernelext.ledger import queries

    led = _ledger(ledger)
    led.mark_crashed(live_ids=live.ids())
    session_id = resolve(session, ledger=led)
    row = queries.session_process_row(led, session_id) or {"id": session_id}
    positions = _open_rows("positions", frame("positions", session_id, ledger=led))
    orders = frame("orders", session_id, ledger=led)
    equity = queries.last_equity(led, session_id) or {}
    report: dict[str, Any] = {
        "session_id": session_id, "label": row.get("label"), "kind": row.get("kind"), "state": row.get("status"),
        "trading_state": None, "where": "ledger", "alive": _alive(row), "pid": row.get("pid"),
        "host": row.get("host"), "feed": row.get("feed"), "venue": row.get("venue"),
        "started_at": _iso(row.get("started_at")), "ended_at": _iso(row.get("ended_at")),
        "bars": queries.live_bar_facts(led, session_id)[0], "orders": orders.height,
        "fills": queries.fill_count(led, session_id), "open_orders": _open_rows("orders", orders).height,
        "part_filled": _part_filled(orders),
        "positions": [{k: p[k] for k in _POSITION_KEYS} for p in positions.iter_rows(named=True)],
        "equity": {k: equity.get(k) for k in EQUITY_FIELDS}, "currency": equity.get("currency"),
        "last_error": row.get("last_error"), "dropped": None,
        "relaunches": queries.stage_count(led, session_id, "session.relaunched"),
    }
    runner = live.get(session_id)
    if runner is not None:
        st = runner.status()
        report.update(where="this process", state=st.state, trading_state=st.trading_state, bars=st.bars,
                      orders=max(st.orders, orders.height), fills=max(st.fills, report["fills"]),
                      dropped=st.dropped, last_error=st.last_error or report["last_error"])
        if st.equity:
            report["equity"] = {k: st.equity.get(k) for k in EQUITY_FIELDS}
    return report


def _part_filled(orders: pl.DataFrame) -> list[dict[str, Any]]:
    """Orders with some but not all of their quantity filled: id, side, filled and ordered quantity."""
    import polars as pl

    rows = orders.filter((pl.col("filled_qty") > 0) & (pl.col("filled_qty") < pl.col("quantity") - 1e-12))
    return [{"client_order_id": r["client_order_id"], "side": r["side"], "status": r["status"],
             "filled": r["filled_qty"], "quantity": r["quantity"]} for r in rows.iter_rows(named=True)]


_POSITION_KEYS = ("sleeve", "instrument", "side", "quantity", "avg_px_open", "realized_pnl", "unrealized_pnl")


def _iso(ns: int | None) -> str | None:
    import datetime as dt

    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat() if ns else None


def kill_all(timeout: float = 30.0, *, ledger: Ledger | None = None) -> list[str]:
    """Kill (flatten, then stop) every running session of this ledger, in this process's threads and
    in other processes, all at once; returns the ids killed. A session that would not die is one
    ``ControlError`` line (after the others were killed)."""
    from kernelext.errors import ControlError
    from kernelext.session import control as controls

    if not 0 < timeout <= 600:
        raise SpecError(f"timeout: expected seconds between 0 and 600 (got {timeout:g})")
    led = _ledger(ledger)
    ids = running_sessions(ledger=led)
    results = controls.send_all(ids, "kill", ledger=led, timeout=timeout)
    killed = [sid for sid in ids if results.get(sid) == "ok"]
    failed = [(sid, results.get(sid) or f"did not stop within {timeout:g}s") for sid in ids if sid not in killed]
    _audit_after("control.kill_all", {"killed": killed, "failed": [sid for sid, _ in failed]}, led)
    if failed:
        sid, why = failed[0]
        raise ControlError(f"kill: {len(killed)} of {len(ids)} killed; session {sid}: {why}")
    return killed


def logs(session: str | None, *, follow: bool = False, lines: int | None = 50, poll: float = 0.25,
         ledger: Ledger | None = None) -> Iterator[str]:
    """The session's own log lines (Nautilus's, its strategies' ``self.log`` included): the last
    ``lines`` (None: every one in the file's tail); ``follow``: then new ones until the session ends."""
    import socket

    from kernelext.errors import Refused

    if lines is not None and lines < 1:
        raise SpecError(f"lines: expected a whole number of at least 1 (got {lines})")
    led = _ledger(ledger)
    session_id = resolve(session, ledger=led)
    from kernelext.ledger import queries

    row = queries.session_process_row(led, session_id) or {}
    if row.get("host") not in (None, socket.gethostname()):
        raise Refused(f"session: {session_id} ran on host {row['host']}; its log is there")
    return _log_lines(session_id, lambda: _log_file(session_id, row.get("pid"), led), follow=follow, lines=lines,
                      poll=poll, since_ns=row.get("started_at"), ledger=led)


def _log_file(session_id: str, pid: int | None, ledger: Ledger) -> tuple[Path | None, str]:
    """The log file and trader id its ``session.running`` event names (else
    ``$PAPERLAB_HOME/logs/nautilus-<pid>.log`` and its own trader id)."""
    from pathlib import Path

    from kernelext.ledger import queries
    from kernelext.session.logs import log_path, trader_id

    for *_, extras in queries.events(ledger, session_id, "session.running"):
        named = json.loads(extras or "{}")
        if named.get("log"):
            return Path(named["log"]), named.get("log_trader") or trader_id(session_id)
    return (log_path(pid) if pid is not None else None), trader_id(session_id)


def _log_lines(session_id: str, find: Callable[[], tuple[Path | None, str]], *, follow: bool, lines: int | None,
               poll: float, since_ns: int | None, ledger: Ledger) -> Iterator[str]:
    import time

    from kernelext.ledger import queries
    from kernelext.session.logs import session_log_lines

    path, trader = find()
    until_ns = (queries.session_process_row(ledger, session_id) or {}).get("ended_at")
    tail, offset = session_log_lines(trader, path, since_ns=since_ns, until_ns=until_ns)
    yield from tail[-lines:] if lines else tail
    while follow:
        ended = not (session_processes(session_id, ledger=ledger) or [{}])[0].get("alive")
        if path is None or not path.exists():  # a session just started: its running event may be on its way
            (path, trader), offset = find(), 0
        new, offset = session_log_lines(trader, path, after=offset, since_ns=since_ns)
        yield from new
        if ended:
            return
        time.sleep(poll)


# -- reports: one session as a self-contained HTML page -----------------------------------------
# A section of its own (``paperlab report`` and ``%paper report`` call it).

__all__ += ["report"]

if TYPE_CHECKING:
    from kernelext.research.report import Report


def report(session: str | None, html: str | None = None, *, notify: str | Sequence[str] | None = None,
           final: bool = False, ledger: Ledger | None = None) -> Report:
    """A session's ``Report`` (research.report): status, round trips, P&L, drawdown, fees, win rate,
    equity and price charts and, for a paper session that recorded bars, the comparison with a
    ``backtest(like=session)`` re-run and a recommendation. Written to ``html`` (checked first),
    else to ``$PAPERLAB_HOME/reports/<session>-<UTC time>.html``; ``Report.path`` says where.

    ``notify``: apprise URLs sent the session's figures and the path (None: ``$PAPERLAB_NOTIFY`` if
    set; empty: none); ``Report.deliveries`` says how each (masked) took it. ``final``: the report at
    a session's end. Each report is recorded as a ``report.written`` event of the session."""
    from kernelext.notify.urls import from_env, parse_urls
    from kernelext.paths import check_output_file, write_file
    from kernelext.research import report as reports

    targets = from_env() if notify is None else parse_urls(notify)
    if html is not None:
        check_output_file(html, field="html", suffixes=(".html", ".htm"))
    led = _ledger(ledger)
    session_id = resolve(session, ledger=led)
    why_not = reports.comparable(led, session_id)
    backtest_id = comparison = None
    if why_not is None:
        backtest_id = backtest(like=session_id, ledger=led)
        comparison = compare(backtest_id, session_id, ledger=led)
    result = reports.build(session_id, comparison=comparison, backtest_id=backtest_id, no_comparison=why_not,
                           ledger=led)
    out = html if html is not None else reports.default_path(led.path.parent, session_id)
    write_file(out, "html", lambda: result.write(out))
    _announce(result, targets, final, led)
    return result


def _announce(result: Report, urls: tuple[str, ...], final: bool, ledger: Ledger) -> None:
    """Notify ``urls`` of a written report (never raises) and record it as ``report.written``."""
    from kernelext.events import Event, now_ns
    from kernelext.ledger import queries
    from kernelext.notify import messages
    from kernelext.notify.notifier import Notifier

    s, m = result.session, result.metrics
    equity = queries.last_equity(ledger, result.session_id) or {}
    figures = {"status": s.get("status"), "trades": m.get("trades"), "realized_pnl": m.get("realized_pnl"),
               "fees": m.get("fees"), "win_rate": m.get("win_rate"), "max_drawdown_pct": m.get("max_drawdown_pct"),
               "equity": equity.get("equity"), "currency": equity.get("currency"),
               "recommendation": result.recommendation}
    if urls:
        message = messages.report(result.session_id, s.get("label"), figures, str(result.path), final=final)
        result.deliveries = Notifier(urls).send(message)
    what = "final report" if final else "report"
    ledger.write_events([Event(result.session_id, None, "report.written", f"{what} written: {result.path}", now_ns(), {
        "path": str(result.path), "final": final, "backtest_id": result.backtest_id,
        "notified": [d.url for d in result.deliveries if d.ok],
        **{k: v for k, v in figures.items() if k in ("trades", "realized_pnl", "fees")},
    })])


# -- charts: what the dashboard's price chart reads ---------------------------------------------
# A section of its own (``widgets.price_chart`` polls these; the bars table keeps every bar the
# strategies saw, so a chart in any process can follow a running session).

from kernelext.ledger.queries import FINAL_ORDER_STATUSES  # noqa: E402

__all__ += ["FINAL_ORDER_STATUSES", "bar_types", "bars_tail"]


def bar_types(session_id: str, *, ledger: Ledger | None = None) -> list[str]:
    """The bar types (``BTC/USD.KRAKEN-1-MINUTE-LAST-EXTERNAL``) the session's strategies saw live bars
    of, sorted (warm-up-only bar types left out)."""
    from kernelext.ledger import queries

    return queries.live_bar_types(_ledger(ledger), session_id)


def bars_tail(session_id: str, bar_type: str, *, after_ts: int | None = None, limit: int = 500,
              ledger: Ledger | None = None) -> list[tuple]:
    """The last ``limit`` live bars ``(ts, open, high, low, close, volume)`` of one bar type of a session
    (an exact id), oldest first; ``after_ts``: only those after it (a poll reads what arrived since)."""
    from kernelext.ledger import queries

    if limit < 1:
        raise SpecError(f"limit: expected a whole number of at least 1 (got {limit})")
    return queries.live_bars_tail(_ledger(ledger), session_id, bar_type, -1 if after_ts is None else after_ts,
                                  limit)


# -- the audit log: who did what, through which surface (append-only, hash-chained) ---------------

__all__ += ["record_audit", "audit", "verify_audit", "parse_since"]


def record_audit(action: str, detail: dict[str, Any] | None = None, *, ledger: Ledger | None = None) -> None:
    """Append an audit row for ``action`` as the current actor (``kernelext.actor``), its surface
    in the detail. Raises when the ledger cannot take it (the caller decides whether to go on)."""
    from kernelext.actor import current

    actor = current()
    _ledger(ledger).append_audit(str(actor), action, {"surface": actor.surface, **(detail or {})})


def _audit_after(action: str, detail: dict[str, Any], ledger: Ledger | None) -> None:
    """Record an action that already happened (a control, a delete): a ledger that cannot take the
    row is said in one warning line, never undoes or fails what was done."""
    import logging

    try:
        record_audit(action, detail, ledger=ledger)
    except Exception as e:  # noqa: BLE001  (a busy or read-only ledger: say so, keep going)
        from kernelext.errors import one_line

        logging.getLogger(__name__).warning("audit: could not record %s (%s)", action, one_line(e))


def parse_since(text: str | None) -> int:
    """``--since``: a duration back from now (``2h``, ``7d``) or an ISO time (US/Eastern unless it has
    an offset) -> UTC ns; None -> 0 (from the start)."""
    import datetime as dt
    import time

    from kernelext.spec import EASTERN, parse_duration

    if text in (None, ""):
        return 0
    try:
        return time.time_ns() - int(parse_duration(text) * 1e9)
    except SpecError:
        pass
    try:
        when = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise SpecError(f"since: expected a duration back from now like 2h or 7d, or an ISO time like "
                        f"2026-12-01T09:30 (got {text!r})") from None
    return int((when if when.tzinfo else when.replace(tzinfo=EASTERN)).timestamp() * 1e9)


def audit(session: str | None = None, *, since: str | None = None, limit: int | None = None,
          ledger: Ledger | None = None) -> pl.DataFrame:
    """The audit log as a frame, oldest first: every order intent with its risk decision, control,
    approval, delete, login and live start (``session``: the rows naming it; ``since``: ``2h`` or an
    ISO time; ``limit``: the newest that many)."""
    from kernelext.research import frames

    if limit is not None and not 0 < limit <= 1_000_000:
        raise SpecError(f"limit: expected a whole number between 1 and 1000000 (got {limit})")
    return frames.audit(session, ledger, since_ns=parse_since(since), limit=limit)


def verify_audit(*, ledger: Ledger | None = None) -> Any:
    """Check the audit chain from its first row (``AuditCheck``: ``ok``, ``rows``, ``broken_row``, ``line()``)."""
    return _ledger(ledger).verify_audit()


def copy_ledger(to: str | None = None, *, source: str | None = None) -> Any:
    """Copy the SQLite ledger (``source``: a file or its folder; default ``$PAPERLAB_HOME``'s) into the
    empty PostgreSQL ledger at ``to`` (default ``$PAPERLAB_LEDGER_URL``); ``CopyResult`` (``line()``)."""
    from kernelext.ledger import default_path
    from pathlib import Path

    from kernelext.ledger import Ledger
    from kernelext.ledger.connection import ledger_url
    from kernelext.ledger.copy import copy_ledger as _copy
    from kernelext.ledger.dialect import mask_url

    target = to or ledger_url()
    if not target:
        raise SpecError("to: give a postgresql://USER:PASSWORD@HOST:PORT/DATABASE URL (or set PAPERLAB_LEDGER_URL)")
    result = _copy(source or default_path(), target)
    copied = {"rows": sum(result.rows.values()), "audit_ok": bool(result.audit and result.audit.ok)}
    for where, said in ((target, {"from": str(result.source)}), (Path(result.source), {"to": mask_url(target)})):
        ledger = Ledger(where)  # the copy's side after its copied chain, then the file it came from
        try:
            _audit_after("ledger.copy", {**said, **copied}, ledger)
        finally:
            ledger.close()
    return result


# -- live approvals (the research ladder's last rung) -----------------------------------------------

__all__ += ["live_start", "approve_live", "revoke_live", "approvals"]


def approve_live(strategy: str, instrument: str, *, note: str, params: dict[str, Any] | str | None = None,
                 paper_session: str | None = None, ledger: Ledger | None = None) -> dict[str, Any]:
    """Approve ``strategy`` on ``instrument`` (``params``: only exactly these) for live trading, after a
    paper session of theirs that traded (``paper_session``, default the newest); audited."""
    from kernelext.research.approvals import approve

    return approve(strategy, instrument, note=note, params=params, paper_session=paper_session,
                   ledger=_ledger(ledger))


def revoke_live(strategy: str, instrument: str, *, params: dict[str, Any] | str | None = None,
                ledger: Ledger | None = None) -> list[int]:
    """Revoke the live approvals of ``strategy`` on ``instrument``; the ids revoked (audited)."""
    from kernelext.research.approvals import revoke

    return revoke(strategy, instrument, params=params, ledger=_ledger(ledger))


def approvals(*, include_revoked: bool = False, ledger: Ledger | None = None) -> pl.DataFrame:
    """Live approvals, newest first: who approved which strategy/instrument/params, when, why, after
    which paper session (and who revoked it, with ``include_revoked``)."""
    import polars as pl_

    from kernelext.ledger import queries

    rows = queries.approvals(_ledger(ledger), active_only=not include_revoked)
    schema = {"id": pl_.Int64, "strategy_key": pl_.Utf8, "instrument": pl_.Utf8, "params_json": pl_.Utf8,
              "paper_session": pl_.Utf8, "note": pl_.Utf8, "approved_by": pl_.Utf8, "approved_ts": pl_.Int64,
              "revoked_by": pl_.Utf8, "revoked_ts": pl_.Int64}
    df = pl_.DataFrame(rows, schema=schema, orient="row") if rows else pl_.DataFrame(schema=schema)
    return df.with_columns(pl_.from_epoch("approved_ts", time_unit="ns").dt.replace_time_zone("UTC").alias("approved_at"))


# -- the HTTP API: bearer tokens and the all-sessions event stream --------------------------------
# A section of its own (``paperlab token``, ``kernelext.surfaces.http``). A token's secret is
# returned once by ``create_token`` and only a salted scrypt hash is stored (``ledger/tokens.py``).

__all__ += ["TOKEN_SCOPES", "create_token", "api_tokens", "revoke_token", "check_token", "all_events_after"]

from kernelext.ledger.tokens import SCOPES as TOKEN_SCOPES  # noqa: E402


def create_token(name: str, scope: str, *, ledger: Ledger | None = None) -> dict[str, Any]:
    """A new API token ``{name, scope, id, token}``: ``token`` is the secret, shown this once."""
    import re

    from kernelext.actor import current
    from kernelext.errors import Refused
    from kernelext.ledger import queries
    from kernelext.ledger.tokens import new_token

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name or ""):
        raise SpecError(f"name: 1-64 letters, digits, '_', '.' or '-' (got {name!r})")
    if scope not in TOKEN_SCOPES:
        raise SpecError(f"scope: {scope!r} is not a scope; allowed: {', '.join(TOKEN_SCOPES)}")
    led = _ledger(ledger)
    if any(t["name"] == name for t in queries.api_tokens(led, live_only=True)):
        raise Refused(f"name: a token called {name} exists; revoke it first or pick another name")
    text, token_id, secret = new_token()
    led.insert_api_token(token_id, name, scope, secret, str(current()))
    _audit_after("token.create", {"token": name, "scope": scope, "token_id": token_id}, led)
    return {"name": name, "scope": scope, "id": token_id, "token": text}


def api_tokens(*, ledger: Ledger | None = None) -> list[dict[str, Any]]:
    """Every token (revoked ones too), oldest first: id, name, scope, who made and revoked it, when."""
    from kernelext.ledger import queries

    return queries.api_tokens(_ledger(ledger))


def revoke_token(name: str, *, ledger: Ledger | None = None) -> str:
    """Revoke the live token called ``name`` (it stops working at once); returns the name."""
    from kernelext.actor import current

    led = _ledger(ledger)
    if not led.revoke_api_token(name, str(current())):
        raise NotFound(f"token: no live token called {name!r}")
    _audit_after("token.revoke", {"token": name}, led)
    return name


def check_token(text: str, *, ledger: Ledger | None = None) -> dict[str, Any] | None:
    """The live token ``text`` is (``{id, name, scope}``), or None when it is not one (revoked: at once;
    a token checked before skips the scrypt hash while its row is unchanged)."""
    from kernelext.ledger import queries
    from kernelext.ledger.tokens import secret_matches, split_token

    parts = split_token(text or "")
    row = queries.api_token(_ledger(ledger), parts[0]) if parts else None
    if parts is None or row is None or row["revoked_ts"] is not None:
        return None
    seen = _hashlib.sha256(text.encode("utf-8")).hexdigest()  # in memory only: skips scrypt next time
    if _checked_tokens.get(seen) != row["hash"]:
        if not secret_matches(parts[1], row["salt"], row["hash"]):
            return None
        if len(_checked_tokens) > 1000:
            _checked_tokens.clear()
        _checked_tokens[seen] = row["hash"]
    return {k: row[k] for k in ("id", "name", "scope")}


import hashlib as _hashlib  # noqa: E402

_checked_tokens: dict[str, str] = {}  # sha256(token) -> the stored hash it was checked against


def all_events_after(after_id: int, *, limit: int = 5000,
                     ledger: Ledger | None = None) -> tuple[list[tuple], int, bool]:
    """Every session's event rows ``(id, session_id, sleeve, stage, message, ts, extras_json)`` after
    ``events.id`` ``after_id`` (negative: none yet, from now on) -> (rows, the id to read after next time,
    full) (``events_after``'s shape)."""
    from kernelext.ledger import queries

    led = _ledger(ledger)
    top = queries.max_event_id(led)
    if after_id < 0:  # from now on
        return [], top, False
    if top <= after_id:
        return [], after_id, False
    rows = queries.feed_all_events_between(led, after_id, top, limit)
    full = len(rows) >= limit
    return rows, (int(rows[-1][0]) if full else top), full
