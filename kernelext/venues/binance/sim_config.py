"""binance-sim's Nautilus clients: Binance public market data (no key) or the BINANCE replay,
into the local sandbox on the BINANCE venue, funded in the quote asset, Binance's standard fees."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.adapters.binance.common.enums import BinanceAccountType, BinanceEnvironment
from nautilus_trader.adapters.binance.config import BinanceDataClientConfig
from nautilus_trader.adapters.binance.factories import BinanceLiveDataClientFactory

from kernelext.spec import SessionSpec
from kernelext.venues.base import Client, TelemetryOptions, VenuePlan
from kernelext.venues.binance.config import CLIENT, provider
from kernelext.venues.binance.constants import BINANCE, MAKER_FEE, SIM_FEED, SIMULATED, TAKER_FEE, public_urls
from kernelext.venues.sandbox.depth import DepthSandboxExecClientFactory, PaperSandboxConfig

SANDBOX_CLIENT = "BINANCE_SANDBOX"


def plan(spec: SessionSpec) -> VenuePlan:
    """Binance public data (or the replay) into the sandbox on BINANCE, funded in the quote asset."""
    from kernelext.venues.binance.session import SimSession
    from kernelext.venues.sandbox.config import replay_config, scaled_rate

    live = spec.feed == SIM_FEED
    rate = spec.risk.max_order_submit_rate if live else scaled_rate(spec.risk.max_order_submit_rate, spec.speed)
    if live:
        http, ws = public_urls()
        data = Client(CLIENT, BinanceDataClientConfig(
            account_type=BinanceAccountType.SPOT, environment=BinanceEnvironment.LIVE, base_url_http=http,
            base_url_ws=ws, instrument_provider=provider(spec), update_instruments_interval_mins=None,
        ), BinanceLiveDataClientFactory)
    else:
        from kernelext.venues.binance.replay import REPLAY_CLIENT, BinanceReplayDataClientFactory

        data = Client(REPLAY_CLIENT, replay_config(spec), BinanceReplayDataClientFactory)
    sandbox = PaperSandboxConfig(
        maker_fee=MAKER_FEE, taker_fee=TAKER_FEE, venue=BINANCE.value,
        starting_balances=[f"{spec.starting_cash} {spec.currency}"], base_currency=None, oms_type="NETTING",
        account_type="CASH", default_leverage=Decimal(1), bar_execution=not live, trade_execution=True,
        book_type="L1_MBP", use_random_ids=True,
    )
    return VenuePlan(
        data_clients=(data,),
        exec_clients=(Client(SANDBOX_CLIENT, sandbox, DepthSandboxExecClientFactory),),
        settlement_currency=spec.currency,
        submit_rate=rate,
        telemetry=TelemetryOptions(venue=BINANCE, starting_cash=float(spec.starting_cash), live_feed=live,
                                   cash_account=True),
        session=SimSession(route_bars=not live),
        notes=(SIMULATED if live else "REPLAY: bars are the market; orders fill as the backtest fills them",),
        timeouts={
            "timeout_connection": 15.0,
            "timeout_reconciliation": 1.0,
            "timeout_portfolio": 1.0,
            "timeout_disconnection": 2.0 if live else 1.0,
            "timeout_post_stop": 0.1,
            "timeout_shutdown": 1.0,
        },
    )




