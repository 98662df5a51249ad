"""``paperlab api`` (the HTTP API) and ``paperlab token create|list|revoke`` (its bearer tokens).

Thin handlers over ``kernelext.surfaces.http.server`` and ``kernelext.api`` (registered by ``cli.py``).
A token's secret is printed once, by ``create``, and stored only as a salted hash.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from kernelext import api


def add_api_command(sub: Any) -> None:
    """The ``api`` and ``token`` subcommands."""
    p = sub.add_parser("api", help="serve the REST + WebSocket API (docs at /docs)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (beyond loopback: TLS or --behind-proxy)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--certfile", default=None, help="TLS certificate (PEM)")
    p.add_argument("--keyfile", default=None, help="TLS private key (PEM)")
    p.add_argument("--behind-proxy", action="store_true", help="a TLS-terminating proxy fronts the API")
    p.add_argument("--no-auth", action="store_true", help="no tokens (loopback only; said in the banner)")
    tok = sub.add_parser("token", help="API tokens: create (shown once), list, revoke")
    verbs = tok.add_subparsers(dest="token_command", required=True, parser_class=type(tok))
    create = verbs.add_parser("create", help="a new token; its secret is printed this once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, choices=api.TOKEN_SCOPES)
    listing = verbs.add_parser("list", help="every token (never a secret)")
    listing.add_argument("--json", action="store_true")
    revoke = verbs.add_parser("revoke", help="revoke a token by name (it stops working at once)")
    revoke.add_argument("name")


def cmd_api(ns: argparse.Namespace) -> int:
    """Serve the API until interrupted."""
    from kernelext.surfaces.http.server import run

    return run(ns.host, ns.port, certfile=ns.certfile, keyfile=ns.keyfile, behind_proxy=ns.behind_proxy,
               no_auth=ns.no_auth)


def cmd_token(ns: argparse.Namespace) -> int:
    """create | list | revoke."""
    if ns.token_command == "create":
        made = api.create_token(ns.name, ns.scope)
        print(made["token"])
        print(f"token {made['name']} ({made['scope']}) created; this is the only time it is shown", flush=True)
        return 0
    if ns.token_command == "revoke":
        print(f"token {api.revoke_token(ns.name)} revoked")
        return 0
    rows = api.api_tokens()
    if ns.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print("token: none; paperlab token create --name NAME --scope read|trade|admin")
    for row in rows:
        state = f"revoked {_when(row['revoked_ts'])} by {row['revoked_by']}" if row["revoked_ts"] else "live"
        print(f"{row['name']}  {row['scope']}  {row['id']}  created {_when(row['created_ts'])} by "
              f"{row['created_by']}  {state}")
    return 0


def _when(ns_: int | None) -> str:
    return dt.datetime.fromtimestamp(ns_ / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ns_ else "-"
