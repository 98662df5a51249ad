"""``paperlab ib status``: the IB paper account at rest and the gateway's health (never an order)."""

from __future__ import annotations

import argparse
import sys

from kernelext.venues.base import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("status",), help="status: read-only account probe (never an order)")
    p.add_argument("--timeout", type=float, default=5.0)


def cmd_ib(ns: argparse.Namespace) -> int:
    """Probe the gateway, record its health in the ledger, print the account."""
    from kernelext.ledger import Ledger
    from kernelext.venues.ib.health import record_result
    from kernelext.venues.ib.probe import AccountSnapshot, GatewayTarget, health_of, mask_account, probe_account

    target = GatewayTarget.from_env(paper=True)
    result = probe_account(target, timeout=ns.timeout)
    record_result(Ledger(), target, result)  # health transitions are kept in the ledger
    print(f"gateway: {health_of(result)}")
    if not isinstance(result, AccountSnapshot):
        print(f"paperlab: error: {result.message}", file=sys.stderr)
        return 1
    print(f"account {mask_account(result.account_id)} ({'paper' if result.is_paper else 'LIVE'}): equity {result.equity:,.2f} "
          f"cash {result.cash:,.2f} buying power {result.buying_power:,.2f} exposure {result.exposure:,.2f} {result.currency}")
    for h in result.holdings:
        print(f"  {h.symbol}.{h.exchange}  {h.position:g} @ {h.avg_cost:,.4f}")
    return 0


COMMAND = Command("ib", "Interactive Brokers: the paper account at rest, gateway health", _configure, cmd_ib)
