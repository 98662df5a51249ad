"""Apprise URLs: parse and check them (``--notify URL``, ``$PAPERLAB_NOTIFY``), and mask their secrets.

A masked URL keeps what says where a message goes (service, host, port, path) and hides what
lets someone else send there: a password or a lone user (often a key), the tokens apprise knows
each service keeps in its URL, every query value but a few harmless options, header values
(``+Header=...``) and path segments that look like tokens. ``mask`` is what every output, log and
ledger row shows; ``scrub`` removes the raw secrets from any other text (an error's message).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from kernelext.errors import SpecError

ENV = "PAPERLAB_NOTIFY"
MAX_URLS = 10
HIDDEN = "****"
EXAMPLES = "json://host:port/path, form://host/path, mailto://user:pass@example.com, tgram://TOKEN/CHAT"
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_SPLIT = re.compile(r"\s+|,\s*(?=[a-z][a-z0-9+.-]*://)", re.IGNORECASE)
_PLAIN_QUERY = frozenset({
    "method", "format", "overflow", "priority", "mode", "verify", "retry", "wait", "optional", "image",
    "footer", "tts", "avatar", "batch", "to", "cc", "bcc", "from", "name", "smtp", "cto", "rto", "lang",
})


@functools.cache
def load_apprise() -> Any:
    """The apprise module, its plugins loaded once: its logger kept out of ours (it logs every URL it
    cannot parse at ERROR), and the deprecation warnings of its plugins' imports not shown."""
    logger = logging.getLogger("apprise")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import apprise

        apprise.Apprise.instantiate("json://localhost")  # loads every plugin now, not at a later call
    return apprise


def split(value: str | Sequence[str] | None) -> list[str]:
    """URLs from text (separated by white space, or by commas before the next ``scheme://``) or a list."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise SpecError(f"notify: expected apprise URLs as text (got {type(item).__name__})")
        out += [u for u in _SPLIT.split(item.strip()) if u]
    return out


def parse_urls(value: str | Sequence[str] | None, *, field: str = "notify") -> tuple[str, ...]:
    """Checked apprise URLs (duplicates dropped), or one-line ``SpecError`` naming ``field``.

    The error never repeats a URL (it may hold a secret): only its scheme or its masked form.
    """
    urls = list(dict.fromkeys(split(value)))
    if len(urls) > MAX_URLS:
        raise SpecError(f"{field}: at most {MAX_URLS} URLs (got {len(urls)})")
    for url in urls:
        m = _SCHEME.match(url)
        if not m:
            raise SpecError(f"{field}: expected an apprise URL scheme://..., e.g. {EXAMPLES} (got text without scheme://)")
        if _instantiate(url) is None:
            raise SpecError(f"{field}: apprise does not understand this {m.group(1).lower()}:// URL (unknown service or "
                            f"missing parts); e.g. {EXAMPLES}")
    return tuple(urls)


def from_env(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """The checked URLs of ``$PAPERLAB_NOTIFY`` (none when it is unset or blank)."""
    text = (os.environ if env is None else env).get(ENV, "")
    return parse_urls(text, field=ENV) if text.strip() else ()


def _instantiate(url: str) -> object | None:
    apprise = load_apprise()
    try:
        return apprise.Apprise.instantiate(url)
    except Exception:  # noqa: BLE001  (a plugin that fails on odd input: not understood)
        return None


def mask(url: str) -> str:
    """``url`` with its secrets hidden (see the module's docstring); safe to print, log and store."""
    plugin = _instantiate(url)
    shown = plugin.url(privacy=True) if plugin is not None else _bare(url)  # type: ignore[attr-defined]
    base = _hide_tokens(_hide_userinfo(shown.split("?", 1)[0]))
    pairs = [(k, v if _plain(k) else HIDDEN) for k, v in _query(url)]
    text = base + ("?" + "&".join(f"{quote(k, safe='+-:')}={quote(v, safe='*@,:')}" for k, v in pairs) if pairs else "")
    return scrub(text, [url])


def masked(urls: Iterable[str]) -> tuple[str, ...]:
    """``mask`` of each URL."""
    return tuple(mask(u) for u in urls)


def _query(url: str) -> list[tuple[str, str]]:
    """The query's pairs; a leading ``+`` (apprise: a header) stays a ``+``, not a space."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return []
    return parse_qsl(query.replace("+", "%2B"), keep_blank_values=True)


def _plain(key: str) -> bool:
    return not key.startswith("+") and key.lstrip("-:").lower() in _PLAIN_QUERY


def _bare(url: str) -> str:
    m = _SCHEME.match(url)
    return f"{m.group(1).lower()}://{HIDDEN}" if m else HIDDEN


def _hide_userinfo(url: str) -> str:
    """``user:pass@`` -> ``user:****@``; a lone ``user@`` (often a key) -> ``****@``."""
    m = re.match(r"^([a-z][a-z0-9+.-]*://)([^/@]*)@", url, re.IGNORECASE)
    if not m:
        return url
    user, sep, _password = m.group(2).partition(":")
    shown = f"{user}:{HIDDEN}" if sep else (user if user == HIDDEN else HIDDEN)
    return m.group(1) + shown + "@" + url[m.end():]


def _looks_like_token(segment: str) -> bool:
    if "..." in segment or segment == HIDDEN:
        return False
    return len(segment) >= 24 or (len(segment) >= 12 and bool(re.search(r"\d", segment)) and
                                  bool(re.search(r"[a-z]", segment, re.IGNORECASE)))


def _hide_tokens(url: str) -> str:
    """Path segments that look like tokens (long, or letters and digits mixed) -> ``****``."""
    m = re.match(r"^([a-z][a-z0-9+.-]*://[^/]*)(/.*)?$", url, re.IGNORECASE)
    if not m or not m.group(2):
        return url
    parts = [HIDDEN if _looks_like_token(p) else p for p in m.group(2).split("/")]
    return m.group(1) + "/".join(parts)


def secrets_of(url: str) -> list[str]:
    """The raw pieces of ``url`` that must never be shown: the URL itself, its userinfo parts,
    its query values and token-like path or host pieces (longest first)."""
    found = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    userinfo, at, host = parts.netloc.rpartition("@")
    if at:  # the password; a lone user (no password) is often a key
        user, sep, password = userinfo.partition(":")
        found.add(password if sep else user)
    if ":" in host and not host.rsplit(":", 1)[1].isdigit():
        found.add(host.rsplit(":", 1)[1])  # tgram://BOT:TOKEN/...: a token where a port would be
    found.update(v for k, v in _query(url) if not _plain(k))
    found.update(p for p in [host, *parts.path.split("/")] if _looks_like_token(p))
    found |= {unquote(s) for s in found} | {quote(s, safe="") for s in found}  # as typed, decoded, encoded
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def scrub(text: str, urls: Iterable[str]) -> str:
    """``text`` with every raw secret of ``urls`` replaced by ``****``."""
    for url in urls:
        for secret in secrets_of(url):
            text = text.replace(secret, HIDDEN)
    return text
