"""``paperlab binance status``: the testnet account at rest (balances, open orders), never an order."""

from __future__ import annotations

import argparse
import sys

from kernelext.venues.base import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("status",), help="status: read-only look at the testnet account")
    p.add_argument("--timeout", type=float, default=5.0)


def cmd_binance(ns: argparse.Namespace) -> int:
    """Read the account (through the facade), print balances and open orders, or why not (one line)."""
    from kernelext import api
    from kernelext.venues.binance.probe import AccountAtRest

    result = api.gateway_status("binance-testnet", timeout=ns.timeout)
    if not isinstance(result, AccountAtRest):
        print(f"paperlab: error: {result.message}", file=sys.stderr)
        return 1
    print(f"testnet account (key {result.account_id}): {result.cash:,.2f} {result.currency}, "
          f"{result.buying_power:,.2f} free")
    for h in result.holdings:
        print(f"  {h.symbol}  {h.position:g}")
    print(f"open orders: {len(result.open_orders)}")
    for o in result.open_orders:
        print(f"  {o.symbol} {o.side} {o.type} {o.quantity:g} @ {o.price:,.2f} (filled {o.filled:g})")
    return 0


COMMAND = Command("binance", "Binance Spot testnet: the account at rest (balances, open orders)", _configure,
                  cmd_binance)
