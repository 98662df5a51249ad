"""The cross-process command queue: pause/resume/flatten/kill/stop for a session's runner."""

from __future__ import annotations

import json
from typing import Any

from kernelext.events import now_ns
from kernelext.ledger.codec import dumps
from kernelext.ledger.connection import Connections


class Commands(Connections):
    """The ``commands`` table (part of :class:`~kernelext.ledger.Ledger`)."""

    def enqueue_command(self, session_id: str, command: str, args: dict[str, Any] | None = None) -> int:
        """Queue a control command for a session (any process); return its id."""
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO commands(session_id, command, args_json, created_ts) VALUES (?, ?, ?, ?) RETURNING id",
                (session_id, command, dumps(args or {}), now_ns()),
            )
            return int(cur.fetchone()[0])

    def take_commands(self, session_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """Atomically take the session's pending commands (each is taken once), oldest first."""
        return self._take("session_id = ?", session_id, "command")

    def take_named(self, command: str) -> list[tuple[int, str, dict[str, Any]]]:
        """Atomically take every pending ``command`` of any session: (id, session_id, args), oldest first."""
        return self._take("command = ?", command, "session_id")

    def _take(self, where: str, value: str, column: str) -> list[tuple[int, str, dict[str, Any]]]:
        """Mark the pending commands matching ``where`` taken: (id, ``column``, args), oldest first."""
        with self.transaction() as con:
            rows = con.execute(
                f"UPDATE commands SET taken_ts = ? WHERE {where} AND taken_ts IS NULL"
                f" RETURNING id, {column}, args_json",
                (now_ns(), value),
            ).fetchall()
        return [(int(i), c, json.loads(a) if a else {}) for i, c, a in sorted(rows)]

    def finish_command(self, command_id: int, result: str) -> None:
        """Record a taken command's result (e.g. "ok" or an error message)."""
        with self.transaction() as con:
            con.execute("UPDATE commands SET result = ? WHERE id = ?", (result, command_id))

    def command(self, command_id: int) -> dict[str, Any] | None:
        """One command row as a dict (to poll for its result), or None."""
        found = self.query_dicts("SELECT * FROM commands WHERE id = ?", (command_id,))
        if not found:
            return None
        out = found[0]
        out["args"] = json.loads(out.pop("args_json") or "{}")
        return out
