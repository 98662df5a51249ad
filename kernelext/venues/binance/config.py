"""binance-testnet's Nautilus clients: Binance Spot market data and execution on the testnet
(``environment=TESTNET``), through NautilusTrader's Binance adapter.

- Keys are passed to the configs from ``credentials.load_keys`` (env or ``.env``); the
  configs live only in the node, never in the ledger.
- Reconciliation is on (a real venue): open orders, fills and balances come from the testnet
  at start and after a reconnect (the adapter's mass status on resubscribe).
- The account is a spot cash account in USDT: its balances are the testnet's own.
"""

from __future__ import annotations

from nautilus_trader.adapters.binance.common.enums import BinanceAccountType, BinanceEnvironment
from nautilus_trader.adapters.binance.config import (
    BinanceDataClientConfig,
    BinanceExecClientConfig,
    BinanceInstrumentProviderConfig,
)
from nautilus_trader.adapters.binance.factories import (
    BinanceLiveDataClientFactory,
    BinanceLiveExecClientFactory,
)
from nautilus_trader.model.identifiers import InstrumentId

from kernelext.spec import SessionSpec
from kernelext.venues.base import Client, TelemetryOptions, VenuePlan
from kernelext.venues.binance.constants import BINANCE, QUOTE, testnet_urls
from kernelext.venues.binance.credentials import NO_KEYS, Keys, load_keys

CLIENT = BINANCE.value  # "BINANCE": the data client's name
# The execution client's name is its account's issuer ("BINANCE_TESTNET-SPOT-master"): not "BINANCE",
# which Nautilus marks process-wide as a *calculated* account once a simulated exchange (a
# backtest, binance-sim's sandbox) has run on BINANCE in this process; the testnet's account is
# the venue's own (reported), and its fills must not be counted a second time.
EXEC_CLIENT = "BINANCE_TESTNET"
NOTE = ("BINANCE TESTNET: Binance's spot testnet matching engine with test funds; "
        "a spot cash account (long-flat: a short signal closes the long)")


def provider(spec: SessionSpec) -> BinanceInstrumentProviderConfig:
    """Load only the session's symbols."""
    return BinanceInstrumentProviderConfig(load_ids=frozenset(InstrumentId.from_str(i) for i in spec.instruments))


def _testnet(spec: SessionSpec, keys: Keys, base_url_ws: str) -> dict:
    """What the data and exec clients share: keys, spot testnet, REST URL, the session's symbols."""
    return dict(api_key=keys.key, api_secret=keys.secret, account_type=BinanceAccountType.SPOT,
                environment=BinanceEnvironment.TESTNET, base_url_http=testnet_urls()[0], base_url_ws=base_url_ws,
                instrument_provider=provider(spec))


def data_client_config(spec: SessionSpec, keys: Keys) -> BinanceDataClientConfig:
    """Market streams."""
    return BinanceDataClientConfig(**_testnet(spec, keys, testnet_urls()[1]), update_instruments_interval_mins=None)


def exec_client_config(spec: SessionSpec, keys: Keys) -> BinanceExecClientConfig:
    """Orders and the user data stream through the WebSocket API."""
    return BinanceExecClientConfig(**_testnet(spec, keys, testnet_urls()[2]), max_retries=None)


def plan(spec: SessionSpec) -> VenuePlan:
    """Testnet data and testnet execution; equity is every balance at the last price."""
    from kernelext.spec import SpecError
    from kernelext.venues.binance.session import BinanceSession

    keys = load_keys()
    if keys is None:
        raise SpecError(NO_KEYS)
    return VenuePlan(
        data_clients=(Client(CLIENT, data_client_config(spec, keys), BinanceLiveDataClientFactory),),
        exec_clients=(Client(EXEC_CLIENT, exec_client_config(spec, keys), BinanceLiveExecClientFactory),),
        settlement_currency=QUOTE,
        submit_rate=spec.risk.max_order_submit_rate,
        telemetry=TelemetryOptions(venue=BINANCE, starting_cash=None, live_feed=True, cash_account=True),
        session=BinanceSession(),
        notes=(NOTE,),
        reconciliation=True,
        timeouts={
            "timeout_connection": 20.0,
            "timeout_reconciliation": 10.0,
            "timeout_portfolio": 5.0,
            "timeout_disconnection": 2.0,
            "timeout_post_stop": 0.2,
            "timeout_shutdown": 2.0,
        },
    )
