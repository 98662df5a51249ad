"""A real uvicorn on 127.0.0.1 serving the API app in a thread of the test process (sessions it
starts run in this process, as under ``paperlab api``), its own PAPERLAB_HOME, and tokens."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from kernelext import api
from kernelext.surfaces.http import create_app
from kernelext.surfaces.http.config import ApiConfig

FAST_EMA = {"fast": 2, "slow": 5}  # flips often on 1-minute replay bars


def start_body(**over: object) -> dict[str, object]:
    """A replay session that trades within seconds: ema_cross on BTC/USD at 600x."""
    return {"strategy": "ema_cross", "instrument": "BTC/USD", "params": FAST_EMA, "feed": "replay",
            "speed": 600, "starting_cash": "10000 USD", "duration": "2m", **over}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn.Server.run in a daemon thread; ``stop`` asks it to exit and joins."""

    def __init__(self, config: ApiConfig) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="api-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class Api:
    """A running server and a token per scope."""

    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, scope: str | None = "admin", timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def ws_url(self, path: str) -> str:
        return self.url.replace("http://", "ws://") + path

    def auth(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}


@pytest.fixture(scope="module")
def api_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A PAPERLAB_HOME of this module's own (the server and the test read the same ledger)."""
    home = tmp_path_factory.mktemp("api-home")
    old = os.environ.get("PAPERLAB_HOME")
    os.environ["PAPERLAB_HOME"] = str(home)
    yield home
    api.stop_all(timeout=20)
    if old is None:
        os.environ.pop("PAPERLAB_HOME", None)
    else:
        os.environ["PAPERLAB_HOME"] = old


def serve(config: ApiConfig) -> Iterator[Api]:
    server = ServerThread(config).start()
    try:
        made = Api(server.url)
        for scope in api.TOKEN_SCOPES:
            made.tokens[scope] = api.create_token(f"{scope}-{server.port}", scope)["token"]
        yield made
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_server(api_home: Path) -> Iterator[Api]:
    """The API with default limits and a read, a trade and an admin token."""
    yield from serve(ApiConfig())
