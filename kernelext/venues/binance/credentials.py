"""Testnet API keys: from ``BINANCE_TESTNET_API_KEY`` / ``BINANCE_TESTNET_API_SECRET`` (the adapter's
own names), else a git-ignored ``.env`` in the working directory or beside this venue
(``kernelext/venues/binance/.env``); never printed, logged or stored.

``Keys`` repr is masked; only the client configs built at node time hold the raw values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kernelext.venues.binance.constants import KEYS_URL, SIM_VENUE

KEY_ENV, SECRET_ENV = "BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_API_SECRET"
NO_KEYS = (f"venue: binance-testnet needs testnet API keys in {KEY_ENV} and {SECRET_ENV} (or .env); "
           f"get them at {KEYS_URL} (log in, Generate HMAC key), or use --venue {SIM_VENUE} (no keys)")


def mask(value: str) -> str:
    """The first 4 characters of a key, the rest hidden: ``'vmPU…'`` (``''`` stays ``''``)."""
    return "" if not value else f"{value[:4]}…"


@dataclass(frozen=True)
class Keys:
    """One key pair; its repr never shows the secret or more than 4 characters of the key."""

    key: str = field(repr=False)
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Keys(key={mask(self.key)!r})"

    @property
    def masked(self) -> str:
        return mask(self.key)


def _dotenv(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a ``.env`` file (quotes stripped, comments skipped)."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and not name.startswith("#"):
            out[name.strip()] = value.strip().strip("'\"")
    return out


BESIDE = Path(__file__).with_name(".env")


def load_keys(env: dict[str, str] | None = None, dotenv: Path | None = None) -> Keys | None:
    """The testnet keys from the environment, else from ``.env`` (cwd, then beside the venue);
    None when either is missing."""
    env = dict(os.environ) if env is None else env
    key, secret = env.get(KEY_ENV, "").strip(), env.get(SECRET_ENV, "").strip()
    for path in ([dotenv] if dotenv else [Path.cwd() / ".env", BESIDE]):
        if key and secret:
            break
        found = _dotenv(path)
        key, secret = key or found.get(KEY_ENV, ""), secret or found.get(SECRET_ENV, "")
    return Keys(key, secret) if key and secret else None


def scrub(text: str, keys: Keys | None) -> str:
    """``text`` with the key and secret masked (an error message that might quote them)."""
    if keys is None:
        return text
    return text.replace(keys.secret, "***").replace(keys.key, keys.masked)
