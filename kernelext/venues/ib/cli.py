"""``paperlab ib status``: the IB paper account at rest and the gateway's health (never an order)."""

from __future__ import annotations

import argparse
import sys

from kernelext.venues.base import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("status",), help="status: read-only account probe (never an order)")
    p.add_argument("--timeout", type=float, default=5.0)


def cmd_ib(ns: argparse.Namespace) -> int:
    """Probe the gateway (through the facade, which records its health), print the account."""
    from kernelext import api
    from kernelext.venues.ib.probe import AccountSnapshot, health_of, mask_account

    result = api.gateway_status("ib-paper", timeout=ns.timeout)
    print(f"gateway: {health_of(result)}")
    if not isinstance(result, AccountSnapshot):
        print(f"paperlab: error: {result.message}", file=sys.stderr)
        return 1
    print(f"account {mask_account(result.account_id)} ({'paper' if result.is_paper else 'LIVE'}): "
          f"equity {money(result.equity)} cash {money(result.cash)} buying power {money(result.buying_power)} "
          f"exposure {money(result.exposure)} {result.currency}")
    for h in result.holdings:
        print(f"  {h.symbol}.{h.exchange}  {h.position:g} @ {money(h.avg_cost, 4)}")
    return 0


def money(value: float | None, digits: int = 2) -> str:
    """A figure as people read it; one the venue did not send is ``-``, never ``nan``."""
    if value is None or value != value:
        return "-"
    return f"{value:,.{digits}f}"


COMMAND = Command("ib", "Interactive Brokers: the paper account at rest, gateway health", _configure, cmd_ib)
