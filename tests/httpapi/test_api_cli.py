"""``paperlab api`` refuses to expose itself; ``paperlab token`` shows a secret once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelext.surfaces import cli
from kernelext.surfaces.http.server import check_bind
from tests.helpers import file_bytes


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("argv", "line"), [
    (("--host", "0.0.0.0"), "host: refusing to serve the API on 0.0.0.0 over plain HTTP"),
    (("--host", "192.168.1.5", "--no-auth", "--behind-proxy"), "no_auth: --no-auth is for 127.0.0.1 only"),
    (("--certfile", "/nonexistent.pem"), "certfile: --certfile and --keyfile go together"),
    (("--port", "70000"), "port: expected 1-65535"),
])
def test_api_refuses_in_one_line(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], line: str) -> None:
    code, _, err = run(capsys, "api", *argv)
    assert code == 2 and err.startswith(f"paperlab: error: {line}") and err.count("\n") == 1


def test_tls_or_proxy_allow_other_hosts(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    check_bind("0.0.0.0", 8443, certfile=str(cert), keyfile=str(key), behind_proxy=False, no_auth=False)
    check_bind("10.0.0.2", 8000, certfile=None, keyfile=None, behind_proxy=True, no_auth=False)
    check_bind("::1", 8000, certfile=None, keyfile=None, behind_proxy=False, no_auth=True)


def test_token_create_list_revoke(capsys: pytest.CaptureFixture[str], paperlab_home: Path) -> None:
    code, out, _ = run(capsys, "token", "create", "--name", "sched", "--scope", "trade")
    secret = out.splitlines()[0]
    assert code == 0 and secret.startswith("plk_") and "only time it is shown" in out
    code, out, _ = run(capsys, "token", "list")
    assert code == 0 and "sched  trade" in out and "live" in out and secret not in out
    code, _, err = run(capsys, "token", "create", "--name", "sched", "--scope", "god")
    assert code == 2 and "scope: 'god' is not allowed; allowed: read, trade, admin" in err
    assert run(capsys, "token", "revoke", "sched")[0] == 0
    code, _, err = run(capsys, "token", "revoke", "sched")
    assert code == 2 and "token: no live token called 'sched'" in err
    code, out, _ = run(capsys, "audit")
    assert "token.create" in out and "token.revoke" in out and secret not in out
    stored = b"".join(file_bytes(p) for p in paperlab_home.glob("ledger.sqlite*"))
    assert b"sched" in stored and secret.split("_", 2)[2].encode() not in stored
