"""Interactive Brokers: a read-only gateway probe and a health monitor for ib-paper.

Facts that shape this module (see ``shared/PROTOCOLS.md``, TWS API section):

- The probe connects with ib_async ``readonly=True``, asks for positions and the account
  summary, and disconnects. It never places, modifies or cancels an order.
- ib_async caches ONE event loop per process (``util.getLoop`` is ``functools.cache``d).
  Every probe therefore runs on a single dedicated daemon thread with its own loop, which
  claims that cache; the caller (perhaps a Jupyter kernel with a running loop) only blocks
  on the result. ``util.run``/``startLoop`` are never used.
- Connection refused -> "gateway down"; the API handshake answered but no
  nextValidId/managedAccounts within the timeout -> "logged out" (re-login needed);
  something listening that does not speak the TWS API -> "wrong port"; a live (``U…``)
  account on the paper profile -> "not a paper account".
- Account ids appear in messages masked to their first 3 characters. Gateway
  credentials are the gateway container's business: nothing here reads them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import os
import shlex
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ib_async import IB, StartupFetchNONE, Stock, util

from kernelext.spec import mask_account
from kernelext.venues.base import (  # the probe's result types are the Venue protocol's (re-exported here)
    HEALTH_OFF,
    HEALTH_OK,
    HEALTH_RELOGIN,
    AccountSnapshot,
    Holding,
    ProbeFailure,
    ProbeResult,
    health_of,
)
from kernelext.venues.ib.account import ACCOUNT_ENV, check_ib_account

T = TypeVar("T")

PAPER_PORT = 4002
LIVE_PORT = 4001
DEFAULT_CLIENT_ID = 17
COMPOSE_FILE = "kernelext/venues/ib/gateway/compose.yaml"  # relative to the project root
COMPOSE_PATH = Path(__file__).resolve().parent / "gateway" / "compose.yaml"
# absolute, so the command works from wherever the user is (a notebook's folder, say)
START_COMMAND = shlex.join(["docker", "compose", "-f", str(COMPOSE_PATH), "--profile", "paper", "up", "-d", "ib-gateway"])
HOST_ENV, PORT_ENV, CLIENT_ID_ENV = "PAPERLAB_IB_HOST", "PAPERLAB_IB_PORT", "PAPERLAB_IB_CLIENT_ID"
LIVE_HOST_ENV, LIVE_PORT_ENV = "PAPERLAB_IB_LIVE_HOST", "PAPERLAB_IB_LIVE_PORT"
LIVE_ACCOUNT_ENV = "PAPERLAB_IB_LIVE_ACCOUNT_ID"
STATES = ("gateway down", "logged out", "not a paper account", "wrong port", "wrong account")

log = logging.getLogger(__name__)


def check_paper_account(account_id: str) -> None:
    """Refuse any account id that is not an IB paper account (``DU…``), in one line."""
    if not account_id:
        raise ValueError("account: ib-paper needs a paper account id starting with DU (got nothing)")
    check_ib_account(account_id)


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}: needs an integer (got {raw[:12]!r})") from None


@dataclass(frozen=True)
class GatewayTarget:
    """Where the IB Gateway listens and which API client id / account to use."""

    host: str = "127.0.0.1"
    port: int = PAPER_PORT
    client_id: int = DEFAULT_CLIENT_ID
    account_id: str = ""  # empty: the gateway's (first DU) managed account
    paper: bool = True

    @classmethod
    def from_env(cls, *, paper: bool = True, env: Mapping[str, str] | None = None) -> GatewayTarget:
        """From PAPERLAB_IB_HOST/PORT/CLIENT_ID/ACCOUNT_ID, port 4002 (the paper gateway); ``paper=False``:
        the live gateway from PAPERLAB_IB_LIVE_HOST/PORT/ACCOUNT_ID, port 4001 (host and client id
        fall back to the paper ones)."""
        env = os.environ if env is None else env
        host = env.get(HOST_ENV, "").strip() or "127.0.0.1"
        if paper:
            return cls(host=host, port=_env_int(env, PORT_ENV, PAPER_PORT),
                       client_id=_env_int(env, CLIENT_ID_ENV, DEFAULT_CLIENT_ID),
                       account_id=env.get(ACCOUNT_ENV, "").strip(), paper=True)
        return cls(
            host=env.get(LIVE_HOST_ENV, "").strip() or host,
            port=_env_int(env, LIVE_PORT_ENV, LIVE_PORT),
            client_id=_env_int(env, CLIENT_ID_ENV, DEFAULT_CLIENT_ID),
            account_id=env.get(LIVE_ACCOUNT_ENV, "").strip(),
            paper=False,
        )

    @property
    def where(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


# -- the dedicated ib_async loop ---------------------------------------------------------


class _IbLoop:
    """One daemon thread + event loop that runs every ib_async coroutine of this module."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the IB loop; block the caller at most ``timeout`` seconds."""
        loop = cls._ensure()
        if threading.current_thread() is cls._thread:
            coro.close()
            raise RuntimeError("probe_account called from the IB loop thread itself")
        fut = asyncio.run_coroutine_threadsafe(_claiming_loop(coro), loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError from None

    @classmethod
    def _ensure(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._thread is None or not cls._thread.is_alive():
                cls._loop = asyncio.new_event_loop()
                cls._thread = threading.Thread(target=cls._loop.run_forever, name="paperlab-ib", daemon=True)
                cls._thread.start()
            return cls._loop


async def _claiming_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Make ib_async's cached ``getLoop()`` this running loop, then run ``coro``."""
    running = asyncio.get_running_loop()
    if util.getLoop() is not running:
        util.getLoop.cache_clear()
        util.getLoop()
    return await coro


# -- the probe ---------------------------------------------------------------------------


def _down(target: GatewayTarget, why: str) -> ProbeFailure:
    return ProbeFailure(
        "gateway down", f"IB Gateway at {target.where} {why}; start it with: {START_COMMAND}"
    )


def _not_paper(target: GatewayTarget, account_id: str) -> ProbeFailure:
    return ProbeFailure(
        "not a paper account",
        f"account: the gateway at {target.where} is logged in to {mask_account(account_id)}, "
        "not a paper account (DU…); log the paper gateway in with the paper user",
    )


def _summary_value(rows: list[Any], tag: str) -> tuple[float, str]:
    for row in rows:
        if row.tag == tag:
            try:
                return float(row.value), row.currency
            except ValueError:
                break
    return math.nan, ""


def _pick_account(target: GatewayTarget, accounts: list[str]) -> str | ProbeFailure:
    """The account to read, or why none fits."""
    if target.account_id:
        if target.account_id in accounts:
            return target.account_id
        return ProbeFailure(
            "wrong account",
            f"account: {mask_account(target.account_id)} is not managed by the gateway at "
            f"{target.where} (it manages {', '.join(mask_account(a) for a in accounts)})",
        )
    fitting = [a for a in accounts if a.startswith("DU") == target.paper]  # paper: DU…; live: the others
    return (fitting or accounts)[0]


async def _connect(ib: IB, target: GatewayTarget, timeout: float) -> ProbeFailure | None:
    """Connect read-only; classify a failure. ``None`` once the API is ready."""
    acked = threading.Event()
    ib.wrapper.connectAck = acked.set  # the gateway answered the API handshake
    try:
        await ib.connectAsync(
            target.host, target.port, clientId=target.client_id, timeout=timeout,
            readonly=True, account=target.account_id, fetchFields=StartupFetchNONE,
        )
    except TimeoutError:
        if acked.is_set():
            return ProbeFailure(
                "logged out",
                f"IB Gateway at {target.where} accepted the API connection but sent no account "
                f"within {timeout:g}s: its login expired, re-login needed (restart it or log in)",
            )
        return ProbeFailure(
            "wrong port",
            f"{target.where} accepts connections but does not speak the TWS API; check "
            f"{PORT_ENV} ({PAPER_PORT} paper gateway, {LIVE_PORT} live)",
        )
    except ConnectionRefusedError:
        return _down(target, "refused the connection")
    except ConnectionError:
        return _down(target, f"closed the API connection (client id {target.client_id} in use?)")
    except OSError as exc:
        return _down(target, f"is unreachable ({type(exc).__name__})")
    return None


async def _read_account(ib: IB, target: GatewayTarget, deadline: float) -> ProbeResult:
    """Positions (synced by connect) and the account summary of the chosen account."""
    account = _pick_account(target, ib.managedAccounts())
    if isinstance(account, ProbeFailure):
        return account
    if target.paper and not account.startswith("DU"):
        return _not_paper(target, account)
    if not target.paper and not account.startswith("U"):
        return ProbeFailure("not a live account", f"IB Gateway at {target.where} has {mask_account(account)}, "
                            "not a live account (U…); log the live gateway in with the live user")
    try:
        rows = await asyncio.wait_for(ib.accountSummaryAsync(account), max(deadline - time.monotonic(), 0.1))
    except TimeoutError:
        return ProbeFailure(
            "logged out",
            f"IB Gateway at {target.where} sent no account summary in time: re-login needed",
        )
    equity, currency = _summary_value(rows, "NetLiquidation")
    holdings = tuple(
        Holding(p.contract.symbol, p.contract.exchange or p.contract.primaryExchange, p.position, p.avgCost)
        for p in ib.positions(account)
    )
    return AccountSnapshot(
        account_id=account,
        equity=equity,
        cash=_summary_value(rows, "TotalCashValue")[0],
        buying_power=_summary_value(rows, "BuyingPower")[0],
        exposure=_summary_value(rows, "GrossPositionValue")[0],
        holdings=holdings,
        is_paper=account.startswith("DU"),
        currency=currency or "USD",
    )


async def _probe(target: GatewayTarget, timeout: float) -> ProbeResult:
    deadline = time.monotonic() + timeout
    ib = IB()
    try:
        failure = await _connect(ib, target, timeout)
        return failure or await _read_account(ib, target, deadline)
    finally:
        ib.disconnect()


def probe_account(target: GatewayTarget | None = None, timeout: float = 5.0) -> ProbeResult:
    """Read the account once, read-only. Safe to call from a thread with a running loop."""
    target = target or GatewayTarget.from_env()
    if target.paper and target.account_id:
        try:
            check_paper_account(target.account_id)
        except ValueError as exc:
            return ProbeFailure("not a paper account", str(exc))
    quiet = logging.getLogger("ib_async")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # our ProbeFailure says it in one line; ib_async would add its own
    try:
        return _IbLoop.run(_probe(target, timeout), timeout * 2 + 2)
    except TimeoutError:
        return ProbeFailure("logged out", f"IB Gateway at {target.where} did not answer in time: re-login needed")
    finally:
        quiet.setLevel(level)


# -- contracts ---------------------------------------------------------------------------


def ib_stock(instrument_id: str) -> Stock:
    """``QQQ.NASDAQ`` (IB simplified symbology) -> the SMART-routed stock on that primary exchange."""
    symbol, _, exchange = instrument_id.rpartition(".")
    return Stock(symbol.replace("-", " "), "SMART", "", primaryExchange=exchange)


async def _missing(target: GatewayTarget, instrument_ids: list[str], timeout: float) -> list[str] | ProbeFailure:
    ib = IB()
    try:
        failure = await _connect(ib, target, timeout)
        if failure is not None:
            return failure
        missing = []
        for iid in instrument_ids:
            details = await asyncio.wait_for(ib.reqContractDetailsAsync(ib_stock(iid)), timeout)
            if not details:
                missing.append(iid)
        return missing
    finally:
        ib.disconnect()


def missing_contracts(target: GatewayTarget, instrument_ids: list[str], timeout: float = 5.0) -> list[str] | ProbeFailure:
    """The instruments IB has no stock contract for (read-only ``reqContractDetails``).

    Nautilus's IB adapter waits out its request timeout on an unknown contract and then
    fails to start; asking first turns a typo into one line before anything is written.
    """
    quiet = logging.getLogger("ib_async")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # error 200 for an unknown contract is our message to give
    try:
        return _IbLoop.run(_missing(target, instrument_ids, timeout), timeout * (len(instrument_ids) + 1) + 2)
    except TimeoutError:
        return ProbeFailure("logged out", f"IB Gateway at {target.where} did not answer in time: re-login needed")
    finally:
        quiet.setLevel(level)


# -- health monitor ----------------------------------------------------------------------

Transition = Callable[[str | None, str, str], None]


class GatewayHealth:
    """Probe the gateway now and then; report state changes to ``on_transition(old, new, message)``.

    The first check reports a transition from ``None``. Free of ledger imports: the caller
    records transitions wherever it likes.
    """

    def __init__(
        self,
        target: GatewayTarget | None = None,
        on_transition: Transition | None = None,
        *,
        timeout: float = 5.0,
        probe: Callable[[GatewayTarget, float], ProbeResult] = probe_account,
    ) -> None:
        self.target = target or GatewayTarget.from_env()
        self.on_transition = on_transition
        self.timeout = timeout
        self.state: str | None = None
        self.message = ""
        self._probe = probe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._check_lock = threading.Lock()

    def check(self) -> str:
        """Probe once, remember the state, report a change; return the state."""
        with self._check_lock:
            result = self._probe(self.target, self.timeout)
            new = health_of(result)
            self.message = result.message if isinstance(result, ProbeFailure) else (
                f"IB Gateway at {self.target.where} ok, account {mask_account(result.account_id)}"
            )
            old, self.state = self.state, new
        if new != old and self.on_transition is not None:
            try:
                self.on_transition(old, new, self.message)
            except Exception:
                log.exception("gateway health transition callback failed")
        return new

    def start(self, interval_s: float = 900.0) -> None:
        """Check now and then every ``interval_s`` seconds on a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(interval_s,), name="paperlab-ib-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the monitor thread (waits for a running check)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout * 2 + 5)
            self._thread = None

    def _loop(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:
                log.exception("gateway health check failed")
            self._stop.wait(interval_s)
