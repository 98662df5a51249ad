"""binance-testnet keys: never in any output, log or ledger row (distinctive values grepped for
everywhere); without keys one line says how to get them; the account at rest is read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelext.spec import SpecError, build_spec, make_sleeve
from kernelext.venues.base import ProbeFailure
from kernelext.venues.binance.credentials import Keys, load_keys
from kernelext.venues.binance.probe import AccountAtRest, probe_account
from tests.peers.binance_peer import BinancePeer
from tests.helpers import file_bytes

KEY = "kEyZQ7distinctBINANCEtestnetKEYvalue4242"
SECRET = "sEcZQ7distinctBINANCEtestnetSECRETvalue9191"
RULES = {"indicators": {"rsi": {"type": "rsi", "period": 2}}, "entry": ["close > 0"], "exit": [],
         "direction": "long", "stop_loss_pct": 5.0, "take_profit_pct": 0.2, "warmup_bars": 0,
         "trade_notional": 1000}


@pytest.fixture
def peer() -> Iterator[BinancePeer]:
    with BinancePeer(api_key=KEY, api_secret=SECRET) as p:
        yield p


def _env(home: Path, peer_urls: tuple[str, str, str], keys: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    env.update({"PAPERLAB_HOME": str(home), "PAPERLAB_BINANCE_TESTNET_HTTP": peer_urls[0],
                "PAPERLAB_BINANCE_TESTNET_WS": peer_urls[1], "PAPERLAB_BINANCE_TESTNET_WS_API": peer_urls[2]})
    if keys:
        env.update({"BINANCE_TESTNET_API_KEY": KEY, "BINANCE_TESTNET_API_SECRET": SECRET})
    return env


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kernelext", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def _paper(env: dict[str, str], cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    return _cli(env, cwd, "paper", "--venue", "binance-testnet", "--strategy", "rsi_rules", "--instrument",
                "BTCUSDT.BINANCE", "--bar-spec", "1-SECOND-LAST", "--params", json.dumps(RULES), *extra)


def test_keys_appear_in_no_output_log_or_ledger_row(peer: BinancePeer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home, (peer.http_url, peer.ws_url, peer.ws_api_url))
    run = _paper(env, tmp_path, "--for", "6s")
    assert run.returncode == 0, run.stderr
    assert peer.executions(), "the session traded"
    assert "BINANCE TESTNET" in run.stdout
    assert "[ERROR]" not in run.stdout + run.stderr and not run.stderr.strip(), run.stderr
    outputs = [run.stdout, run.stderr, _cli(env, tmp_path, "sessions", "--json").stdout]
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files) and any("ledger" in p.name or p.suffix in (".db", ".sqlite")
                                                          for p in files), [p.name for p in files]
    for text in outputs + [file_bytes(p).decode("latin-1") for p in files]:
        for secret in (KEY, SECRET, KEY[4:20], SECRET[4:20]):
            assert secret not in text


def test_without_keys_one_line_says_how_to_get_them(tmp_path: Path) -> None:
    env = _env(tmp_path / "home", ("http://127.0.0.1:9", "ws://127.0.0.1:9", "ws://127.0.0.1:9/ws-api/v3"),
               keys=False)
    run = _paper(env, tmp_path, "--for", "5s")
    assert run.returncode != 0
    err = run.stderr.strip().splitlines()
    assert len(err) == 1, run.stderr
    assert "https://testnet.binance.vision" in err[0] and "--venue binance-sim" in err[0]
    assert "BINANCE_TESTNET_API_KEY" in err[0]
    assert json.loads(_cli(env, tmp_path, "sessions", "--json").stdout or "[]") == []


def test_a_pair_of_another_venue_gets_the_binance_symbol() -> None:
    with pytest.raises(SpecError) as e:
        build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], venue="binance-testnet")
    assert str(e.value).count("\n") == 0
    assert "instrument: BTC/USD" in str(e.value) and "use BTCUSDT.BINANCE" in str(e.value)
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "btcusdt.binance")], venue="binance-testnet")
    assert spec.instruments == ["BTCUSDT.BINANCE"]
    with pytest.raises(SpecError, match=r"instrument: BTCUSDT.BINANCE is Binance symbology; use --venue"):
        build_spec(sleeves=[make_sleeve("ema_cross", "BTCUSDT.BINANCE")], venue="sandbox")


def test_the_account_at_rest_and_why_there_is_nothing(peer: BinancePeer, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAPERLAB_BINANCE_TESTNET_HTTP", peer.http_url)
    monkeypatch.chdir(tmp_path)
    keys = Keys(KEY, SECRET)
    assert KEY not in repr(keys) and SECRET not in repr(keys)
    with peer._lock:
        peer.exchange.new_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01000",
                                 "price": "60000.00", "newClientOrderId": "resting-1"}, 0)
    requests = len(peer.requests)
    seen = probe_account(timeout=5, keys=keys)
    assert isinstance(seen, AccountAtRest), seen
    assert seen.account_id == KEY[:4] + "…" and seen.currency == "USDT"
    assert seen.cash == pytest.approx(10_000.0) and seen.buying_power == pytest.approx(10_000 - 600 * 1.001)
    assert [(o.symbol, o.side, o.price) for o in seen.open_orders] == [("BTCUSDT.BINANCE", "BUY", 60000.0)]
    assert peer.requests[requests:] == ["GET account", "GET openOrders"], "read-only: two reads"
    rejected = probe_account(timeout=5, keys=Keys(KEY, "wrong-secret"))
    assert isinstance(rejected, ProbeFailure) and rejected.state == "keys rejected"
    assert "Signature for this request is not valid" in rejected.message and "wrong-secret" not in rejected.message
    monkeypatch.setenv("PAPERLAB_BINANCE_TESTNET_HTTP", "http://127.0.0.1:9")
    down = probe_account(timeout=2, keys=keys)
    assert isinstance(down, ProbeFailure) and down.state == "testnet down"
    for name in ("BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    nothing = probe_account(timeout=2)
    assert isinstance(nothing, ProbeFailure) and nothing.state == "no keys"
    (tmp_path / ".env").write_text(f"BINANCE_TESTNET_API_KEY={KEY}\nexport BINANCE_TESTNET_API_SECRET='{SECRET}'\n")
    assert load_keys() == Keys(KEY, SECRET), "a .env in the working directory"


def test_paperlab_binance_status_reads_the_account_or_says_why_not(peer: BinancePeer, tmp_path: Path) -> None:
    env = _env(tmp_path / "home", (peer.http_url, peer.ws_url, peer.ws_api_url))
    seen = _cli(env, tmp_path, "binance", "status")
    assert seen.returncode == 0, seen.stderr
    assert "testnet account (key kEyZ…): 10,000.00 USDT" in seen.stdout and "open orders: 0" in seen.stdout
    assert KEY not in seen.stdout + seen.stderr and SECRET not in seen.stdout + seen.stderr
    assert peer.requests == ["GET account", "GET openOrders"], "read-only"
    none = _cli(_env(tmp_path / "home", (peer.http_url, peer.ws_url, peer.ws_api_url), keys=False), tmp_path,
                "binance", "status")
    assert none.returncode == 1 and none.stderr.count("\n") == 1 and "testnet.binance.vision" in none.stderr
