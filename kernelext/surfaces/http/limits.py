"""Per-token request and start rates (token buckets) and the running-session ceilings."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from kernelext import api
from kernelext.surfaces.http.config import ApiConfig
from kernelext.surfaces.http.errors import too_many


class Bucket:
    """A token bucket: ``capacity`` at once, refilled at ``rate`` per second."""

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.level, self.at = capacity, time.monotonic()

    def take(self) -> float:
        """Take one: 0.0 when granted, else the seconds until one is there."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level >= 1.0:
            self.level -= 1.0
            return 0.0
        return (1.0 - self.level) / self.rate


class Limits:
    """Everything one API server counts, by token name (thread-safe)."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._requests: dict[str, Bucket] = {}
        self._starts: dict[str, Bucket] = {}
        self._started: dict[str, set[str]] = {}  # token -> session ids it started
        self._pending: dict[str, int] = {}  # token -> starts under way

    def request(self, who: str) -> None:
        """Count one request of ``who``; 429 beyond ``requests_per_second``."""
        rate = self.config.requests_per_second
        with self._lock:
            wait = self._requests.setdefault(who, Bucket(rate, rate)).take()
        if wait:
            raise too_many(f"rate: more than {rate:g} requests a second for token {who}; "
                           "Rate limit exceeded, try again in a few seconds", wait)

    def start(self, who: str) -> None:
        """Count one start of ``who``; 429 beyond ``starts_per_minute``."""
        per_min = self.config.starts_per_minute
        with self._lock:
            wait = self._starts.setdefault(who, Bucket(per_min, per_min / 60.0)).take()
        if wait:
            raise too_many(f"rate: more than {per_min:g} session starts a minute for token {who}; "
                           "Rate limit exceeded, try again in a few seconds", wait)

    @contextmanager
    def ceiling(self, who: str) -> Iterator[list[str]]:
        """Reserve one running session for ``who`` (429 beyond its ceiling or the ledger's); append
        the started id to the yielded list to keep it counted."""
        running = set(api.running_sessions())
        with self._lock:
            mine = len(self._started.get(who, set()) & running) + self._pending.get(who, 0)
            everyone = len(running) + sum(self._pending.values())
            if mine >= self.config.token_sessions:
                raise too_many(f"sessions: token {who} runs {mine}, its ceiling is {self.config.token_sessions}; "
                               "stop one first", 10)
            if everyone >= self.config.ledger_sessions:
                raise too_many(f"sessions: the ledger runs {everyone}, the ceiling is "
                               f"{self.config.ledger_sessions}; stop one first", 10)
            self._pending[who] = self._pending.get(who, 0) + 1
        started: list[str] = []
        try:
            yield started
        finally:
            with self._lock:
                self._pending[who] -= 1
                self._started.setdefault(who, set()).update(started)
