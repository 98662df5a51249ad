"""``paperlab ledger copy [--to postgresql://...] [--from PATH]``: move an SQLite history to PostgreSQL.

A thin handler over ``kernelext.api.copy_ledger`` (registered by ``cli.py``). ``--to`` defaults to
``$PAPERLAB_LEDGER_URL`` (so the password need not be typed on a command line); ``--from`` to the
SQLite ledger of ``$PAPERLAB_HOME``. Exits 1 when the copy's audit chain does not verify.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kernelext import api


def add_ledger_command(sub: Any) -> None:
    """The ``ledger`` subcommand and its ``copy``."""
    p = sub.add_parser("ledger", help="the ledger: copy an SQLite history to PostgreSQL")
    verbs = p.add_subparsers(dest="ledger_command", required=True, metavar="{copy}")
    c = verbs.add_parser("copy", help="copy every table (audit chain intact) into an empty PostgreSQL ledger")
    c.add_argument("--to", default=None, help="postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
                   "(default: $PAPERLAB_LEDGER_URL)")
    c.add_argument("--from", dest="source", default=None,
                   help="the SQLite ledger file or its folder (default: $PAPERLAB_HOME/ledger.sqlite)")


def cmd_ledger(ns: argparse.Namespace) -> int:
    """Run ``paperlab ledger copy``."""
    result = api.copy_ledger(ns.to, source=ns.source)
    ok = result.audit is None or result.audit.ok
    print(result.line(), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
