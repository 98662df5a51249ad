"""``WS /ws/sessions/{session}`` and ``WS /ws/sessions``: the event envelopes, live, resumable.

Each message is one envelope ``{id, session_id, sleeve, stage, message, ts, **extras}``; ``id`` is
the event's ledger id, and ``?after=<id>`` resumes after it with nothing missed or doubled.
The approach is ``widgets.live_feed.SessionFeed``'s: a session that runs in this process pushes
its events through its hub (``api.live_events``, subscribed before the history is read, so nothing
published meanwhile is missed); the ledger (``api.events_after``) is the record every message
comes from, since only a stored event has the id a reconnect resumes from. The hub's push is the
wake-up: right after one the ledger is read every 25 ms until its rows arrive (the writer stores
them some 50-100 ms later), otherwise every 0.5 s. ``?equity=true`` adds ``equity.update``
envelopes (``equity_id``, resumed with ``?after_equity=``). A session's stream closes (1000) once
the session ended and its last rows were sent. ``WS /ws/sessions`` streams every session's
events, from now on unless ``after`` is given.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from kernelext import api
from kernelext.errors import PaperLabError, SpecError, one_line
from kernelext.surfaces.http.auth import authorize, identify
from kernelext.surfaces.http.errors import ApiError, status_of
from kernelext.surfaces.http.formats import plain

router = APIRouter(tags=["streams"])

BATCH = 1000
FAST_S, SLOW_S, FAST_FOR_S = 0.025, 0.5, 1.0  # poll after a hub wake-up / otherwise; how long fast
ALL_POLL_S = 0.1
HUB_BUFFER = 64  # the hub's events only wake the stream up (the ledger gives them): keep few
END_GRACE_S = 1.0  # after a session ended: read on this long for rows committed around the end


def event_envelope(session_id: str, row: tuple) -> dict[str, Any]:
    """An events row ``(id, sleeve, stage, message, ts, extras_json)`` -> the envelope with its id."""
    event_id, sleeve, stage, message, ts, extras_json = row
    extras = json.loads(extras_json) if extras_json else {}
    return {**extras, "id": event_id, "session_id": session_id, "sleeve": sleeve, "stage": stage,
            "message": message, "ts": ts}


def equity_envelope(session_id: str, row: tuple) -> dict[str, Any]:
    """An equity row ``(rowid, ts, *EQUITY_FIELDS, currency)`` -> an ``equity.update`` envelope."""
    values = dict(zip(api.EQUITY_FIELDS, row[2:-1], strict=True))
    return {**values, "currency": row[-1], "equity_id": row[0], "session_id": session_id, "sleeve": None,
            "stage": "equity.update", "message": f"equity {values.get('equity')}", "ts": row[1]}


def _int_param(ws: WebSocket, name: str) -> int | None:
    raw = ws.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise SpecError(f"{name}: expected an event id, a whole number (got {raw!r})") from None


async def _deny(ws: WebSocket, status: int, message: str) -> None:
    """Refuse the handshake with ``{"error": ...}`` and ``status`` (a bare 403 where the server cannot)."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(JSONResponse({"error": one_line(message)}, status_code=status))
    else:
        await ws.close(code=1008, reason=one_line(message)[:120])


async def _admit(ws: WebSocket) -> bool:
    """Authenticate (read scope); False after refusing."""
    state = ws.app.state.paperlab
    try:
        authorize(state, identify(state, ws.headers.get("authorization")), "read")
    except ApiError as e:
        await _deny(ws, e.status, e.message)
        return False
    return True


class Pump:
    """Send what ``read`` returns until the client leaves (or ``ended`` says the source is done)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.fast_until = 0.0

    def notify(self, _event: object) -> None:
        """Called on a node's publishing thread for each hub event: never blocks."""
        if not self.wake.is_set() and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wake.set)

    async def run(self, read: Callable[[], tuple[list[dict[str, Any]], bool]],
                  ended: Callable[[], bool] | None, idle_s: float) -> None:
        receiving = asyncio.ensure_future(self.ws.receive())
        ended_at: float | None = None
        try:
            while True:
                if receiving.done():
                    if receiving.result().get("type") == "websocket.disconnect":
                        return
                    receiving = asyncio.ensure_future(self.ws.receive())  # client chatter: ignored
                self.wake.clear()
                envelopes, more = await asyncio.to_thread(read)
                for env in envelopes:
                    await self.ws.send_text(json.dumps(plain(env), default=str))
                if more:
                    continue
                if ended is not None and not envelopes:
                    if ended_at is None and await asyncio.to_thread(ended):
                        ended_at = time.monotonic()
                    elif ended_at is not None and time.monotonic() - ended_at > END_GRACE_S:
                        await self.ws.close(code=1000, reason="session ended")
                        return
                timeout = FAST_S if time.monotonic() < self.fast_until or ended_at else idle_s
                waker = asyncio.ensure_future(self.wake.wait())
                done, _ = await asyncio.wait({waker, receiving}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                if waker in done:
                    self.fast_until = time.monotonic() + FAST_FOR_S
        finally:
            receiving.cancel()


@router.websocket("/ws/sessions/{session}")
async def session_stream(ws: WebSocket, session: str) -> None:
    """One session's envelopes: its history after ``after`` (default: from its first), then live."""
    if not await _admit(ws):
        return
    try:
        after = _int_param(ws, "after") or 0
        after_equity = _int_param(ws, "after_equity")
        with_equity = ws.query_params.get("equity", "").lower() in ("1", "true", "yes")
        session_id = await asyncio.to_thread(api.resolve, session)
    except PaperLabError as e:
        await _deny(ws, status_of(e), one_line(e))
        return
    await ws.accept()
    pump = Pump(ws)
    view = await asyncio.to_thread(lambda: api.live_events(session_id, notify=pump.notify, maxlen=HUB_BUFFER))
    cursor = {"events": after, "equity": after_equity}

    def read() -> tuple[list[dict[str, Any]], bool]:
        if view is not None:
            view.drain()  # the push was the wake-up; the ledger gives each event with its id
        rows, cursor["events"], full = api.events_after(session_id, cursor["events"], limit=BATCH)
        out = [event_envelope(session_id, r) for r in rows]
        if with_equity:
            points, cursor["equity"], full_q = api.equity_after(session_id, cursor["equity"], limit=BATCH)
            out += [equity_envelope(session_id, p) for p in points]
            full = full or full_q
        return out, full

    def ended() -> bool:
        row = api.session_row(session_id)
        return row is None or row.get("status") not in api.ACTIVE_STATUSES

    try:
        await pump.run(read, ended, SLOW_S)
    except Exception:  # noqa: BLE001  (the client went away mid-send)
        pass
    finally:
        if view is not None:
            view.close()


@router.websocket("/ws/sessions")
async def all_stream(ws: WebSocket) -> None:
    """Every session's envelopes, from now on (``after``: from that event id on)."""
    if not await _admit(ws):
        return
    try:
        after = _int_param(ws, "after")
    except PaperLabError as e:
        await _deny(ws, status_of(e), one_line(e))
        return
    await ws.accept()
    cursor = {"events": -1 if after is None else after}

    def read() -> tuple[list[dict[str, Any]], bool]:
        rows, cursor["events"], full = api.all_events_after(cursor["events"], limit=BATCH)
        return [event_envelope(r[1], (r[0], *r[2:])) for r in rows], full

    try:
        await Pump(ws).run(read, None, ALL_POLL_S)
    except Exception:  # noqa: BLE001  (the client went away mid-send)
        pass
