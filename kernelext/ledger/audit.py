"""The append-only, hash-chained audit log.

Each row holds the SHA-256 of its own content (ts, actor, action, detail) chained to the
previous row's hash. SQLite triggers refuse UPDATE and DELETE (schema v6); whoever drops
them and edits a row, deletes one, or cuts the tail is named by :meth:`Audit.verify_audit`.
Rows are appended inside the caller's ``BEGIN IMMEDIATE`` transaction, so the chain is one
line even with several processes writing. On PostgreSQL a plpgsql trigger refuses UPDATE,
DELETE and TRUNCATE, the transaction holds the ledger's advisory lock, and ``paperlab_sequence``
plays ``sqlite_sequence`` (ids without gaps, the highest ever given kept for the cut-tail check).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kernelext.events import now_ns
from kernelext.ledger.connection import Connections

log = logging.getLogger(__name__)

AUDIT_GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, compact) used by the audit hash chain."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def audit_hash(prev_hash: str, ts: int, actor: str | None, action: str, detail_json: str) -> str:
    """sha256(prev_hash + canonical json of the row's content)."""
    row = {"ts": ts, "actor": actor, "action": action, "detail_json": detail_json}
    return hashlib.sha256((prev_hash + canonical_json(row)).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What :meth:`Audit.verify_audit` found: how many rows were checked and the first broken one."""

    rows: int
    broken_row: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when the whole chain holds."""
        return self.broken_row is None

    def __bool__(self) -> bool:
        return self.ok

    def line(self) -> str:
        """One line for a person."""
        if self.ok:
            return f"audit chain intact: {self.rows} rows verified"
        return f"audit chain broken at row {self.broken_row}: {self.problem}"


def append_rows(con: Any, rows: Iterable[tuple[int, str, str, dict[str, Any]]]) -> str | None:
    """Append ``(ts, actor, action, detail)`` rows to the chain on ``con``, inside the caller's
    ``BEGIN IMMEDIATE`` transaction; return the last hash (None when there were no rows)."""
    prev: str | None = None
    digest = None
    params = []
    for ts, actor, action, detail in rows:
        if prev is None:
            found = con.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev = found[0] if found else AUDIT_GENESIS
        detail_json = canonical_json(detail)
        digest = audit_hash(prev, ts, actor, action, detail_json)
        params.append((ts, actor, action, detail_json, prev, digest))
        prev = digest
    if params:
        con.executemany(
            "INSERT INTO audit(ts, actor, action, detail_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
            params,
        )
    return digest


class Audit(Connections):
    """The ``audit`` table (part of :class:`~kernelext.ledger.Ledger`)."""

    def append_audit(self, actor: str, action: str, detail: dict[str, Any]) -> str:
        """Append one hash-chained audit row; return its hash."""
        with self.transaction() as con:
            digest = append_rows(con, [(now_ns(), actor, action, detail)])
        assert digest is not None
        return digest

    def verify_audit(self) -> AuditCheck:
        """Walk the chain from the first row: every row must link to the one before it, hash to
        what it says, and follow it without a gap (ids are AUTOINCREMENT, so a gap or a short
        tail is a deleted row)."""
        prev, prev_id, count = AUDIT_GENESIS, 0, 0
        con = self._con()
        cur = con.execute("SELECT id, ts, actor, action, detail_json, prev_hash, hash FROM audit ORDER BY id")
        for row_id, ts, actor, action, detail_json, prev_hash, digest in cur:
            count += 1
            if row_id != prev_id + 1:
                return AuditCheck(count, prev_id + 1, "the row is missing (deleted)")
            if prev_hash != prev:
                return AuditCheck(count, row_id, "it does not link to the row before it (a row was replaced)")
            if audit_hash(prev, ts, actor, action, detail_json) != digest:
                return AuditCheck(count, row_id, "its content does not match its hash (the row was edited)")
            prev, prev_id = digest, row_id
        seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
        if seq is not None and int(seq[0]) > prev_id:
            return AuditCheck(count, prev_id + 1, "the row is missing (the end of the log was deleted)")
        return AuditCheck(count)
