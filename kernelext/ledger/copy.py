"""``paperlab ledger copy``: an SQLite ledger's history into a PostgreSQL ledger, every table.

The source is read in one read transaction (a consistent snapshot while sessions keep writing);
the target must be empty (freshly migrated) and is filled in one transaction with PostgreSQL's
COPY, keeping every id and the insertion order (SQLite's rowid becomes the ``rowid`` column), so
the audit chain, event ids and the feeds' positions are the same on both. The identity sequences
and the audit counter (``sqlite_sequence``'s value, a cut tail included) are carried over; the
copy is then checked: the same row count in every table and the audit chain verified.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from kernelext.errors import Refused, SpecError
from kernelext.ledger import dialect
from kernelext.ledger.audit import AuditCheck
from kernelext.ledger.store import Ledger

log = logging.getLogger(__name__)

_BOOKKEEPING = ("paperlab_schema", "paperlab_version", "paperlab_sequence")


@dataclass
class CopyResult:
    """What was copied where: rows per table, and the copy's audit check."""

    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    audit: AuditCheck | None = None

    def line(self) -> str:
        """One line for a person (the target's password masked)."""
        total = sum(self.rows.values())
        shown = ", ".join(f"{n} {t}" for t, n in self.rows.items() if n and t in ("sessions", "events", "fills", "audit"))
        tail = f"; {self.audit.line()}" if self.audit is not None else ""
        return f"copied {total} rows ({shown or 'an empty ledger'}) from {self.source} to {self.target}{tail}"


def copy_ledger(source: Path | str, target_url: str) -> CopyResult:
    """Copy the SQLite ledger at ``source`` into the empty PostgreSQL ledger at ``target_url``."""
    if not dialect.is_url(target_url):
        raise SpecError(f"to: expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE, not {dialect.mask_url(target_url)!r}")
    src_path = Path(source).expanduser()
    if src_path.is_dir():
        src_path = src_path / "ledger.sqlite"
    if not src_path.is_file():
        raise SpecError(f"from: no SQLite ledger at {src_path}; name the ledger file (or its PAPERLAB_HOME folder)")
    src = Ledger(src_path)
    dst = Ledger(target_url)
    try:
        return _copy(src, dst)
    finally:
        src.close()
        dst.close()


def _copy(src: Ledger, dst: Ledger) -> CopyResult:
    tables = [r[0] for r in src.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    result = CopyResult(src.where, dst.where)
    target_cols = {t: [r[0] for r in dst.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = ? ORDER BY ordinal_position", (t,))] for t in tables}
    identities: dict[str, list[str]] = {}
    for t, c in dst.query("SELECT table_name, column_name FROM information_schema.columns"
                          " WHERE table_schema = current_schema() AND is_identity = 'YES'"):
        identities.setdefault(t, []).append(c)
    missing = [t for t in tables if not target_cols[t]]
    if missing:
        raise SpecError(f"to: {dst.where} lacks the tables {', '.join(missing)} (a newer source ledger?)")
    held = [t for t in tables if dst.query(f"SELECT 1 FROM {t} LIMIT 1")]
    if held:
        raise Refused(f"to: {dst.where} already holds a ledger (rows in {', '.join(held)}); "
                      "copy into an empty database (or schema)")
    scon = src._con()
    scon.execute("BEGIN")  # one snapshot of the source while its sessions keep writing
    try:
        audit_seq = scon.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
        with dst.transaction() as con:
            for table in tables:
                cols = [r[1] for r in scon.execute(f"PRAGMA table_info({table})")]
                with_rowid = "rowid" in target_cols[table] and "rowid" not in cols
                names = (["rowid"] if with_rowid else []) + cols
                order = "rowid" if with_rowid or "id" not in cols else "id"
                cur = scon.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY {order}")
                n = 0
                with con.raw.cursor().copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as out:
                    for row in cur:
                        out.write_row(row)
                        n += 1
                result.rows[table] = n
                for col in identities.get(table, ()):  # identity columns continue after the copied ids
                    con.raw.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'), COALESCE(MAX({col}), 1),"
                        f" MAX({col}) IS NOT NULL) FROM {table}")
            if audit_seq is not None:  # the highest audit id ever given, as sqlite_sequence says
                con.raw.execute(
                    "INSERT INTO paperlab_sequence(name, seq) VALUES ('audit', %s)"
                    " ON CONFLICT (name) DO UPDATE SET seq = GREATEST(paperlab_sequence.seq, EXCLUDED.seq)",
                    (int(audit_seq[0]),))
    finally:
        scon.execute("COMMIT")
    for table, n in result.rows.items():
        got = dst.query(f"SELECT COUNT(*) FROM {table}")[0][0]
        if got != n:
            raise RuntimeError(f"ledger copy: {table} has {got} rows in {dst.where}, {n} were sent")
    result.audit = dst.verify_audit()
    log.info("%s", result.line())
    return result
