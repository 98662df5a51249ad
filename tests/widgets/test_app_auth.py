"""The served app's login over HTTP: throttled (5 failures lock an address out for 60 s, with the
rate-limit message), audited, cookies SameSite; the password never on the command line."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kernelext import api
from kernelext.surfaces import cli
from tests.widgets.test_app import fetch, free_port
from widgets.app import app_password, serve
from widgets.app_auth import RATE_LIMITED, Throttle

PASSWORD = "correct horse battery"


def post_login(base: str, password: str, jar: http.cookiejar.CookieJar) -> tuple[int, str, list[str]]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    data = urllib.parse.urlencode({"username": "alice", "password": password}).encode()
    try:
        with opener.open(f"{base}/login", data=data, timeout=30) as resp:
            return resp.status, resp.read().decode(), resp.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get_all("Set-Cookie") or []


def test_login_lockout_after_five_failures_audited(paperlab_home: Path) -> None:
    port = free_port()
    server = serve(port=port, threaded=True, basic_auth=PASSWORD)
    base = f"http://127.0.0.1:{port}"
    try:
        fetch(f"{base}/login")
        jar = http.cookiejar.CookieJar()
        for _ in range(4):
            code, body, _ = post_login(base, "wrong guess 123", jar)
            assert code == 200 and "Invalid username or password" in body
        code, body, _ = post_login(base, "wrong guess 123", jar)
        assert code == 429 and RATE_LIMITED in body
        code, body, _ = post_login(base, PASSWORD, jar)  # locked: even the right password waits
        assert code == 429 and RATE_LIMITED in body
        assert not any(c.name == "user" for c in jar)
    finally:
        server.stop()
    rows = api.audit().filter(action="app.login").to_dicts()
    results = [__import__("json").loads(r["detail"])["result"] for r in rows]
    assert results == ["failed"] * 5 + ["locked"]
    assert all(r["actor"] == "alice via app" for r in rows)
    assert PASSWORD not in str(rows) and "wrong guess" not in str(rows)


def test_good_login_sets_samesite_cookie_and_is_audited(paperlab_home: Path) -> None:
    port = free_port()
    server = serve(port=port, threaded=True, basic_auth=PASSWORD)
    base = f"http://127.0.0.1:{port}"
    try:
        fetch(f"{base}/login")
        jar = http.cookiejar.CookieJar()
        code, _, _ = post_login(base, PASSWORD, jar)
        assert code == 200 and any(c.name == "user" for c in jar)
        user = next(c for c in jar if c.name == "user")
        assert user.get_nonstandard_attr("SameSite") == "Lax" and not user.secure  # plain HTTP: not Secure
    finally:
        server.stop()
    rows = api.audit().filter(action="app.login").to_dicts()
    assert [__import__("json").loads(r["detail"])["result"] for r in rows] == ["ok"]


def test_throttle_unlocks_after_the_lockout() -> None:
    throttle = Throttle(max_failures=2, lockout_s=0.2)
    assert not throttle.failed("a") and throttle.failed("a") and throttle.locked("a") > 0
    assert throttle.locked("b") == 0
    import time

    time.sleep(0.25)
    assert throttle.locked("a") == 0 and not throttle.failed("a")


def test_serve_refuses_basic_auth_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--basic-auth", "hunter2hunter2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "basic_auth:" in err and "PAPERLAB_APP_PASSWORD" in err
    assert "--password-prompt" in err and "hunter2" not in err


def test_a_password_is_generated_and_printed_once_beyond_loopback(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAPERLAB_APP_PASSWORD", raising=False)
    assert app_password("127.0.0.1", None) is None
    made = app_password("0.0.0.0", None)
    out = capsys.readouterr().out
    assert made and len(made) >= 12 and out.count(made) == 1
    assert app_password("0.0.0.0", PASSWORD) == PASSWORD and capsys.readouterr().out == ""


def test_over_tls_the_login_cookies_are_secure(paperlab_home: Path, tmp_path: Path) -> None:
    import shutil
    import ssl
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is missing (makes the test certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    port = free_port()
    server = serve(port=port, threaded=True, basic_auth=PASSWORD, certfile=str(cert), keyfile=str(key))
    base = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                         urllib.request.HTTPCookieProcessor(jar))
    try:
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                opener.open(f"{base}/login", timeout=30).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the TLS app did not come up"
                time.sleep(0.2)
        data = urllib.parse.urlencode({"username": "alice", "password": PASSWORD}).encode()
        opener.open(f"{base}/login", data=data, timeout=30).read()
        user = next(c for c in jar if c.name == "user")
        assert user.secure and user.get_nonstandard_attr("SameSite") == "Lax"
        assert user.has_nonstandard_attr("HttpOnly")
    finally:
        server.stop()
