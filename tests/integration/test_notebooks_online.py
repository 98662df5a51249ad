"""The notebooks' online paths, run once against the local protocol peers.

nbmake runs every notebook offline (Kraken unreachable: REPLAY; no gateway: each IB step
says so in one line). Here the same notebooks run with a venue answering, so their live
branches are exercised too: the quickstart on the Kraken feed (the Kraken peer), and the IB
paper notebook against the TWS peer (account at rest, a session, its fills, a backtest like
it and the comparison).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kernelext.ledger import Ledger
from tests.peers.kraken_peer import KrakenPeer
from tests.peers.tws_peer import TwsPeer

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(name: str) -> list[str]:
    """Execute ``notebooks/<name>`` in a fresh kernel (its env: this process's); return every text output."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")))
    return texts


def sessions(home: Path) -> list[dict]:
    led = Ledger(home)
    try:
        return [led.session(r[0]) for r in led.query("SELECT id FROM sessions ORDER BY started_at")]
    finally:
        led.close()


@pytest.fixture
def home(paperlab_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PAPERLAB_HOME", str(paperlab_home))
    yield paperlab_home


def test_quickstart_on_the_kraken_feed(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with KrakenPeer(pairs=("BTC/USD",), tick_interval=0.05) as peer:
        monkeypatch.setenv("PAPERLAB_KRAKEN_HTTP", peer.http_url)
        monkeypatch.setenv("PAPERLAB_KRAKEN_WS", peer.ws_url)
        texts = run_notebook("01_quickstart.ipynb")
    runs = sessions(home)
    assert [r["feed"] for r in runs] == ["kraken"], runs
    assert runs[0]["status"] == "stopped"
    assert not any("paper: error" in t or "Traceback" in t for t in texts), texts


def test_ib_paper_notebook_against_the_tws_peer(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with TwsPeer(accounts=("DU1234567",), positions=(), bar_interval_s=0.3) as peer:
        monkeypatch.setenv("PAPERLAB_IB_PORT", str(peer.port))
        monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", "DU1234567")
        texts = run_notebook("05_ib_paper.ipynb")
    runs = sessions(home)
    kinds = sorted((r["kind"], r["venue"]) for r in runs)
    assert kinds == [("backtest", "backtest"), ("paper", "ib-paper")], runs
    assert all(r["status"] == "stopped" for r in runs), runs
    joined = "\n".join(texts)
    assert "IB gateway: ok" in joined, joined[-2000:]
    assert not any("paper: error" in t or "Traceback" in t for t in texts), texts
