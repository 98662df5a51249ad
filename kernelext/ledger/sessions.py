"""Session rows: create, status, look up, resolve a prefix, mark crashed, delete."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kernelext.events import now_ns
from kernelext.ledger.busy import integrity_errors
from kernelext.ledger.codec import dumps
from kernelext.ledger.connection import Connections
from kernelext.ledger.schema import SESSION_TABLES

log = logging.getLogger(__name__)

SESSION_STATUSES: frozenset[str] = frozenset(
    {"starting", "running", "paused", "stopped", "error", "crashed"}
)
ACTIVE_STATUSES: tuple[str, ...] = ("starting", "running", "paused")
SESSION_COLUMNS = ("id, label, kind, venue, feed, spec_json, status, started_at, ended_at, last_error, pid, host")


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` names a live (non-zombie) process on this host."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Linux: a reaped-later child still answers kill(pid, 0); /proc says 'Z'."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].strip()[:1] in ("Z", "X")


def _check_status(status: str) -> None:
    """Reject unknown session statuses."""
    if status not in SESSION_STATUSES:
        raise ValueError(f"unknown session status {status!r}; one of {sorted(SESSION_STATUSES)}")


def _delete(con: Any, ids: list[str]) -> None:
    """Delete sessions ``ids`` and their rows in every table, inside the caller's transaction."""
    keys = [(i,) for i in ids]
    for table in SESSION_TABLES:
        con.executemany(f"DELETE FROM {table} WHERE session_id = ?", keys)
    con.executemany("DELETE FROM sessions WHERE id = ?", keys)


class Sessions(Connections):
    """The ``sessions`` and ``sleeves`` tables (part of :class:`~kernelext.ledger.Ledger`)."""

    def create_session(
        self,
        session_id: str,
        *,
        label: str,
        kind: str,
        venue: str,
        feed: str,
        spec: dict[str, Any],
        sleeves: list[dict[str, Any]],
        started_at: int,
        status: str = "starting",
        in_this_process: bool = True,
    ) -> None:
        """Insert the session row and its sleeves in one transaction (pid/host of this process;
        ``in_this_process=False``: no pid yet, another process will claim it)."""
        _check_status(status)
        sleeve_rows = [
            (
                session_id, s["sleeve"], s.get("strategy_key"), s.get("instrument"),
                s.get("bar_spec"), dumps(s.get("params") or {}), s.get("strategy_id"),
            )
            for s in sleeves
        ]
        try:
            with self.transaction() as con:
                con.execute(
                    "INSERT INTO sessions(id, label, kind, venue, feed, spec_json, status,"
                    " started_at, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (session_id, label, kind, venue, feed, dumps(spec), status,
                     started_at, os.getpid() if in_this_process else None, self._host),
                )
                con.executemany(
                    "INSERT INTO sleeves(session_id, sleeve, strategy_key, instrument,"
                    " bar_spec, params_json, strategy_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    sleeve_rows,
                )
        except integrity_errors() as exc:
            raise ValueError(f"session {session_id!r} cannot be created: {exc}") from exc

    def set_status(
        self,
        session_id: str,
        status: str,
        *,
        ended_at: int | None = None,
        last_error: str | None = None,
    ) -> None:
        """Set a session's status (and ``ended_at`` / ``last_error`` when given)."""
        _check_status(status)
        with self.transaction() as con:
            cur = con.execute(
                "UPDATE sessions SET status = ?, ended_at = COALESCE(?, ended_at),"
                " last_error = COALESCE(?, last_error) WHERE id = ?",
                (status, ended_at, last_error, session_id),
            )
            if cur.rowcount == 0:
                raise ValueError(f"no session {session_id!r} in the ledger")

    def claim_session(self, session_id: str, *, pid: int | None, feed: str | None = None) -> None:
        """(Re)start an existing row in process ``pid`` (None: nobody yet): status ``starting``,
        this host, no end or error; ``feed`` when the start resolved it."""
        with self.transaction() as con:
            cur = con.execute(
                "UPDATE sessions SET status = 'starting', pid = ?, host = ?, ended_at = NULL,"
                " last_error = NULL, feed = COALESCE(?, feed) WHERE id = ?",
                (pid, self._host, feed, session_id),
            )
            if cur.rowcount == 0:
                raise ValueError(f"no session {session_id!r} in the ledger")

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The session row as a dict (with ``spec`` decoded and its ``sleeves``), or None."""
        found = self.query_dicts(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
        if not found:
            return None
        out = found[0]
        out["spec"] = json.loads(out["spec_json"]) if out["spec_json"] else {}
        rows = self.query(
            "SELECT sleeve, strategy_key, instrument, bar_spec, params_json, strategy_id"
            " FROM sleeves WHERE session_id = ? ORDER BY rowid",
            (session_id,),
        )
        out["sleeves"] = [
            {"sleeve": s, "strategy_key": k, "instrument": i, "bar_spec": b,
             "params": json.loads(p) if p else {}, "strategy_id": sid}
            for s, k, i, b, p, sid in rows
        ]
        return out

    def resolve_session(self, prefix_or_id: str) -> str:
        """An exact id, a unique id prefix, or "latest"/"last" (newest) -> the session id."""
        key = (prefix_or_id or "").strip()
        if key.lower() in ("latest", "last"):
            row = self._con().execute(
                "SELECT id FROM sessions ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise ValueError("no sessions in the ledger yet")
            return row[0]
        if not key:
            raise ValueError("empty session id: give an id, a unique prefix, or 'latest'")
        if self._con().execute("SELECT 1 FROM sessions WHERE id = ?", (key,)).fetchone():
            return key
        rows = self.query(
            "SELECT id FROM sessions WHERE substr(id, 1, ?) = ? ORDER BY started_at DESC",
            (len(key), key),
        )
        if not rows:
            raise ValueError(f"no session matches {key!r}")
        if len(rows) > 1:
            shown = ", ".join(r[0] for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
            raise ValueError(
                f"session prefix {key!r} is ambiguous ({len(rows)} matches: {shown}); type more characters"
            )
        return rows[0][0]

    def mark_crashed(self, live_ids: Iterable[str] = frozenset()) -> list[str]:
        """Mark active sessions whose process is gone as ``crashed``; return their ids.

        A session on this host counts as gone when its pid is dead (or a zombie), or
        when its pid is this very process but its id is not in ``live_ids``.
        Sessions recorded on another host are left alone. ``ended_at`` becomes the wall
        time it was found dead (its events' ts may be a replay's market time, even a future one). Pid reuse by an unrelated process would
        keep a dead session "running" until that process exits.
        """
        live, me = set(live_ids), os.getpid()
        marks = ", ".join("?" * len(ACTIVE_STATUSES))
        rows = self.query(
            f"SELECT id, pid, host FROM sessions WHERE status IN ({marks})", ACTIVE_STATUSES
        )
        dead = [
            (sid, pid)
            for sid, pid, host in rows
            if host == self._host and pid is not None
            and ((sid not in live) if pid == me else not pid_alive(pid))
        ]
        if not dead:
            return []
        now = now_ns()
        with self.transaction() as con:
            for sid, pid in dead:
                con.execute(
                    "UPDATE sessions SET status = 'crashed',"
                    " ended_at = ?,"
                    " last_error = COALESCE(last_error, ?)"
                    f" WHERE id = ? AND status IN ({marks})",
                    (now, f"process {pid} on {self._host} ended without stopping the session",
                     sid, *ACTIVE_STATUSES),
                )
        ids = [sid for sid, _ in dead]
        log.warning("ledger: marked crashed: %s", ", ".join(ids))
        return ids

    def delete_session(self, session_id: str) -> None:
        """Remove the session and all its rows in every table (the audit log is kept)."""
        with self.transaction() as con:
            _delete(con, [session_id])

    def delete_sessions_ended_before(self, cutoff_ns: int) -> list[str]:
        """Remove finished sessions that ended before ``cutoff_ns`` (UTC ns) and all their rows
        (the audit log is kept); active sessions never. Returns their ids."""
        marks = ", ".join("?" * len(ACTIVE_STATUSES))
        with self.transaction() as con:
            ids = [r[0] for r in con.execute(
                f"SELECT id FROM sessions WHERE ended_at < ? AND status NOT IN ({marks})",
                (cutoff_ns, *ACTIVE_STATUSES))]
            _delete(con, ids)
        return ids

    def clear_sessions(self) -> int:
        """Remove every session and its rows (the audit log is kept); return how many."""
        with self.transaction() as con:
            n = int(con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
            for table in (*SESSION_TABLES, "sessions"):
                con.execute(f"DELETE FROM {table}")
        return n
