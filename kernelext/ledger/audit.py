"""The append-only, hash-chained audit log: each row's hash covers the previous row's."""

from __future__ import annotations

import hashlib
import json
import logging
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


class Audit(Connections):
    """The ``audit`` table (part of :class:`~kernelext.ledger.Ledger`)."""

    def append_audit(self, actor: str, action: str, detail: dict[str, Any]) -> str:
        """Append a hash-chained audit row; return its hash."""
        detail_json = canonical_json(detail)
        with self.transaction() as con:
            row = con.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev = row[0] if row else AUDIT_GENESIS
            ts = now_ns()
            digest = audit_hash(prev, ts, actor, action, detail_json)
            con.execute(
                "INSERT INTO audit(ts, actor, action, detail_json, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (ts, actor, action, detail_json, prev, digest),
            )
        return digest

    def verify_audit(self) -> bool:
        """True when every audit row links to the previous one and its hash matches."""
        prev = AUDIT_GENESIS
        cur = self._con().execute(
            "SELECT id, ts, actor, action, detail_json, prev_hash, hash FROM audit ORDER BY id"
        )
        for row_id, ts, actor, action, detail_json, prev_hash, digest in cur:
            if prev_hash != prev or audit_hash(prev, ts, actor, action, detail_json) != digest:
                log.warning("audit chain broken at row %s", row_id)
                return False
            prev = digest
        return True
