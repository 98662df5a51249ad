"""The sandbox's Nautilus clients: replay or Kraken market data, ``SandboxExecutionClient`` fills.

- The order submit-rate cap is wall-clock. Replay at ``speed`` x real time scales it by
  ``speed`` so it keeps its meaning in market time; at full speed (lock-step replay) it is
  lifted and the session says so.
- On Kraken the sandbox is funded in Kraken's asset code (``ZUSD``), as its instruments carry.
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig

from kernelext.spec import SessionSpec
from kernelext.venues.base import Client, TelemetryOptions, VenuePlan
from kernelext.session.margin import LIQUIDATION_LEVEL, MARGIN_CALL_LEVEL
from kernelext.venues.sandbox import kraken
from kernelext.venues.sandbox.depth import DepthSandboxExecClientFactory, PaperSandboxConfig
from kernelext.venues.sandbox.instruments import fee_tier
from kernelext.venues.sandbox.instruments import KRAKEN
from kernelext.venues.sandbox.replay import REPLAY_CLIENT, ReplayDataClientConfig, ReplayDataClientFactory
from kernelext.venues.sandbox.session import SandboxSession
from kernelext.venues.sandbox.venue import LIVE

SANDBOX_CLIENT = KRAKEN.value
KRAKEN_DATA_CLIENT = "KRAKEN"
UNLIMITED_RATE = "100000000/00:00:01"
REPLAY_DEPTH_NOTE = "replay: bars are the market (no book depth); orders fill as the backtest fills them"
BOOK_DEPTH = 10  # levels a side of Kraken's book the live sandbox fills against
def margin_note(leverage: float) -> str:
    """The session's note for Kraken margin trading at ``leverage``."""
    return (f"Kraken margin x{leverage:g}: used margin = position cost / {leverage:g}; margin call at "
            f"{MARGIN_CALL_LEVEL:g}%, liquidation at {LIQUIDATION_LEVEL:g}% margin level (equity / used margin)")


SPOT_NOTE = ("spot cash account: buys up to the free quote balance, sells up to the asset held; "
             "strategies run long-flat (a short signal closes the long)")


def scaled_rate(rate: str, speed: float | None) -> str:
    """``'10/00:00:01'`` at speed 60 -> ``'600/00:00:01'``; full speed -> unlimited."""
    if speed is None:
        return UNLIMITED_RATE
    limit, interval = rate.split("/")
    return f"{max(1, round(int(limit) * speed))}/{interval}"


def plan(spec: SessionSpec) -> VenuePlan:
    """Replay (or Kraken) data into the local sandbox on the KRAKEN venue."""
    live = spec.feed == LIVE
    rate, notes = spec.risk.max_order_submit_rate, [SPOT_NOTE if spec.margin is None else margin_note(spec.margin)]
    if spec.fee_volume:
        maker, taker = fee_tier(spec.fee_volume)
        notes.append(f"fees: Kraken's tier for a 30-day volume of {spec.fee_volume:,.0f} USD, "
                     f"{float(maker) * 100:g}% maker / {float(taker) * 100:g}% taker")
    if not live:
        rate = scaled_rate(rate, spec.speed)
        notes.append(REPLAY_DEPTH_NOTE)
        if spec.speed is None:
            notes.append("order submit-rate cap lifted: replay runs faster than the wall clock")
        elif spec.speed != 1:
            notes.append(f"order submit-rate cap scaled x{spec.speed:g} to market time: {rate}")
    currency = kraken.asset_code(spec.currency) if live else spec.currency
    data = (Client(KRAKEN_DATA_CLIENT, kraken.data_client_config(spec.instruments), kraken.SequencedKrakenDataClientFactory)
            if live else Client(REPLAY_CLIENT, replay_config(spec), ReplayDataClientFactory))
    sandbox = Client(SANDBOX_CLIENT, sandbox_config(spec, currency, bar_execution=not live), DepthSandboxExecClientFactory)
    return VenuePlan(
        data_clients=(data,),
        exec_clients=(sandbox,),
        settlement_currency=currency,
        submit_rate=rate,
        telemetry=TelemetryOptions(venue=KRAKEN, starting_cash=float(spec.starting_cash), live_feed=live,
                                   cash_account=spec.margin is None, margin_leverage=spec.margin,
                                   book_depth=BOOK_DEPTH if live else 0),
        session=SandboxSession(route_bars=not live),
        notes=tuple(notes),
        timeouts={
            "timeout_connection": 10.0,
            "timeout_reconciliation": 1.0,
            "timeout_portfolio": 1.0,
            "timeout_disconnection": 5.0 if live else 1.0,  # a WebSocket feed takes longer to close
            "timeout_post_stop": 0.1,
            "timeout_shutdown": 1.0,
        },
    )


def replay_config(spec: SessionSpec) -> ReplayDataClientConfig:
    """The replay feed of the spec's instruments (generator seed or catalog, speed, bar cap)."""
    return ReplayDataClientConfig(
        instrument_ids=tuple(spec.instruments),
        seed=spec.seed,
        speed=spec.speed,
        anchor_ns=spec.anchor_ns,
        catalog_path=spec.catalog_path,
        max_bars=spec.max_bars,
        start_after_ns=spec.resume_after_ns,
    )


def sandbox_config(spec: SessionSpec, currency: str, *, bar_execution: bool) -> SandboxExecutionClientConfig:
    """The local sandbox on the KRAKEN venue: a spot cash account, as a Kraken account without
    margin trading is, funded in the instruments' own quote currency. Nautilus's RiskEngine
    then denies a buy beyond the free quote balance and a sell beyond the free base balance.

    On the live feed it fills against Kraken's order book (L2, ``BOOK_DEPTH`` levels a side:
    a market order walks the levels and keeps filling as the book refills) and trades (bars
    built in the node are not fed to it); on replay, bars are the market. Venue order ids are UUIDs, as a real
    venue's are opaque: a relaunched session's sandbox starts its counter again, and its
    restored orders keep theirs.
    """
    margin = spec.margin is not None
    fees = fee_tier(spec.fee_volume) if spec.fee_volume else (None, None)
    return PaperSandboxConfig(
        maker_fee=None if fees[0] is None else str(fees[0]),
        taker_fee=None if fees[1] is None else str(fees[1]),
        venue=KRAKEN.value,
        starting_balances=[f"{spec.starting_cash} {currency}"],
        base_currency=currency if margin else None,  # spot: a multi-currency account, USD and the BTC it buys
        oms_type="NETTING",
        account_type="MARGIN" if margin else "CASH",
        default_leverage=Decimal(repr(spec.margin)) if margin else Decimal(1),
        bar_execution=bar_execution,
        trade_execution=True,
        book_type="L2_MBP" if not bar_execution and BOOK_DEPTH else "L1_MBP",  # live: orders walk Kraken's book
        use_random_ids=True,  # venue order ids never repeat, also across a relaunch (its counter restarts)
    )
