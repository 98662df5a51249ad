"""Live trading from the shell: ``paperlab approve-live|revoke-live|approvals`` and the typed
confirmation of a live ``paperlab paper --venue ib-live`` (thin handlers over ``kernelext.api``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kernelext import api
from kernelext.errors import Refused
from kernelext.spec import SessionSpec


def add_live_commands(sub: Any) -> None:
    """``approve-live``, ``revoke-live`` and ``approvals``."""
    approve = sub.add_parser("approve-live", help="approve a strategy on an instrument for live trading (after paper)")
    approve.add_argument("--strategy", required=True, help="registered strategy key")
    approve.add_argument("--instrument", required=True, help="the instrument, e.g. QQQ.NASDAQ")
    approve.add_argument("--params", default=None, help="only with exactly these params (JSON); default any params")
    approve.add_argument("--note", required=True, help="why it is approved")
    approve.add_argument("--paper-session", default=None,
                         help="the paper session of this strategy and instrument that traded (default the newest)")
    revoke = sub.add_parser("revoke-live", help="revoke a live approval")
    revoke.add_argument("--strategy", required=True)
    revoke.add_argument("--instrument", required=True)
    revoke.add_argument("--params", default=None, help="only the approval naming exactly these params (JSON)")
    listing = sub.add_parser("approvals", help="live approvals: who approved what, when, why, after which paper session")
    listing.add_argument("--all", action="store_true", help="revoked ones too")
    listing.add_argument("--json", action="store_true")


def add_confirm_argument(p: argparse.ArgumentParser) -> None:
    """``--i-understand U…``: the scripted form of the typed confirmation of a live start."""
    p.add_argument("--i-understand", dest="i_understand", default=None, metavar="ACCOUNT",
                   help="a live (REAL MONEY) start: the live account id, typed (it must match)")


def cmd_approve(ns: argparse.Namespace) -> int:
    row = api.approve_live(ns.strategy, ns.instrument, note=ns.note, params=ns.params, paper_session=ns.paper_session)
    print(f"approved #{row['id']}: {row['strategy_key']} on {row['instrument']}"
          f"{' with params ' + row['params_json'] if row['params_json'] else ' (any params)'} for live trading, "
          f"after paper session {row['paper_session']}, by {row['approved_by']}")
    return 0


def cmd_revoke(ns: argparse.Namespace) -> int:
    ids = api.revoke_live(ns.strategy, ns.instrument, params=ns.params)
    print(f"revoked approval{'s' if len(ids) > 1 else ''} {', '.join(f'#{i}' for i in ids)}: "
          f"{ns.strategy} on {ns.instrument} may no longer trade live")
    return 0


def cmd_approvals(ns: argparse.Namespace) -> int:
    from kernelext.events import eastern_text

    df = api.approvals(include_revoked=ns.all)
    if ns.json:
        for row in df.drop("approved_at").iter_rows(named=True):
            print(json.dumps(row))
        return 0
    if not df.height:
        print("approvals: none (paperlab approve-live --strategy KEY --instrument ID --note \"...\")")
        return 0
    for r in df.iter_rows(named=True):
        revoked = f"  REVOKED by {r['revoked_by']} {eastern_text(r['revoked_ts'])}" if r["revoked_ts"] else ""
        print(f"#{r['id']}  {r['strategy_key']} on {r['instrument']}  params {r['params_json'] or 'any'}  "
              f"by {r['approved_by']} {eastern_text(r['approved_ts'])}  after paper {r['paper_session']}  "
              f"\"{r['note']}\"{revoked}")
    return 0


def confirm_live(spec: SessionSpec, typed: str | None) -> str | None:
    """Before anything connects: print the summary of a live start and, without ``--i-understand``, ask the
    person to type the live account id (a terminal only). Returns what was typed (None: not real money)."""
    prepared = api.live_start(spec, confirm=False)  # gates 1-3: refused in one line
    if prepared is None:
        return typed
    print("*** REAL MONEY ***", file=sys.stderr)
    for line in prepared.lines():
        print(f"  {line}", file=sys.stderr)
    if typed is None:
        if not sys.stdin.isatty():
            raise Refused("i_understand: a live start needs the live account id typed to confirm; "
                          "pass --i-understand U… (the full id) when not at a terminal")
        typed = input("type the live account id to confirm: ").strip()
    return typed


COMMANDS = {"approve-live": cmd_approve, "revoke-live": cmd_revoke, "approvals": cmd_approvals}
