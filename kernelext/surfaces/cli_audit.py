"""``paperlab audit [--session ID] [--since 2h] [--limit N] [--verify] [--json]``: the audit log.

A thin handler over ``kernelext.api.audit`` / ``api.verify_audit`` (registered by ``cli.py``).
``--verify`` walks the hash chain and exits 1 naming the first broken row.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kernelext import api


def add_audit_command(sub: Any) -> None:
    """The ``audit`` subcommand."""
    p = sub.add_parser("audit", help="the audit log: order intents, controls, approvals, deletes, logins, live starts")
    p.add_argument("--session", default=None, help="only rows naming this session (id, prefix or 'latest')")
    p.add_argument("--since", default=None, help="a duration back from now (2h, 7d) or an ISO time (US/Eastern)")
    p.add_argument("--limit", type=int, default=200, help="the newest this many rows (default 200)")
    p.add_argument("--verify", action="store_true", help="check the hash chain; exit 1 naming the first broken row")
    p.add_argument("--json", action="store_true", help="rows as JSON lines")


def cmd_audit(ns: argparse.Namespace) -> int:
    """Print the audit rows, or verify the chain."""
    if ns.verify:
        check = api.verify_audit()
        print(check.line(), file=sys.stdout if check.ok else sys.stderr)
        return 0 if check.ok else 1
    df = api.audit(ns.session, since=ns.since, limit=ns.limit)
    if ns.json:
        for row in df.drop("ts").iter_rows(named=True):
            print(json.dumps(row, default=str))
        return 0
    if not df.height:
        print("audit: no rows" + (f" for session {ns.session}" if ns.session else ""))
        return 0
    for row in df.iter_rows(named=True):
        print(format_row(row))
    return 0


def format_row(row: dict[str, Any]) -> str:
    """``2026-11-30 09:31:02 ET  #12  alice via cli  control.kill  session=ab12cd  result=ok``."""
    from kernelext.spec import EASTERN

    detail = json.loads(row["detail"] or "{}")
    detail.pop("surface", None)
    shown = "  ".join(f"{k}={_short(v)}" for k, v in detail.items() if v not in (None, "", [], {}))
    when = row["ts"].astimezone(EASTERN).strftime("%Y-%m-%d %H:%M:%S ET")
    return f"{when}  #{row['id']}  {row['actor']}  {row['action']}  {shown}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."
