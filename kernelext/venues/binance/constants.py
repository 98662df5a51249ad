"""Names and addresses of the Binance venues: the Nautilus venue, feeds, env overrides, testnet URLs."""

from __future__ import annotations

import os

from nautilus_trader.model.identifiers import Venue

BINANCE = Venue("BINANCE")
TESTNET_VENUE, SIM_VENUE = "binance-testnet", "binance-sim"
TESTNET_FEED, SIM_FEED = "testnet", "simulated"  # spec feeds: the testnet; Binance public data, simulated fills
# (surfaces print the feed in capitals: [TESTNET], [SIMULATED])
KEYS_URL = "https://testnet.binance.vision"
QUOTE = "USDT"  # the spot testnet's funding asset
TAKER_FEE, MAKER_FEE = "0.001", "0.001"  # Binance spot's standard (VIP 0) schedule, 0.1% each
REPLAY = "replay"  # the sandbox's offline feed: binance-sim falls back to it, and its REPLAY badge shows
SIMULATED = ("SIMULATED: Binance public market data, local sandbox fills at Binance's quotes and trades "
             "(fees 0.1% as Binance's standard schedule); no order reaches Binance")

# Where the clients connect: Binance's own addresses unless these point elsewhere (the tests' peer).
TESTNET_HTTP = "https://testnet.binance.vision"
TESTNET_WS = "wss://stream.testnet.binance.vision"  # market streams (the adapter appends /stream?streams=)
TESTNET_WS_API = "wss://ws-api.testnet.binance.vision/ws-api/v3"  # orders' user data stream
PUBLIC_HTTP = "https://api.binance.com"  # public market data for binance-sim (no key)
PUBLIC_WS = "wss://stream.binance.com:9443"


def testnet_urls() -> tuple[str, str, str]:
    """(REST, market streams, WebSocket API) of the testnet, or their ``PAPERLAB_BINANCE_*`` overrides."""
    return (os.environ.get("PAPERLAB_BINANCE_TESTNET_HTTP", TESTNET_HTTP),
            os.environ.get("PAPERLAB_BINANCE_TESTNET_WS", TESTNET_WS),
            os.environ.get("PAPERLAB_BINANCE_TESTNET_WS_API", TESTNET_WS_API))


def public_urls() -> tuple[str, str]:
    """(REST, market streams) of Binance's public market data, or their overrides."""
    return (os.environ.get("PAPERLAB_BINANCE_HTTP", PUBLIC_HTTP),
            os.environ.get("PAPERLAB_BINANCE_WS", PUBLIC_WS))
