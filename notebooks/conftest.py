"""nbmake runs these notebooks offline; their sessions write to a throwaway PAPERLAB_HOME."""

import os
import tempfile

os.environ.setdefault("PAPERLAB_HOME", tempfile.mkdtemp(prefix="paperlab-notebooks-"))
# Offline: the default feed asks this closed local port for Kraken and falls back to replay.
os.environ.setdefault("PAPERLAB_KRAKEN_HTTP", "http://127.0.0.1:9")
os.environ.setdefault("PAPERLAB_KRAKEN_WS", "ws://127.0.0.1:9/v2")
# Offline for Binance too: no testnet, no public data (binance-sim falls back to its replay).
for _name in ("PAPERLAB_BINANCE_TESTNET_HTTP", "PAPERLAB_BINANCE_HTTP"):
    os.environ.setdefault(_name, "http://127.0.0.1:9")
for _name in ("PAPERLAB_BINANCE_TESTNET_WS", "PAPERLAB_BINANCE_WS"):
    os.environ.setdefault(_name, "ws://127.0.0.1:9")
os.environ.setdefault("PAPERLAB_BINANCE_TESTNET_WS_API", "ws://127.0.0.1:9/ws-api/v3")
