"""The ledger's SQL is written once, in SQLite's dialect with ``?`` placeholders; this module turns
it into PostgreSQL's (``PAPERLAB_LEDGER_URL=postgresql://...``), in one place.

- statements: ``?`` -> ``%s`` (a literal ``%`` doubled; so no ``?`` inside a string literal), ``INSERT OR IGNORE`` -> ``ON CONFLICT DO
  NOTHING``, two-argument ``MIN``/``MAX`` -> ``LEAST``/``GREATEST``, ``json_extract(col, '$.k')`` ->
  ``col::jsonb ->> 'k'``, ``GLOB`` -> ``LIKE`` (``*`` and ``?`` only; no ``[...]`` classes), SQLite's
  ``+column`` (no index) -> ``column``, ``sqlite_sequence`` -> ``paperlab_sequence``;
- DDL: ``INTEGER`` -> ``BIGINT`` (ns timestamps), ``REAL`` -> ``DOUBLE PRECISION``, ``TEXT`` ->
  ``TEXT COLLATE "C"`` (byte order, as SQLite's BINARY), ``INTEGER PRIMARY KEY AUTOINCREMENT`` -> an
  identity column; tables without an integer key get a ``rowid`` identity column (insertion
  order, as SQLite's rowid); the audit table's ids come from ``paperlab_sequence`` (a transactional
  counter like ``sqlite_sequence``: no gap after a rollback, so a gap is a deleted row) and its
  append-only triggers are a plpgsql function that raises;
- ``PRAGMA user_version`` -> the one-row ``paperlab_schema``; ``PRAGMA data_version`` -> the
  one-row ``paperlab_version`` counter every write transaction bumps.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

URL_ENV = "PAPERLAB_LEDGER_URL"
URL_SCHEMES = ("postgresql", "postgres")

# Before the migrations: the schema version, the commit counter (data_version) and the audit counter.
BOOTSTRAP: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS paperlab_schema (version BIGINT NOT NULL)",
    "INSERT INTO paperlab_schema(version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM paperlab_schema)",
    "CREATE TABLE IF NOT EXISTS paperlab_version (n BIGINT NOT NULL)",
    "INSERT INTO paperlab_version(n) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM paperlab_version)",
    'CREATE TABLE IF NOT EXISTS paperlab_sequence (name TEXT COLLATE "C" PRIMARY KEY, seq BIGINT NOT NULL)',
)

_AUDIT_IDS = (
    """CREATE OR REPLACE FUNCTION paperlab_audit_id() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO paperlab_sequence(name, seq)
            VALUES ('audit', COALESCE(NEW.id, (SELECT COALESCE(MAX(id), 0) + 1 FROM audit)))
            ON CONFLICT (name) DO UPDATE
            SET seq = CASE WHEN NEW.id IS NULL THEN paperlab_sequence.seq + 1
                           ELSE GREATEST(paperlab_sequence.seq, NEW.id) END
            RETURNING CASE WHEN NEW.id IS NULL THEN seq ELSE NEW.id END INTO NEW.id;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER audit_id BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION paperlab_audit_id()",
)
_APPEND_ONLY = (
    """CREATE OR REPLACE FUNCTION paperlab_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'integrity_constraint_violation'; END $$""",
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION paperlab_append_only()",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION paperlab_append_only()",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION paperlab_append_only()",
)


def is_url(value: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(value, str) and value.split("://", 1)[0].lower() in URL_SCHEMES and "://" in value


def mask_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) replaced by ``***``
    (for every message, log line and banner)."""
    url = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a ledger URL (one phrase), or None when it is shaped right."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as e:
        return f"it does not parse ({e})"
    if parts.scheme.lower() not in URL_SCHEMES:
        return f"the scheme is {parts.scheme or 'missing'!r}"
    return None  # no host: libpq's default (the local unix socket)


def url_help() -> str:
    """What PAPERLAB_LEDGER_URL allows."""
    return (f"{URL_ENV}: expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
            "(or unset for the SQLite ledger under PAPERLAB_HOME)")


def _ddl(sql: str) -> str:
    """A CREATE/ALTER statement's types."""
    if "AUTOINCREMENT" in sql and "CREATE TABLE audit" in sql:
        sql = sql.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT PRIMARY KEY")
    sql = sql.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)
    if sql.lstrip().startswith("CREATE TABLE") and "IDENTITY" not in sql and "CREATE TABLE audit" not in sql:
        # SQLite's rowid: insertion order for the tables without an integer key
        head, _, rest = sql.partition("(")
        sql = f"{head}(rowid BIGINT GENERATED BY DEFAULT AS IDENTITY, {rest}"
    return sql


def migration(statements: list[str]) -> list[str]:
    """One migration's statements for PostgreSQL."""
    out: list[str] = []
    for sql in statements:
        stripped = sql.lstrip()
        if stripped.startswith("CREATE TRIGGER audit_no_update"):
            out += _APPEND_ONLY
        elif stripped.startswith("CREATE TRIGGER"):
            continue  # the other half of the append-only pair: done above
        else:
            out.append(_ddl(sql))
            if stripped.startswith("CREATE TABLE audit"):
                out += _AUDIT_IDS
    return out


_MIN_MAX = re.compile(r"\b(MIN|MAX)\(([^(),]+),([^(),]+)\)")
_JSON = re.compile(r"json_extract\((\w+), '\$\.(\w+)'\)")
_GLOB_PARAM = re.compile(r"\bGLOB %s")
_GLOB_TEXT = re.compile(r"\bGLOB '([^']*)'")
_LIKE_OF_GLOB = r"LIKE replace(replace(replace(replace(%s, '%%', '\%%'), '_', '\_'), '*', '%%'), '?', '_')"


def _glob_literal(m: re.Match[str]) -> str:
    text = m.group(1).replace("%%", "%")  # (translate doubled it already)
    text = text.replace("%", "\\%").replace("_", "\\_").replace("*", "%").replace("?", "_")
    return "LIKE '" + text.replace("%", "%%") + "'"


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """One SQLite statement (``?`` placeholders) as PostgreSQL (``%s``)."""
    out = sql.replace("%", "%%").replace("?", "%s")
    if "INSERT OR IGNORE" in out:
        out = out.replace("INSERT OR IGNORE", "INSERT").rstrip() + " ON CONFLICT DO NOTHING"
    out = _MIN_MAX.sub(lambda m: f"{'LEAST' if m.group(1) == 'MIN' else 'GREATEST'}({m.group(2)},{m.group(3)})", out)
    out = _JSON.sub(r"(\1::jsonb ->> '\2')", out)
    out = _GLOB_PARAM.sub(lambda _: _LIKE_OF_GLOB, out)
    out = _GLOB_TEXT.sub(_glob_literal, out)
    out = out.replace("+session_id", "session_id").replace("sqlite_sequence", "paperlab_sequence")
    return out
