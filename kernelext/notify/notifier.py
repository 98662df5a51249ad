"""Send a ``Message`` to apprise URLs. Sending never raises into the caller: a failure is one
log line (the URL masked, the reason scrubbed of secrets) and a ``Delivery`` saying why.

``Outbox`` sends from a thread of its own, so a slow service never holds up the caller's loop.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from kernelext.errors import one_line
from kernelext.notify.messages import Message
from kernelext.notify.urls import load_apprise, mask, scrub

log = logging.getLogger("paperlab.notify")


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one URL (masked) took a message."""

    url: str
    ok: bool
    why: str = ""

    def __str__(self) -> str:
        return f"{self.url}: {'sent' if self.ok else 'failed (' + self.why + ')'}"


class Notifier:
    """Sends to a fixed list of apprise URLs (checked beforehand by ``urls.parse_urls``)."""

    def __init__(self, urls: Sequence[str], logger: logging.Logger | None = None) -> None:
        self._urls = tuple(urls)
        self.masked = tuple(mask(u) for u in self._urls)
        self.log = logger or log

    def __bool__(self) -> bool:
        return bool(self._urls)

    def send(self, message: Message) -> list[Delivery]:
        """Send to every URL in turn; one ``Delivery`` each (never raises)."""
        out = []
        for url, shown in zip(self._urls, self.masked, strict=True):
            try:
                ok, why = _send_one(url, message)
            except Exception as e:  # noqa: BLE001  (a notification must never break its caller)
                ok, why = False, one_line(e)
            why = scrub(why, self._urls)
            if not ok:
                self.log.warning("notify %s failed: %s", shown, why)
            out.append(Delivery(shown, ok, why))
        return out


def _send_one(url: str, message: Message) -> tuple[bool, str]:
    """(sent, why not) through apprise; its own warnings are the reason (its logger stays quiet)."""
    apprise = load_apprise()
    said: list[str] = []
    sender = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    if not sender.add(url):
        return False, "apprise does not understand this URL"
    result = sender.notify(body=message.body, title=message.title, notify_type=message.kind,
                           log_callback=lambda entry, _plugin: said.append(entry.message),
                           log_level=logging.WARNING)
    return bool(result), "" if result else (said[0] if said else "not delivered")


class Outbox:
    """A queue of (notifier, message) sent one after another on a daemon thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Notifier, Message] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="paperlab-notify", daemon=True)
        self._thread.start()

    def post(self, notifier: Notifier, message: Message) -> None:
        """Queue ``message`` for ``notifier``'s URLs; returns at once."""
        if notifier:
            self._queue.put((notifier, message))

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (for up to ``timeout`` seconds), then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            notifier, message = job
            notifier.send(message)
