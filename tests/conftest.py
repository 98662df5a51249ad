"""Test-wide set-up: every test run gets its own PAPERLAB_HOME (never ~/.paperlab).

``PAPERLAB_TEST_LEDGER=postgresql uv run pytest tests/...`` runs any tests with the default ledger
on PostgreSQL (a server from ``tests/pg.py``, a fresh schema per test); tests that look at the
SQLite file itself fail there, the rest must pass."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures for every test module)

_HOME = Path(tempfile.mkdtemp(prefix="paperlab-tests-"))
os.environ["PAPERLAB_HOME"] = str(_HOME)
# Nothing in a test may reach Kraken: the default feed ('auto') probes this closed local
# port, is refused at once and falls back to replay. Kraken tests point these at a peer.
os.environ["PAPERLAB_KRAKEN_HTTP"] = "http://127.0.0.1:9"
os.environ["PAPERLAB_KRAKEN_WS"] = "ws://127.0.0.1:9/v2"


@pytest.fixture
def paperlab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty PAPERLAB_HOME for one test."""
    monkeypatch.setenv("PAPERLAB_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=os.environ.get("PAPERLAB_TEST_LEDGER") == "postgresql")
def _ledger_on_postgresql(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With PAPERLAB_TEST_LEDGER=postgresql: every test's default ledger is a fresh PostgreSQL schema."""
    monkeypatch.setenv("PAPERLAB_LEDGER_URL", request.getfixturevalue("pg_url"))
