"""API tokens: only a salted hash of each secret is stored (schema v7's ``api_tokens``).

A token reads ``plk_<id>_<secret>``: ``id`` (public, 8 hex) finds the row, ``secret`` (32 random
bytes, urlsafe) is checked against ``scrypt(secret, salt)`` with a per-token salt, compared in
constant time. The secret is shown once, by whoever created it, and never stored or logged.
Reads are ``ledger.queries`` (``api_token``, ``api_tokens``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from kernelext.events import now_ns
from kernelext.ledger.connection import Connections

TOKEN_PREFIX = "plk_"
SCOPES: tuple[str, ...] = ("read", "trade", "admin")  # each includes those before it
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_secret(secret: str, salt: bytes) -> str:
    """scrypt of ``secret`` with ``salt``, as hex."""
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT).hex()


def new_token() -> tuple[str, str, str]:
    """A fresh token -> (token text to show once, its public id, its secret)."""
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    return f"{TOKEN_PREFIX}{token_id}_{secret}", token_id, secret


def split_token(text: str) -> tuple[str, str] | None:
    """``plk_<id>_<secret>`` -> (id, secret); None when it is not shaped so."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = text[len(TOKEN_PREFIX):].partition("_")
    return (token_id, secret) if sep and len(token_id) == 8 and secret else None


def secret_matches(secret: str, salt_hex: str, digest_hex: str) -> bool:
    """The secret hashes to the stored digest (constant-time compare)."""
    return hmac.compare_digest(hash_secret(secret, bytes.fromhex(salt_hex)), digest_hex)


class Tokens(Connections):
    """The ``api_tokens`` table (part of :class:`~kernelext.ledger.Ledger`)."""

    def insert_api_token(self, token_id: str, name: str, scope: str, secret: str, created_by: str) -> None:
        """Store a token's salted hash (never the secret)."""
        salt = secrets.token_bytes(16)
        with self.transaction() as con:
            con.execute(
                "INSERT INTO api_tokens(id, name, scope, salt, hash, created_ts, created_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_id, name, scope, salt.hex(), hash_secret(secret, salt), now_ns(), created_by),
            )

    def revoke_api_token(self, name: str, revoked_by: str) -> int:
        """Revoke the live token called ``name``; how many rows changed (0 or 1)."""
        with self.transaction() as con:
            cur = con.execute(
                "UPDATE api_tokens SET revoked_ts = ?, revoked_by = ? WHERE name = ? AND revoked_ts IS NULL",
                (now_ns(), revoked_by, name),
            )
            return int(cur.rowcount)
