"""Notification URLs (parse, mask, scrub), the report schedule and the fills digest: pure functions."""

from __future__ import annotations

import pytest

from kernelext.errors import SpecError
from kernelext.notify.digest import FillDigest
from kernelext.notify.urls import mask, parse_urls, scrub, split
from kernelext.supervisor.schedule import Schedule

S = 1_000_000_000

MASKED: list[tuple[str, str, str]] = [  # url, what must be gone, what must stay
    ("json://user:hunter2@127.0.0.1:8080/hook", "hunter2", "json://user:****@127.0.0.1:8080/hook"),
    ("form://user:p%40ss@example.com/in", "p%40ss", "form://user:****@example.com/in"),
    ("json://127.0.0.1/hook?+Authorization=Bearer%20abcdef&-apikey=k3yk3yk3y&method=GET", "k3yk3yk3y",
     "+Authorization=****&-apikey=****&method=GET"),
    ("json://127.0.0.1/hook?+Authorization=Bearer%20abcdef", "abcdef", "+Authorization=****"),
    ("json://127.0.0.1/a9f8e7d6c5b4a3f2e1d0/x", "a9f8e7d6c5b4a3f2e1d0", "json://127.0.0.1/****/x"),
    ("mailto://me:mailpass9@gmail.com?to=ops@example.com", "mailpass9", "to=ops@example.com"),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/12315544/", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
     "tgram://"),
    ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://"),
    ("pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi", "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
     "pover://"),
]


@pytest.mark.parametrize(("url", "gone", "stays"), MASKED, ids=[m[0].split(":")[0] + str(i) for i, m in enumerate(MASKED)])
def test_mask_hides_secrets_and_keeps_where_it_goes(url: str, gone: str, stays: str) -> None:
    shown = mask(url)
    assert gone not in shown and stays in shown, shown
    assert mask(shown) == shown or gone not in mask(shown)  # masking a masked URL shows no more


def test_scrub_removes_raw_secrets_from_any_text() -> None:
    url = "json://user:hunter2@127.0.0.1:8080/hook?+X-Token=t0k3nt0k3n"
    text = scrub(f"failed to reach {url} (hunter2, t0k3nt0k3n)", [url])
    assert "hunter2" not in text and "t0k3nt0k3n" not in text and "failed to reach" in text


def test_split_and_parse() -> None:
    assert split("json://a:b@h/x, form://h/y  mailto://u:p@x.com?to=a,b") == [
        "json://a:b@h/x", "form://h/y", "mailto://u:p@x.com?to=a,b"]
    assert parse_urls(["json://h/x", "json://h/x"]) == ("json://h/x",)
    for bad in ("nope://user:hunter2@x", "127.0.0.1:8080/hook", "http://127.0.0.1/x"):
        with pytest.raises(SpecError) as raised:
            parse_urls(bad)
        assert str(raised.value).startswith("notify: ") and "hunter2" not in str(raised.value)


def test_schedule_reports_on_period_boundaries_until_the_end() -> None:
    s = Schedule(anchor_ns=100 * S, every_s=10.0, end_ns=135 * S)
    assert s.next_report_ns(100 * S) == 110 * S
    assert s.next_report_ns(111 * S) == 120 * S
    assert s.next_report_ns(127 * S) == 130 * S
    assert s.next_report_ns(130 * S) is None  # 140 is past the end: the final report covers it
    assert not s.ended(134 * S) and s.ended(135 * S)
    assert Schedule.from_spec({}, 0) is None
    at = Schedule.from_spec({"report_at": "1970-01-01T00:02:15+00:00"}, 0)
    assert at is not None and at.end_ns == 135 * S and at.next_report_ns(0) is None


def test_fill_digest_sends_the_first_at_once_then_at_most_once_per_period() -> None:
    d = FillDigest(every_s=60.0)
    assert not d.due(0.0)
    d.add({"side": "BUY"})
    assert d.due(0.0) and d.take(0.0) == (1, {"side": "BUY"}, None)
    d.add({"side": "SELL"})
    d.add({"side": "BUY"})
    assert not d.due(30.0) and d.due(60.0)
    assert d.take(61.0) == (2, {"side": "BUY"}, 61.0)
