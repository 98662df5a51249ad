"""SessionFeed: a session's envelopes, pushed by its hub when it runs here and completed by the ledger.

A session that runs in this process publishes each event to its hub at once; the ledger writer (a
child process that batches) stores it some 50-100 ms later. The feed takes the hub's events as
they come (``api.live_events``: a bounded buffer, and ``wake`` called on the publishing thread so
the view can refresh now) and still reads the ledger (``LedgerFeed``, only when the ledger changed):
the ledger is the record (the history, events another process wrote, whatever the hub's buffer
dropped), the hub the early copy. Each event is taken once: an envelope taken from one source
waits, by its key, for its twin from the other, and the twin is skipped (the ledger's copy of a
hub event normally comes later; in a race it may come first). A session that runs in another
process is fed by the ledger alone; a session that starts running here later is subscribed to then.

The first poll subscribes before it reads the history (``api.live_events`` returns once what the
session published before is stored), so nothing published meanwhile comes late and out of order;
the hub's first events that the history holds already are skipped, the others come with the next
poll (newer than the history: a view that loads its tables from frames after the first poll
applies them to the tables).

Envelopes are the ledger feed's (``widgets.feed``): the event's extras with session_id, sleeve,
stage, message and ts, and equity points as ``equity.update`` envelopes. The hub's stages the
ledger keeps no event row for (the sampled ``bar.received``, the latest ``equity.update``, batches
of bars and strategy states) give no envelope.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from kernelext import api
from widgets.feed import LedgerFeed, equity_envelope

if TYPE_CHECKING:
    from kernelext.events import Event
    from kernelext.ledger import Ledger
    from kernelext.session.hub import View

HUB_ONLY_STAGES = frozenset({"bar.received", "equity.update"})  # published, never stored as events
NOT_EVENT_STAGES = frozenset({"bar.batch", "strategy.saved"})  # stored in tables of their own
HUB_BUFFER = 20_000  # events the hub holds for a view that has not drained them yet
AHEAD_KEYS = 200_000  # keys kept waiting for their twin (the oldest are forgotten)


def hub_envelopes(event: Event) -> list[dict[str, Any]]:
    """A hub event as the ledger feed's envelopes (none for what the ledger keeps no event row of)."""
    stage = event.stage
    if stage == "equity.batch":
        currency = event.extras.get("currency")
        return [equity_envelope(event.session_id, (None, *point, currency)) for point in event.extras.get("points", ())]
    if stage in HUB_ONLY_STAGES or stage in NOT_EVENT_STAGES or stage.startswith("equity."):
        return []
    return [{**event.extras, "session_id": event.session_id, "sleeve": event.sleeve, "stage": stage,
             "message": event.message, "ts": event.ts}]


def twin_key(envelope: dict[str, Any]) -> Hashable:
    """What an envelope and its twin from the other source share."""
    return envelope["stage"], envelope.get("sleeve"), envelope["ts"], envelope.get("message")


class Ahead:
    """Keys of envelopes one source gave that the other has yet to: a multiset, the oldest forgotten
    past ``bound`` (their twin never came)."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._count: Counter[Hashable] = Counter()
        self._order: deque[Hashable] = deque()

    def __len__(self) -> int:
        return self._count.total()

    def add(self, key: Hashable) -> None:
        self._count[key] += 1
        self._order.append(key)
        while len(self._order) > self.bound:
            self.take(self._order.popleft())

    def take(self, key: Hashable) -> bool:
        """Remove one ``key``; False when there was none."""
        n = self._count.get(key, 0)
        if not n:
            return False
        if n == 1:
            del self._count[key]
        else:
            self._count[key] = n - 1
        return True


class SessionFeed:
    """One session's envelopes from the hub (when it runs here) and the ledger, each once."""

    def __init__(self, session_id: str, ledger: Ledger | None = None, *, history_per_class: int = 2000,
                 max_batch: int = 5000, wake: Callable[[Event], None] | None = None) -> None:
        """Feed ``session_id``; ``wake(event)`` is called on the publishing thread for each hub event."""
        self.session_id = session_id
        self.ledger_feed = LedgerFeed(session_id, ledger, max_batch, history_per_class=history_per_class)
        self.wake = wake
        self.view: View | None = None
        self.idle = False  # the last poll read nothing from either source
        self.taken: Counter[str] = Counter()  # envelopes given, by source ("hub", "ledger")
        self._hub_ahead = Ahead(AHEAD_KEYS)
        self._ledger_ahead = Ahead(AHEAD_KEYS)
        self._closed = False
        self._early: list[dict[str, Any]] = []  # the hub's events newer than the history, for the next poll

    @property
    def behind(self) -> bool:
        """The last ledger read was full: more is waiting."""
        return self.ledger_feed.behind

    @property
    def history_skipped(self) -> int:
        """Events and equity points left out of the capped history."""
        return self.ledger_feed.history_skipped

    @property
    def pushed(self) -> bool:
        """The session runs here and its hub pushes its events."""
        return self.view is not None

    def poll(self) -> list[dict[str, Any]]:
        """What arrived since the last poll, each event once (the capped history on the first call)."""
        if self.ledger_feed.last_id is None:
            return self._history()
        gone = self.view is not None and api.live_runner(self.session_id) is None
        out, self._early = self._early + self._from_hub(), []
        if gone:  # the session ended here: its last events are drained above, the ledger has the rest
            self._let_go()
            self._ledger_ahead = Ahead(AHEAD_KEYS)  # no twin comes from the hub any more
        read = len(out)
        for env in self.ledger_feed.poll():
            read += 1
            if self.view is not None or self._hub_ahead:
                key = twin_key(env)
                if self._hub_ahead.take(key):
                    continue
                if self.view is not None:
                    self._ledger_ahead.add(key)
            out.append(env)
            self.taken["ledger"] += 1
        self.idle = read == 0
        if not gone:
            self._follow()
        return out

    def close(self) -> None:
        """Stop taking the hub's events, for good (the ledger still feeds ``poll``)."""
        self._closed = True
        self._let_go()

    def _let_go(self) -> None:
        if self.view is not None:
            self.view.close()
            self.view = None

    def _history(self) -> list[dict[str, Any]]:
        """The first poll: subscribe, read the history, then the hub's events it does not hold."""
        self._follow()
        history = self.ledger_feed.poll()
        self.taken["ledger"] += len(history)
        if self.view is not None:  # the hub's events stored before the read: the history's already
            self._ledger_ahead = Ahead(AHEAD_KEYS)
            for env in history:
                self._ledger_ahead.add(twin_key(env))
            self._early = self._from_hub()  # the rest: newer than the history, given by the next poll
            self._ledger_ahead = Ahead(AHEAD_KEYS)
        self.idle = not history
        return history

    def _from_hub(self) -> list[dict[str, Any]]:
        """The hub's events since the last drain, less those the ledger gave already."""
        if self.view is None:
            return []
        out = []
        for event in self.view.drain():
            for env in hub_envelopes(event):
                key = twin_key(env)
                if not self._ledger_ahead.take(key):
                    self._hub_ahead.add(key)
                    out.append(env)
        self.taken["hub"] += len(out)
        return out

    def _follow(self) -> None:
        """Subscribe to the hub of the session when it runs here (``poll`` lets go once it does not)."""
        if not self._closed and self.view is None and api.live_runner(self.session_id) is not None:
            self.view = api.live_events(self.session_id, notify=self.wake, maxlen=HUB_BUFFER)
