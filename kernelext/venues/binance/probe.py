"""The testnet account at rest (read-only, never an order): balances and open orders through
two signed REST reads, or why there is nothing: no keys, keys rejected, testnet down.

Also the session's preflight: the same read must succeed before any ledger row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from kernelext.spec import SessionSpec, SpecError
from kernelext.venues.base import AccountSnapshot, Holding, ProbeFailure
from kernelext.venues.binance.constants import QUOTE, testnet_urls
from kernelext.venues.binance.credentials import NO_KEYS, Keys, load_keys, scrub
from kernelext.venues.binance.symbology import SUFFIX, symbol_of

NO_KEYS_STATE, REJECTED, DOWN = "no keys", "keys rejected", "testnet down"


@dataclass(frozen=True)
class OpenOrder:
    """One resting order as the testnet lists it."""

    symbol: str
    side: str
    type: str
    price: float
    quantity: float
    filled: float


@dataclass(frozen=True)
class AccountAtRest(AccountSnapshot):
    """A probe that read the account: balances as holdings (asset, amount) and open orders."""

    open_orders: tuple[OpenOrder, ...] = ()


class _Refused(Exception):
    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.state = state


def _signed_get(path: str, keys: Keys, timeout: float, **params: Any) -> Any:
    """A signed GET of the testnet's REST API (HMAC-SHA256, Binance's scheme)."""
    http, _, _ = testnet_urls()
    query = urllib.parse.urlencode({**params, "recvWindow": 5000, "timestamp": int(time.time() * 1000)})
    signature = hmac.new(keys.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{http}{path}?{query}&signature={signature}",
                                     headers={"X-MBX-APIKEY": keys.key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        try:
            body = json.loads(e.read())
        except ValueError:
            body = {}
        msg = scrub(str(body.get("msg", e.reason)), keys)
        if e.code in (401, 403) or body.get("code") in (-2014, -2015, -1022):
            raise _Refused(REJECTED, f"venue: the testnet rejected the API keys ({msg}); check "
                                     "BINANCE_TESTNET_API_KEY / BINANCE_TESTNET_API_SECRET") from None
        raise _Refused(DOWN, f"venue: the Binance testnet answered HTTP {e.code} ({msg})") from None
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise _Refused(DOWN, f"venue: the Binance testnet is not reachable at {http} ({scrub(str(reason), keys)})") from None


def read_account(keys: Keys, timeout: float) -> AccountAtRest:
    """Balances and open orders (``_Refused`` with the reason otherwise)."""
    account = _signed_get("/api/v3/account", keys, timeout)
    orders = _signed_get("/api/v3/openOrders", keys, timeout)
    balances = [b for b in account.get("balances", []) if float(b["free"]) + float(b["locked"]) > 0]
    cash = sum(float(b["free"]) + float(b["locked"]) for b in balances if b["asset"] == QUOTE)
    free = sum(float(b["free"]) for b in balances if b["asset"] == QUOTE)
    holdings = tuple(Holding(b["asset"], "BINANCE", float(b["free"]) + float(b["locked"]), 0.0)
                     for b in balances if b["asset"] != QUOTE)
    open_orders = tuple(OpenOrder(o["symbol"] + SUFFIX, o["side"], o["type"], float(o["price"]), float(o["origQty"]),
                                  float(o["executedQty"])) for o in orders)
    return AccountAtRest(account_id=keys.masked, equity=cash, cash=cash, buying_power=free, exposure=0.0,
                          holdings=holdings, is_paper=True, currency=QUOTE, open_orders=open_orders)


def probe_account(timeout: float = 5.0, keys: Keys | None = None) -> AccountAtRest | ProbeFailure:
    """The account at rest, or a ``ProbeFailure`` whose state is no keys / keys rejected / testnet down."""
    keys = keys or load_keys()
    if keys is None:
        return ProbeFailure(NO_KEYS_STATE, NO_KEYS)
    try:
        return read_account(keys, timeout)
    except _Refused as e:
        return ProbeFailure(e.state, str(e))


def preflight(spec: SessionSpec, timeout: float = 5.0) -> str:
    """Keys present, the account readable and trading; the session's note (one-line ``SpecError`` otherwise)."""
    result = probe_account(timeout)
    if isinstance(result, ProbeFailure):
        raise SpecError(result.message)
    held = ", ".join(f"{h.position:g} {h.symbol}" for h in result.holdings[:4])
    mine = [o for o in result.open_orders if o.symbol in spec.instruments]
    return (f"BINANCE TESTNET: key {result.account_id}, {result.cash:,.2f} {QUOTE}"
            + (f", {held}" if held else "") + f"; {len(mine)} open order(s) on {', '.join(map(symbol_of, spec.instruments))}")
