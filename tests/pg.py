"""A real PostgreSQL for the tests: Debian's server in a temporary folder on a free loopback port.

``pg_server`` (session scope) runs ``initdb``, starts ``pg_ctl`` on 127.0.0.1 (its unix socket in the
temporary folder; as root it runs as ``nobody``), creates a database and yields its URL; the server
is stopped at the end. ``pg_url`` gives each test a fresh schema of that database (a URL whose
``options`` set the search_path), dropped afterwards. Without PostgreSQL installed the PG tests skip
(``.ci/run`` installs it).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
             default=Path("/usr/lib/postgresql/15/bin"))  # Debian's newest installed server
DATABASE = "paperlab"
PASSWORD = "s3cret-pg-pw"  # the tests check it never shows


def pg_bin(name: str) -> str | None:
    found = PG_BIN / name
    return str(found) if found.exists() else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    """As root, run the server's tools as ``nobody`` (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "nobody", "--", *cmd] if os.geteuid() == 0 else cmd


class PgServer:
    """One temporary PostgreSQL cluster."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="paperlab-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.url = f"postgresql://paperlab:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"
        self._schemas = itertools.count(1)

    def start(self) -> None:
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody", "nogroup")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "nobody", "nogroup")
        run = lambda cmd: subprocess.run(_as_server_user(cmd), check=True, capture_output=True, text=True,  # noqa: E731
                                         cwd=self.root, timeout=120)
        run([pg_bin("initdb"), "-D", str(self.data), "-U", "paperlab", "--pwfile", str(pwfile), "-A", "scram-sha-256",
             "--no-sync", "-E", "UTF8", "--locale", "C"])
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        run([pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", opts, "-w", "-t", "60", "start"])
        import psycopg

        admin = self.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {DATABASE}")

    def fresh_url(self) -> str:
        """A new, empty schema of the database: its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._schemas)}"
        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {name}")
        return f"{self.url}?options=-csearch_path%3D{name}"

    def drop(self, url: str) -> None:
        """Drop the schema of ``url`` (connections to it may still be open: best effort)."""
        import psycopg

        name = url.rsplit("%3D", 1)[1]
        try:
            with psycopg.connect(self.url, autocommit=True) as con:
                con.execute("SET lock_timeout = '2s'")
                con.execute(f"DROP SCHEMA {name} CASCADE")
        except psycopg.Error:
            pass

    def stop(self) -> None:
        subprocess.run(_as_server_user([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, cwd=self.root, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def available() -> bool:
    """True when PostgreSQL's server tools are installed."""
    return pg_bin("initdb") is not None and pg_bin("pg_ctl") is not None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A running PostgreSQL for the whole test session (skips when it is not installed)."""
    if not available():
        if os.environ.get("CI") == "true":  # CI installs it (.ci/run): missing there is a failure, not a skip
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PgServer()
    t0 = time.monotonic()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    print(f"\nPostgreSQL up on 127.0.0.1:{server.port} in {time.monotonic() - t0:.1f} s")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A URL of a fresh, empty schema (dropped after the test)."""
    url = pg_server.fresh_url()
    yield url
    pg_server.drop(url)
