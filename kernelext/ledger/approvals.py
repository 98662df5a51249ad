"""The ``approvals`` table (schema v6): live trading's gate 3, who approved which strategy on which
instrument (and params) after which paper session; a revocation keeps the row and stamps it."""

from __future__ import annotations

from typing import Any

from kernelext.events import now_ns
from kernelext.ledger.audit import append_rows
from kernelext.ledger.connection import Connections


class Approvals(Connections):
    """Approvals and revocations, each with its audit row in the same transaction."""

    def add_approval(self, *, strategy_key: str, instrument: str, params_json: str | None, paper_session: str,
                     note: str, approved_by: str, audit: dict[str, Any]) -> int:
        """Record an approval and its audit row; return its id."""
        ts = now_ns()
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO approvals(strategy_key, instrument, params_json, paper_session, note, approved_by,"
                " approved_ts) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (strategy_key, instrument, params_json, paper_session, note, approved_by, ts),
            )
            approval_id = int(cur.fetchone()[0])
            append_rows(con, [(ts, approved_by, "live.approve", {**audit, "approval_id": approval_id})])
        return approval_id

    def revoke_approvals(self, ids: list[int], *, revoked_by: str, audit: dict[str, Any]) -> None:
        """Stamp approvals revoked, with one audit row."""
        ts = now_ns()
        with self.transaction() as con:
            con.executemany("UPDATE approvals SET revoked_by = ?, revoked_ts = ? WHERE id = ? AND revoked_ts IS NULL",
                            [(revoked_by, ts, i) for i in ids])
            append_rows(con, [(ts, revoked_by, "live.revoke", {**audit, "approval_ids": ids})])
