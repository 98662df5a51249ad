"""No SQL outside ``kernelext/ledger/``: every read is a function of ``kernelext.ledger.queries``,
every write a method of the ``Ledger``.

Walks every .py under kernelext/ and widgets/ (except kernelext/ledger/) with ``ast`` and names
file:line of: a string (constant, f-string or ``+`` concatenation) shaped like SQL (SELECT ...
FROM, INSERT INTO, UPDATE ... SET, DELETE FROM, CREATE TABLE/INDEX, PRAGMA, WITH ... AS (,
any case); a call of ``.execute`` / ``.executemany`` / ``.executescript`` / ``.query`` on
anything; an import of ``sqlite3``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (ROOT / "kernelext", ROOT / "widgets")
LEDGER = ROOT / "kernelext" / "ledger"
DB_CALLS = frozenset({"execute", "executemany", "executescript", "query"})
# Calls named like a database call that are not one (receiver as source text).
NOT_DB_RECEIVERS = frozenset({"pn.state"})  # Panel: pn.state.execute(callback) runs it on the doc's loop
HOLE = "x"  # what an f-string's {placeholder} or a non-literal operand reads as

_SELECT_COLUMNS = r"(?:[\w.]+|[\w.]+\s+as\s+\w+|.*?[,*(].*?)"  # one column, an alias, or a list/expression
_SQL = re.compile(
    rf"""^\s*(?:
        select\s+(?:distinct\s+)?{_SELECT_COLUMNS}\s+from\s+\(?\s*[a-z_]
      | select\s+(?:\d+|\*|[a-z_]\w*\s*\()
      | insert\s+(?:or\s+\w+\s+)?into\s+[a-z_]
      | update\s+[a-z_]\w*\s+set\s
      | delete\s+from\s+[a-z_]
      | create\s+(?:unique\s+|temp(?:orary)?\s+|virtual\s+)?(?:table|index|view|trigger)\s
      | pragma\s+\w+\s*(?:=|\(|;|$)
      | with\s+(?:recursive\s+)?\w+(?:\s*\([^)]*\))?\s+as\s*\(
    )""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)


def _text(node: ast.AST) -> str | None:
    """The text of a string literal, an f-string or a ``+`` chain holding one (holes read ``x``)."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else HOLE) + (right if right is not None else HOLE)
    return None


def looks_like_sql(text: str) -> bool:
    """True when ``text`` starts like a SQL statement (any case)."""
    return _SQL.match(text) is not None


def violations(source: str, name: str = "<source>") -> Iterator[str]:
    """``name:line: what`` for each piece of SQL in ``source``."""
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DB_CALLS:
            receiver = ast.unparse(node.func.value)
            if receiver not in NOT_DB_RECEIVERS:
                yield f"{name}:{node.lineno}: call {receiver}.{node.func.attr}(...)"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m.split(".")[0] == "sqlite3" for m in modules):
                yield f"{name}:{node.lineno}: import of sqlite3"
        else:
            text = _text(node)
            if text is not None and looks_like_sql(text):
                yield f"{name}:{node.lineno}: SQL string {text.strip()[:60]!r}"


def _scanned_files() -> list[Path]:
    """Every .py under kernelext/ and widgets/, except the ledger package."""
    return sorted(
        p for root in SCANNED for p in root.rglob("*.py")
        if LEDGER not in p.parents and ".venv" not in p.parts
    )


def test_no_sql_outside_the_ledger_package() -> None:
    files = _scanned_files()
    assert len(files) > 20 and ROOT / "kernelext" / "research" / "frames.py" in files
    found = sorted({v for p in files for v in violations(p.read_text(), str(p.relative_to(ROOT)))})
    assert not found, "SQL outside kernelext/ledger/ (add a function to kernelext.ledger.queries):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'ledger.query("SELECT COUNT(*) FROM fills")',
        'x = "select id from sessions"',
        'x = f"SELECT {cols} FROM equity WHERE rowid > ?"',
        'x = "SELECT s.id, " + cols + " FROM sessions s"',
        'x = "INSERT OR IGNORE INTO bars VALUES (?)"',
        'x = "UPDATE sessions SET status = ?"',
        'x = f"DELETE FROM {table} WHERE session_id = ?"',
        'x = "CREATE INDEX i ON t(c)"',
        'x = "PRAGMA user_version"',
        'x = "WITH t AS (SELECT 1) SELECT * FROM t"',
        'con.execute(sql)',
        'cur.executemany(sql, rows)',
        'db.executescript(script)',
        'import sqlite3',
        'from sqlite3 import connect',
    ],
)
def test_the_check_finds_sql(source: str) -> None:
    assert list(violations(source))


@pytest.mark.parametrize(
    "source",
    [
        'pn.state.execute(fn, schedule=True)',
        'x = "Select a session to see its sleeves and round trips."',
        'x = "Select a session from the list"',
        'x = "Update the form, then press Start"',
        'x = "deleted session s1 and its 3 fills"',
        'x = f"with {n} sessions"',
        'df.filter(pl.col("x") > 0)',
    ],
)
def test_the_check_leaves_prose_and_other_apis_alone(source: str) -> None:
    assert not list(violations(source))
