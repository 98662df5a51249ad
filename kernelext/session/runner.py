"""SessionRunner: one Nautilus ``TradingNode`` in a daemon thread with its own event loop.

The host (a Jupyter kernel, the CLI) keeps its own loop and its SIGINT handler: the
node is built and run on the runner's thread, where Nautilus's signal set-up is
skipped (see ``kernelext.compat``). Controls are scheduled onto the node's loop
thread-safely:

- ``pause``  RiskEngine HALTED: new orders denied, positions held.
- ``resume`` RiskEngine ACTIVE.
- ``flatten`` RiskEngine REDUCING, cancel all orders, close all positions.
- ``kill``   flatten, then stop.
- ``stop``   graceful stop; positions left open (strategies' ``on_stop`` runs).

Anything a session does (a strategy that raises, a feed that dies) ends in state
``error`` with the message; the process lives on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from kernelext.compat import new_node_loop  # (must precede TradingNode imports)
from nautilus_trader.common.component import flush_logger
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import TradingState, trading_state_to_str

from kernelext.errors import SessionStartError, one_line
from kernelext.events import CONTROL_VERBS, Event, now_ns
from kernelext.session import live, recording, restore
from kernelext.session.account_guard import install_guard
from kernelext.session.trade_stats import skip_trade_recording
from kernelext.session.flatten import ClosingOnlyGate, flatten
from kernelext.session.nautilus_log import divert_stderr, original_stderr
from kernelext.session.logs import current_file, process_log, stderr_file, trader_id
from kernelext.session.hub import Hub
from kernelext.ledger import Ledger, ProcessLedgerWriter
from kernelext.paths import private_dir
from kernelext.session.node import build_node_config
from kernelext.session.sleeves import build_strategies
from kernelext.spec import SessionSpec
from kernelext.session.telemetry import Telemetry
from kernelext import venues
from kernelext.venues.base import VenueSession

log = logging.getLogger(__name__)

STATES = ("starting", "running", "paused", "stopped", "error")
COMMAND_POLL_S = 0.1
LOG_FLUSH_TICKS = 10  # the command poll flushes Nautilus's buffered log file about once a second (``paperlab logs``)
SETTLED_CHECKS = 3  # consecutive quiet looks (1 ms apart) after the strategies stop before the node stops


@dataclass
class SessionStatus:
    """A snapshot of a session, safe to read from any thread."""

    session_id: str
    label: str
    state: str
    trading_state: str
    venue: str
    feed: str
    started_at: dt.datetime | None
    bars: int
    orders: int
    fills: int
    denied: int
    positions: list[dict[str, Any]] = field(default_factory=list)
    equity: dict[str, float] = field(default_factory=dict)
    dropped: int = 0
    ledger_pending: int = 0  # events not yet committed (a busy ledger: waiting or spooled)
    spooled: int = 0  # of those, events in the spool file on disk
    feed_stale: bool = False
    last_error: str | None = None
    notes: tuple[str, ...] = ()
    stop_at: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("started_at", "stop_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


class SessionRunner:
    """Runs one paper session; the class keeps the process's table of live runners."""


    def __init__(self, spec: SessionSpec, *, ledger: Ledger | None = None, session_id: str | None = None,
                 existing: bool = False, notes: tuple[str, ...] = (), restore: bool = False) -> None:
        """``existing``: the session's row is in the ledger already (a detached or relaunched
        session claims it); ``notes``: said at start, besides the venue's; ``restore``: put the
        ledger's orders, fills and strategy states back before trading (a relaunch, a resume)."""
        self.spec = spec
        self.existing = existing
        self.restore = restore
        self.restore_actor: restore.RestoreActor | None = None
        self.extra_notes = notes
        self.session_id = session_id or recording.new_session_id()
        self.ledger = ledger or Ledger()
        self.hub = Hub()
        # SQLite work off the node's GIL; the child writes to the real stderr, never to the
        # pipe that sorts Nautilus's lines (it must outlive this process)
        self.writer = ProcessLedgerWriter(self.ledger, stderr=original_stderr())
        self.hub.add_sink(self.writer.put)
        self.trader_id = trader_id(self.session_id)
        self.state = "starting"
        self.last_error: str | None = None
        self.started_at: dt.datetime | None = None
        self.ended_at: dt.datetime | None = None
        self.stop_at: dt.datetime | None = None
        self.notes: tuple[str, ...] = ()
        self.feed_notes: tuple[str, ...] = ()
        self.node: TradingNode | None = None
        self.gate: ClosingOnlyGate | None = None  # closes only while a flatten runs
        self.telemetry: Telemetry | None = None
        self.strategies: list[Any] = []
        self.venue_session = VenueSession()  # the venue's hooks for this session (from its plan)
        self.connect_error: str | None = None  # the first client connect that failed (ends the start)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._done = threading.Event()
        self._stop_requested: asyncio.Event | None = None
        self._stop_reason = "stopped"
        self._commands: threading.Thread | None = None  # carries out controls from other processes
        self.log_path, self.log_trader = process_log(self.trader_id)  # Nautilus's, whatever PAPERLAB_HOME says now

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def market_client(self) -> Any:
        """The live feed's data client, if the venue has one."""
        return self.venue_session.market_client

    def _on_client(self, client: Any) -> None:
        """A client the node's factories built: the venue's session keeps what it needs, and a
        failed connect ends the start at once (not after the start timeout)."""
        self.venue_session.add_client(client)
        self._watch_connect(client)

    def _watch_connect(self, client: Any) -> None:
        """Record the first error of ``client``'s connect (Nautilus only logs it and waits)."""
        connect = getattr(client, "_connect", None)
        if connect is None:
            return

        async def watched() -> Any:
            try:
                return await connect()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.connect_error = self.connect_error or f"{client.id}: {one_line(e)}"
                raise

        try:
            client._connect = watched
        except AttributeError:  # a compiled client: its failure still shows as the start timeout
            log.debug("cannot watch %s's connect", client)

    def _on_feed(self, stage: str, message: str, stale: bool) -> None:
        """The venue's feed went stale or came back (``feed.stale`` / ``feed.reconnected``)."""
        if self.telemetry is not None:
            self.telemetry.feed_stale = stale
        self._publish(stage, message)

    def start(self, timeout: float = 60.0) -> SessionRunner:
        """Start the node in its own thread; return once it runs, or raise ``SessionStartError``.

        The venue's preflight comes first (it decides the feed, or checks the gateway); a
        venue that cannot be had raises ``SpecError`` before anything is written.
        """
        divert_stderr(stderr_file(self.log_path))  # Nautilus's ERROR lines belong beside its log, not on screen
        try:
            self._prepare()
        except BaseException:
            self.writer.close()  # no session: end the writer process now
            raise
        self._publish("session.starting", f"starting {self.spec.describe()}")
        self._thread = threading.Thread(target=self._thread_main, name=f"paperlab-{self.session_id[:8]}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._running.is_set() and not self._done.is_set():
            self._running.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                self._request_stop("start timed out")
                self.last_error = self.last_error or f"the node did not start within {timeout:g}s"
                break
        if not self._running.is_set():
            self._done.wait(10)
            raise SessionStartError(f"session {self.session_id} failed to start: {self.last_error} (log: {current_file(self.log_path) or self.log_path})"
                                    f"\n{self.log_tail()}")
        return self

    def _prepare(self) -> None:
        """Pass the venue's preflight, then register and write the session row."""
        venue = venues.get(self.spec.venue)
        with venue.start_lock:
            self.ledger.mark_crashed(live_ids=live.ids())  # a crashed session holds nothing
            prepared = venue.preflight(self.spec, self.ledger)
            self.spec, self.feed_notes = prepared.spec, prepared.notes
            self._register_and_create()
        if prepared.after_create is not None:
            prepared.after_create(self.ledger)

    def _register_and_create(self) -> None:
        """Register as live, then write the session row (a concurrent start must not mark us crashed)."""
        live.add(self.session_id, self)
        try:
            self.ledger.mark_crashed(live_ids=live.ids())
            if self.existing:
                recording.claim_row(self.ledger, self.session_id, self.spec)
            else:
                recording.create_row(self.ledger, self.session_id, self.spec, kind=recording.session_kind(self.spec),
                                     venue=self.spec.venue,
                                     feed=self.spec.feed)
        except BaseException:
            live.remove(self.session_id)
            raise

    def _thread_main(self) -> None:
        loop = new_node_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._build_node(loop)
            loop.run_until_complete(self._main())
        except BaseException as e:  # noqa: BLE001  (the host must outlive anything here)
            self.last_error = self.last_error or one_line(e)
            self.state = "error"
            log.debug("session %s failed:\n%s", self.session_id, traceback.format_exc())
        finally:
            self._dispose(loop)
            self._finish()

    def _build_node(self, loop: asyncio.AbstractEventLoop) -> None:
        private_dir(self.log_path.parent)
        plan = build_node_config(
            self.spec,
            trader_id=self.trader_id,
            log_directory=str(self.log_path.parent),
            log_file_name=self.log_path.stem,
        )
        venue = plan.venue
        self.venue_session = venue.session
        self.notes = self.feed_notes + venue.notes + self.extra_notes
        node = TradingNode(config=plan.config, loop=loop)
        for client in venue.data_clients:
            node.add_data_client_factory(client.name, _capturing(client.factory, self._on_client))
        for client in venue.exec_clients:
            node.add_exec_client_factory(client.name, _capturing(client.factory, self._on_client))
        sleeves_by_strategy: dict[str, str] = {}
        for strategy, sleeve in build_strategies(self.spec, lambda s: s.bar_type_on(self.spec.feed)):
            self.venue_session.configure_strategy(strategy)
            node.trader.add_strategy(strategy)
            self.strategies.append(strategy)
            sleeves_by_strategy[strategy.id.value] = sleeve
        risk = node.kernel.risk_engine
        if self.restore:
            self._add_restore(node, halt=lambda: risk.set_trading_state(TradingState.HALTED))
        self.telemetry = Telemetry(
            session_id=self.session_id,
            venue=venue.telemetry.venue,
            currency=venue.settlement_currency,
            starting_cash=venue.telemetry.starting_cash,  # None: the account's own
            equity_from_venue=venue.telemetry.equity_from_venue,
            cash_account=venue.telemetry.cash_account,
            book_depth=venue.telemetry.book_depth,
            margin_leverage=venue.telemetry.margin_leverage,
            live_feed=venue.telemetry.live_feed,
            instrument_ids=tuple(self.spec.instruments),
            sleeves_by_strategy=sleeves_by_strategy,
            publish=self.hub.publish,
            max_drawdown_pct=self.spec.risk.max_drawdown_pct,
            halt=lambda: risk.set_trading_state(TradingState.HALTED),
        )
        self.telemetry.signal_sources = {st.id.value: st for st in self.strategies}
        if self.restore_actor is not None:
            for strategy_id, stored in self.restore_actor.snapshot.states.items():
                self.telemetry.states.seed(strategy_id, stored)
        node.trader.add_actor(self.telemetry)
        node.build()
        skip_trade_recording(node.kernel.portfolio)  # our statistics come from the ledger
        guard = install_guard(node.kernel, cash_account=venue.telemetry.cash_account,
                              margin_leverage=venue.telemetry.margin_leverage)
        self.gate = ClosingOnlyGate(node.kernel, guard.check if guard else None).install()
        self.node = node
        engines = (node.kernel.data_engine, node.kernel.risk_engine, node.kernel.exec_engine)
        self.venue_session.built(lambda: _engines_idle(*engines))

    def _add_restore(self, node: TradingNode, halt: Callable[[], None]) -> None:
        """The restore actor, first of the trader's actors, over the ledger's snapshot."""
        snapshot = restore.read(self.ledger, self.session_id)
        if snapshot.empty:
            return
        kernel, venue_session, strategies = node.kernel, self.venue_session, self.strategies
        self.restore_actor = restore.RestoreActor(
            snapshot,
            lambda: restore.Restorer(snapshot, kernel=kernel, venue_session=venue_session, strategies=strategies).run(),
            halt=halt,
        )
        node.trader.add_actor(self.restore_actor)

    def _restored(self) -> None:
        """Say what the restore put back (a note and ``session.restored``), or fail the start."""
        actor = self.restore_actor
        if actor is None:
            return
        if actor.error or actor.result is None:
            raise RuntimeError(actor.error or "restore did not run")
        self.notes += (actor.result.summary(),)
        self._publish("session.restored", actor.result.summary(), **actor.result.to_dict())

    async def _main(self) -> None:
        assert self.node is not None
        self._stop_requested = asyncio.Event()
        run_task = asyncio.ensure_future(self.node.run_async())
        while not self.node.trader.is_running:
            if run_task.done() or self.telemetry.shutdown_reason or self.connect_error:
                self.last_error = (self.connect_error or self.telemetry.shutdown_reason or _task_error(run_task)
                                   or "the node stopped while starting")
                await self._shutdown(run_task)  # stopped, its dispose need not wait out the disconnection timeout
                raise RuntimeError(self.last_error)
            await asyncio.sleep(0.005)
        try:
            self._restored()
        except RuntimeError as e:
            self.last_error = str(e)
            await self._shutdown(run_task)
            raise
        self.started_at = dt.datetime.now(dt.UTC)
        self.stop_at = self.spec.stop_at(self.started_at)
        self.state = "running"
        self._publish("session.running", f"running {self.spec.describe()}", notes=list(self.notes),
                      log=str(self.log_path), log_trader=self.log_trader)
        self._running.set()
        self._commands = threading.Thread(target=self._poll_commands, name=f"paperlab-cmd-{self.session_id[-6:]}",
                                          daemon=True)
        self._commands.start()
        watcher = asyncio.ensure_future(self.venue_session.watch(self._on_feed))
        await self._watch(run_task)
        watcher.cancel()
        await self._shutdown(run_task)

    async def _watch(self, run_task: asyncio.Future) -> None:
        """Wait for a stop request, the auto-stop time, the end of the feed, or a failure."""
        assert self._stop_requested is not None
        while not self._stop_requested.is_set():
            if self.telemetry.shutdown_reason:
                self.state = "error"
                self.last_error = self.telemetry.shutdown_reason
                return
            if run_task.done():
                self.state = "error"
                self.last_error = _task_error(run_task) or "the node stopped unexpectedly"
                return
            if self.stop_at is not None and dt.datetime.now(dt.UTC) >= self.stop_at:
                self._stop_reason = "auto-stop"
                return
            finished = self.venue_session.finished()
            if finished:
                self._stop_reason = finished
                return
            try:
                await asyncio.wait_for(self._stop_requested.wait(), timeout=0.05)
            except TimeoutError:
                pass

    async def _shutdown(self, run_task: asyncio.Future) -> None:
        assert self.node is not None
        if self.node.kernel.trader.is_running or self.node.kernel.is_running():
            try:
                await self._stop_trader()
                await self.node.stop_async()
            except Exception as e:  # noqa: BLE001
                self.last_error = self.last_error or f"stop: {one_line(e)}"
        await self.venue_session.stopped()
        run_task.cancel()
        try:
            await run_task
        except (asyncio.CancelledError, Exception):
            pass

    async def _stop_trader(self) -> None:
        """Stop the strategies and wait until what they sent on stop has settled, no longer.

        Nautilus's own stop waits a fixed ``timeout_post_stop`` for residual events; this
        waits for the engines' queues to drain and no order to be in flight (cancels
        acknowledged), bounded by the same timeout, so a kill after a flatten stops at once.
        """
        kernel = self.node.kernel
        if not kernel.trader.is_running:
            return
        kernel.trader.stop()
        engines = (kernel.data_engine, kernel.risk_engine, kernel.exec_engine)
        deadline = time.monotonic() + self.node._config.timeout_post_stop
        quiet = 0
        while time.monotonic() < deadline and quiet < SETTLED_CHECKS:
            await asyncio.sleep(0.001)
            quiet = quiet + 1 if _engines_idle(*engines) and not kernel.cache.orders_inflight() else 0
        kernel.trader.check_residuals()

    def _dispose(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            _cancel_pending(loop)
            if self.node is not None:
                self.node.dispose()
        except Exception as e:  # noqa: BLE001
            log.debug("dispose failed: %s", e)
        finally:
            self.venue_session.disposed()
            if not loop.is_closed():
                _cancel_pending(loop)
                loop.close()

    def _finish(self) -> None:
        self.ended_at = dt.datetime.now(dt.UTC)
        if self.state != "error":
            self.state = "stopped"
        extras = {"reason": self._stop_reason, "bars": self.bars, "fills": self.fills, "orders": self.orders}
        if self.state == "error":
            extras["error"] = self.last_error
        message = f"error: {self.last_error}" if self.state == "error" else f"stopped ({self._stop_reason})"
        try:
            note = recording.finish(self.ledger, self.writer, self.hub.publish, self.session_id, status=self.state,
                                    message=message, error=self.last_error, extras=extras)
            if note:
                self.notes = (*self.notes, note)
        finally:
            _flush_log()
            if self.spec.account_id:  # Nautilus logs account ids in full (AccountState, fills): mask them at rest
                from kernelext.session.logs import mask_accounts_in_file

                for path in self.log_path.parent.glob(f"{self.log_path.stem}*"):
                    mask_accounts_in_file(path)
            live.remove(self.session_id)
            self._done.set()

    # -- controls -------------------------------------------------------------------------------

    def _poll_commands(self) -> None:
        """Carry out controls queued in the ledger by other processes (its own thread: disk I/O)."""
        from kernelext.session.logs import LogMasker

        ticks = 0
        masker = LogMasker() if self.spec.account_id else None
        while not self._done.wait(COMMAND_POLL_S):
            ticks += 1
            if ticks % LOG_FLUSH_TICKS == 0:
                _flush_log()
                if masker is not None:  # Nautilus logs account ids in full: masked within ~1 s, not at the stop
                    masker.mask(self.log_path.parent.glob(f"{self.log_path.stem}*"))
            try:
                taken = self.ledger.take_commands(self.session_id)
            except Exception as e:  # noqa: BLE001  (a busy ledger must not end the session)
                log.debug("command poll failed: %s", e)
                continue
            for command_id, command, _args in taken:
                try:
                    getattr(self, command)() if command in CONTROL_VERBS else None
                    result = "ok" if command in CONTROL_VERBS else f"unknown command {command!r}"
                except Exception as e:  # noqa: BLE001
                    result = one_line(e)
                self.ledger.finish_command(command_id, result)

    def pause(self) -> None:
        """Deny new orders; positions stay open."""
        self._control("control.pause", "paused: new orders denied, positions held", self._set_trading(TradingState.HALTED))
        self.state = "paused"

    def resume(self) -> None:
        """Trade again."""
        self._control("control.resume", "resumed", self._set_trading(TradingState.ACTIVE))
        self.state = "running"

    def flatten(self) -> None:
        """Reduce-only, cancel every order, close every position, then halt (no re-entry) until resume."""
        self._control("control.flatten", "flatten: cancel all, close all; halted once flat", self._flatten())

    def kill(self) -> None:
        """Flatten, then stop. Returns once the session is stopped."""
        if self.is_alive:
            try:
                self._control("control.kill", "kill: flatten then stop", self._flatten())
            except RuntimeError:
                pass
        self.stop(reason="killed")

    def stop(self, reason: str = "stopped", timeout: float = 30.0) -> None:
        """Graceful stop, positions left open. Returns once the session is stopped."""
        if self.is_alive:
            if reason == "stopped":
                self._publish("control.stop", "stop: positions left open")
            self._request_stop(reason)
        self._done.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session has stopped; ``True`` if it has."""
        return self._done.wait(timeout)

    def join_commands(self, timeout: float = 10.0) -> None:
        """After the session ended: wait until a control from another process has its result
        recorded (a process about to exit calls this, or the sender never hears back)."""
        if self._commands is not None:
            self._commands.join(timeout)

    @property
    def is_alive(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def _request_stop(self, reason: str) -> None:
        loop, ev = self._loop, self._stop_requested
        if loop is None or ev is None or loop.is_closed():
            return
        self._stop_reason = reason
        try:
            loop.call_soon_threadsafe(ev.set)
        except RuntimeError:
            pass

    def _control(self, stage: str, message: str, coro: Any, timeout: float = 10.0) -> None:
        loop = self._loop
        if not self.is_alive or loop is None or not self._running.is_set():
            coro.close()
            raise RuntimeError(f"session {self.session_id[:8]} is not running (state {self.state})")

        async def run() -> None:
            self._publish(stage, message)
            await coro

        asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)
        self.writer.flush(timeout)  # the ledger agrees with the session when a control returns

    async def _set_trading(self, state: TradingState) -> None:
        assert self.node is not None
        self.node.kernel.risk_engine.set_trading_state(state)

    async def _flatten(self) -> None:
        """Flatten (``session.flatten``), say so if a position stayed open, then paused."""
        assert self.node is not None
        still_open = await flatten(self.node.kernel, self.strategies, gate=self.gate)
        if still_open:
            self._publish("control.flatten", f"flatten incomplete: {still_open} position(s) still open")
        self.state = "paused"

    # -- events ---------------------------------------------------------------------------------

    def _publish(self, stage: str, message: str, **extras: Any) -> None:
        self.hub.publish(Event(self.session_id, None, stage, message, now_ns(), extras))

    # -- status ---------------------------------------------------------------------------------

    @property
    def bars(self) -> int:
        return self.telemetry.bars if self.telemetry else 0

    @property
    def fills(self) -> int:
        return self.telemetry.fills if self.telemetry else 0

    @property
    def orders(self) -> int:
        return self.telemetry.orders if self.telemetry else 0

    def trading_state(self) -> str:
        """The RiskEngine's state: ACTIVE, HALTED (paused, or flat after flatten) or REDUCING (flattening); '-' when stopped."""
        if self.node is None or not self.is_alive:
            return "-"
        return trading_state_to_str(self.node.kernel.risk_engine.trading_state)

    def positions(self) -> list[dict[str, Any]]:
        """Open positions as plain dicts (read from the cache)."""
        if self.node is None:
            return []
        out = []
        for p in self.node.kernel.cache.positions_open():
            out.append(
                {
                    "instrument": p.instrument_id.value,
                    "side": p.side.name,
                    "quantity": p.quantity.as_double(),
                    "avg_px_open": float(p.avg_px_open),
                    "realized_pnl": p.realized_pnl.as_double() if p.realized_pnl else 0.0,
                    "strategy_id": p.strategy_id.value,
                }
            )
        return out

    def status(self) -> SessionStatus:
        """Live counters, equity and positions."""
        tel = self.telemetry
        return SessionStatus(
            session_id=self.session_id,
            label=self.spec.label,
            state=self.state,
            trading_state=self.trading_state(),
            venue=self.spec.venue,
            feed=self.spec.feed,
            started_at=self.started_at,
            bars=self.bars,
            orders=self.orders,
            fills=self.fills,
            denied=tel.denied if tel else 0,
            positions=self.positions() if self.is_alive else [],
            equity=dict(tel.equity) if tel else {},
            dropped=self.hub.dropped,
            ledger_pending=self.writer.ledger_pending,
            spooled=self.writer.spooled,
            feed_stale=bool(tel and tel.feed_stale),
            last_error=self.last_error,
            notes=self.notes,
            stop_at=self.stop_at,
        )

    def log_tail(self, lines: int = 20) -> str:
        """The last Nautilus log lines of this session (its trader id), for error messages."""
        try:
            text = (current_file(self.log_path) or self.log_path).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        mine = [ln for ln in text if self.log_trader in ln]
        return "\n".join(mine[-lines:])

    @classmethod
    def live(cls) -> dict[str, SessionRunner]:
        """The runners alive in this process, by session id."""
        return live.runners()

    @classmethod
    def stop_all(cls, timeout: float = 10.0) -> None:
        """Stop every live session (extension unload, kernel shutdown, exit)."""
        for runner in list(cls.live().values()):
            runner.stop(reason="host shutdown", timeout=timeout)


def _flush_log() -> None:
    """Write Nautilus's buffered log lines to its file (they wait in a buffer otherwise)."""
    try:
        flush_logger()
    except Exception as e:  # noqa: BLE001  (a log flush must never end a session)
        log.debug("log flush failed: %s", e)


def _task_error(task: asyncio.Future) -> str | None:
    if not task.done() or task.cancelled():
        return None
    exc = task.exception()
    return one_line(exc) if exc else None


def _engines_idle(data_engine: Any, risk_engine: Any, exec_engine: Any) -> bool:
    return not (
        data_engine.data_qsize()
        or data_engine.cmd_qsize()
        or data_engine.res_qsize()
        or risk_engine.cmd_qsize()
        or risk_engine.evt_qsize()
        or exec_engine.cmd_qsize()
        or exec_engine.evt_qsize()
    )


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and reap tasks Nautilus leaves behind (executor workers) before closing."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks and not loop.is_running():
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _capturing(factory: type, sink: Callable[[Any], None]) -> type:
    """A factory subclass that hands the client it creates to ``sink``."""

    class Capturing(factory):  # type: ignore[misc, valid-type]
        @staticmethod
        def create(*args: Any, **kwargs: Any) -> Any:
            client = factory.create(*args, **kwargs)
            sink(client)
            return client

    Capturing.__name__ = factory.__name__  # the builder passes extra args by factory name
    return Capturing
