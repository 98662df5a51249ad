"""The live Kraken spot feed through NautilusTrader's own Kraken adapter.

No key, nothing leaves the machine but market-data requests; orders fill in the local
sandbox against Kraken's quotes and trades. Facts that shape this module (see
``shared/PROTOCOLS.md``):

- Only the session's instruments load (``load_ids``); without an instrument provider
  config the adapter drops every WebSocket frame.
- Instruments carry Kraken's raw asset codes as currencies (``XXBT``/``ZUSD``), so the
  sandbox is funded in ``ZUSD``, not ``USD``.
- Kraken's own spot bars arrive late and partial: strategies get bars built inside the
  node from trades (INTERNAL bar types); warm-up history comes from Kraken OHLC
  through the adapter's bar request (at most 720 bars).
- Base URLs come from ``PAPERLAB_KRAKEN_HTTP`` / ``PAPERLAB_KRAKEN_WS`` (tests point
  them at a local protocol peer; users behind a proxy elsewhere).
"""

from __future__ import annotations

import difflib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from typing import Any

from nautilus_trader.adapters.kraken import KrakenDataClientConfig, KrakenLiveDataClientFactory, KrakenProductType
from nautilus_trader.adapters.kraken.data import KrakenDataClient
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.config import InstrumentProviderConfig

from kernelext.venues.sandbox.instruments import normalize_symbol

HTTP_ENV = "PAPERLAB_KRAKEN_HTTP"
WS_ENV = "PAPERLAB_KRAKEN_WS"
DEFAULT_HTTP = "https://api.kraken.com"
DEFAULT_WS = "wss://ws.kraken.com/v2"
PROBE_TIMEOUT_S = 5.0
RECONNECT_TOPIC = "paperlab.feed.reconnected"
RECONNECT_GAP_NS = 1_000_000_000  # drops closer together than this belong to one snapshot
_ASSET_CODES = {"USD": "ZUSD", "EUR": "ZEUR", "GBP": "ZGBP", "CAD": "ZCAD", "JPY": "ZJPY", "BTC": "XXBT", "ETH": "XETH"}


@dataclass(frozen=True, slots=True)
class KrakenEndpoints:
    """Where the adapter connects."""

    http: str
    ws: str

    @property
    def is_default(self) -> bool:
        return self.http == DEFAULT_HTTP


def endpoints() -> KrakenEndpoints:
    """Kraken's public endpoints, or the ones set in the environment."""
    return KrakenEndpoints(
        http=os.environ.get(HTTP_ENV, DEFAULT_HTTP).rstrip("/"),
        ws=os.environ.get(WS_ENV, DEFAULT_WS),
    )


def asset_code(currency: str) -> str:
    """Kraken's raw asset code of a currency (``USD`` -> ``ZUSD``), as its instruments carry."""
    return _ASSET_CODES.get(currency, currency)


@dataclass(frozen=True, slots=True)
class Probe:
    """What asking Kraken's AssetPairs told us: its spot pairs, or why it did not answer."""

    pairs: frozenset[str]  # "BTC/USD", ... (wsnames, XBT -> BTC, XDG -> DOGE)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def check(self, symbol: str) -> str | None:
        """``None`` if ``symbol`` is a Kraken spot pair, else one line with the nearest ones."""
        if symbol in self.pairs:
            return None
        near = difflib.get_close_matches(symbol, sorted(self.pairs), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        return f"instrument: {symbol} is not a Kraken spot pair{hint}"


def probe(timeout: float = PROBE_TIMEOUT_S) -> Probe:
    """Ask Kraken's REST API for its spot pairs, waiting at most ``timeout`` seconds."""
    url = f"{endpoints().http}/0/public/AssetPairs"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http/https only)
            body = json.loads(response.read() or b"{}")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return Probe(frozenset(), f"Kraken is not reachable at {endpoints().http} ({reason})")
    if body.get("error"):
        return Probe(frozenset(), f"Kraken answered with an error: {body['error'][0]}")
    pairs = {normalize_symbol(p["wsname"]) for p in body.get("result", {}).values() if p.get("wsname")}
    return Probe(frozenset(pairs))


def data_client_config(instrument_ids: list[str]) -> KrakenDataClientConfig:
    """The adapter's config: spot only, the session's instruments only."""
    ep = endpoints()
    return KrakenDataClientConfig(
        product_types=(KrakenProductType.SPOT,),
        base_url_http_spot=ep.http,
        base_url_ws_spot=ep.ws,
        instrument_provider=InstrumentProviderConfig(load_ids=frozenset(instrument_ids)),
        update_instruments_interval_mins=None,
    )


class SequencedKrakenDataClient(KrakenDataClient):
    """Nautilus's Kraken data client that drops trades and quotes older than the last seen.

    After a reconnect Kraken re-sends its last trades as a snapshot with their old
    timestamps; Nautilus sequence-checks bars only, so those trades would reach the
    sandbox (filling resting orders at stale prices) and the node's bar aggregation.
    """

    stale_dropped = 0
    _last_drop_ns = 0

    def _handle_data(self, data: Any) -> None:
        if isinstance(data, (TradeTick, QuoteTick)):
            key = (type(data), data.instrument_id)
            last = self._last_seen_ts.get(key, 0)
            if data.ts_event < last:
                self._dropped(data)
                return
            self._last_seen_ts[key] = data.ts_event
        super()._handle_data(data)

    def _dropped(self, data: Any) -> None:
        """A re-sent snapshot means the adapter reconnected and resubscribed: say so once."""
        self.stale_dropped += 1
        now = self._clock.timestamp_ns()
        if now - self._last_drop_ns > RECONNECT_GAP_NS:
            self._msgbus.publish(RECONNECT_TOPIC, {"instrument": data.instrument_id.value, "ts": now})
        self._last_drop_ns = now


class SequencedKrakenDataClientFactory(KrakenLiveDataClientFactory):
    """Builds Nautilus's Kraken data client as a ``SequencedKrakenDataClient``."""

    @staticmethod
    def create(*args: Any, **kwargs: Any) -> SequencedKrakenDataClient:  # type: ignore[override]
        client = KrakenLiveDataClientFactory.create(*args, **kwargs)
        client.__class__ = SequencedKrakenDataClient  # same layout: a behaviour-only subclass
        client._last_seen_ts = {}
        return client
