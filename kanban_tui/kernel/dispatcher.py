"""The dispatcher on a thread (README "Running the dispatcher", "Several machines"): it holds its
host's lease, runs `tick()` (kernel/tick.py) on the interval and on every wake-up, and fences
itself when it cannot renew.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Callable

from kanban_tui.config import Config
from kanban_tui.errors import KanbanError
from kanban_tui.kernel import db, hosts, lease
from kanban_tui.kernel.models import local_host_id
from kanban_tui.kernel.stopping import Stopper
from kanban_tui.kernel.tick import Report, live_workers, next_deadline, tick
from kanban_tui.kernel.workers import Workers
from kanban_tui.paths import Paths

if TYPE_CHECKING:
    from kanban_tui.kernel.listen import Listener

WAKE_POLL_SECONDS = 0.05       # how often the leader looks at db.data_version
LISTEN_FALLBACK_SECONDS = 1.0  # on PostgreSQL, how often a look happens without a notification
OBSERVER_POLL_SECONDS = 0.5    # how often an observer tries to take the lease
FENCE_FRACTION = 2 / 3         # of the host lease without a renewal: stop the workers, stop claiming
FENCE_STOP_GRACE_SECONDS = 1.0
HOST_LOSS_SLACK_SECONDS = 0.05  # after another host's lease runs out, before looking (clock rounding)
ADOPTED_SWEEP_SECONDS = 0.5    # fingerprint checks when pidfd_open is unavailable
ERROR_BACKOFF_SECONDS = 1.0  # after a failed step (a full disk, say), doubling up to
ERROR_BACKOFF_MAX_SECONDS = 8.0  # this while the failures go on
ERROR_REPEAT_SECONDS = 60.0  # an error identical to the last one is reported once per this
CHECKPOINT_IDLE_SECONDS = 0.5  # the leader checkpoints the WAL once the board was quiet this long,
CHECKPOINT_EVERY_SECONDS = 10.0  # and at least this often while it keeps changing

Conn = sqlite3.Connection
log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This dispatcher's host lease is no longer its own (taken over, or run out)."""


class Dispatcher:
    """The dispatcher on a thread (inside the TUI, or headless): serves its host while it holds
    the host's lease (registered in `dispatchers`), observes otherwise. The one that also holds
    the housekeeping lease does the board-wide chores. Start it once; stop() releases the
    leases and leaves workers running for a restart to adopt.

    It ticks on the interval and also at once when another connection commits (on SQLite
    db.data_version, polled every 50 ms; on PostgreSQL a LISTEN wake-up, polled every second
    as the fallback), when one of its workers ends (a pidfd per worker), when a timed deadline
    arrives (retry, lease expiry, max runtime) and when nudged. All database work happens on
    the thread, on its own connection, so its own writes never wake it.

    Fencing: the host lease is renewed every third of `dispatch.host_lease_seconds`. When two
    thirds of it have passed without a renewal (the database unreachable, the process stopped),
    it stops its workers and claims nothing until it registers again; by then other hosts may
    have reclaimed its runs, and a claim is refused inside the database to a holder without a
    live lease.
    """

    def __init__(self, paths: Paths, config: Config, *, on_tick: Callable[[Report], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None, holder: str | None = None,
                 host_id: str | None = None):
        self.paths = paths
        self.config = config
        self.holder = holder or hosts.local_holder()
        self.host_id = host_id or local_host_id()
        self.lease_seconds = float(config.dispatch.host_lease_seconds)
        self.on_tick = on_tick
        self.on_error = on_error
        self._repeats = _Repeats(ERROR_REPEAT_SECONDS)
        self._workers = Workers(wakeups=True)
        self._stopper = Stopper()
        self._stopping = threading.Event()
        self._nudged = threading.Event()
        self._pipe_lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._thread: threading.Thread | None = None
        self._status_lock = threading.Lock()
        self._status = {"role": "observer", "leader": None, "last_tick_at": None, "live_workers": 0,
                        "max_workers": config.dispatch.max_workers, "host_id": self.host_id, "hosts": []}
        # loop state, touched only by the thread (times are monotonic)
        self._leading = False        # holds the host lease: spawns and watches this host's workers
        self._housekeeping = False   # holds the board-wide lease too
        self._renewed_at = 0.0       # when the last host-lease renewal that succeeded began
        self._board_lease_at = 0.0
        self._next_tick_at = 0.0
        self._next_lease_try = 0.0
        self._deadline: float | None = None
        self._version: object = None
        self._woken = False
        self._registered: dict[int, int] = {}
        self._listener: Listener | None = None  # PostgreSQL only
        self._polled_at = 0.0
        self._listening_fd: int | None = None
        self._changed_at: float | None = None  # the board changed since the last checkpoint
        self._checkpointed_at = 0.0

    # -- public surface ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a Dispatcher is started once")
        self._thread = threading.Thread(target=self._run, name="kanban-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Release the leases and end the thread; True when it ended within `timeout`."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        stopped = self._thread is None or not self._thread.is_alive()
        if stopped:
            with self._pipe_lock:
                if self._wake_write is not None:
                    os.close(self._wake_read)
                    os.close(self._wake_write)
                    self._wake_write = None
        return stopped

    def nudge(self) -> None:
        """Tick now when leading; otherwise wake whichever process leads (every host's)."""
        self._nudged.set()
        self._wake()

    def status(self) -> dict:
        """{role: 'leader'|'observer', leader, last_tick_at, live_workers, max_workers, host_id,
        hosts}: this host's figures, and every registered host (`hosts --json` rows)."""
        with self._status_lock:
            return dict(self._status)

    # -- the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = db.connect(self.paths.db)
        except KanbanError as exc:
            self._error(exc)
            return
        if db.is_postgres(conn):
            from kanban_tui.kernel.listen import Listener  # psycopg: only for a PostgreSQL board

            self._listener = Listener(conn.url)
        selector = selectors.DefaultSelector()
        selector.register(self._wake_read, selectors.EVENT_READ)
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    self._fence_if_overdue()
                    timeout = self._step(conn)
                    failures = 0
                except LeaseLost:
                    self._fence("its host lease was taken over or ran out")
                    timeout = 0.0
                except Exception as exc:  # keep dispatching: report, back off, try again
                    failures += 1
                    self._error(exc)
                    # not self._wait: a dead worker's pidfd stays readable until a tick records it,
                    # so waiting on it would retry (and log) in a tight loop; but wake in time to fence
                    backoff = min(ERROR_BACKOFF_MAX_SECONDS, ERROR_BACKOFF_SECONDS * 2 ** (failures - 1))
                    if self._leading:
                        backoff = min(backoff, max(0.0, self._fence_at() - time.monotonic()))
                    self._stopping.wait(backoff)
                    continue
                self._wait(selector, timeout)
        finally:
            self._shutdown(conn, selector)

    def _step(self, conn: Conn) -> float:
        """One turn: lead or observe; returns how long to wait for a wake-up."""
        now = time.monotonic()
        if not self._leading and not self._try_lead(conn, now):
            return self._observe(conn)
        return self._lead(conn, now)

    def _try_lead(self, conn: Conn, now: float) -> bool:
        if now < self._next_lease_try:
            return False
        self._next_lease_try = now + OBSERVER_POLL_SECONDS
        began = time.monotonic()
        registered, _ = hosts.register(conn, self.host_id, self.holder, profiles=hosts.served_profiles(self.config),
                                       max_workers=self.config.dispatch.max_workers,
                                       lease_seconds=self.lease_seconds)
        if not registered:
            return False
        self._leading = True
        self._renewed_at = began
        self._board_lease_at = 0.0  # try for the housekeeping lease at once
        self._version = None  # tick at once: the first tick adopts running workers
        self._set_status(role="leader", leader=self.holder)
        return True

    def _observe(self, conn: Conn) -> float:
        if self._nudged.is_set():
            self._nudged.clear()
            lease.nudge(conn)
        self._workers.reap_exited()
        listing = hosts.listing(conn)
        mine = next((host for host in listing if host["host_id"] == self.host_id and host["alive"]), None)
        self._set_status(role="observer", leader=mine["holder"] if mine else None,
                         last_tick_at=mine["last_tick_at"] if mine else None,
                         live_workers=mine["live_workers"] if mine else live_workers(conn, self.host_id),
                         max_workers=mine["max_workers"] if mine else self.config.dispatch.max_workers,
                         hosts=listing)
        return max(0.0, self._next_lease_try - time.monotonic())

    def _lead(self, conn: Conn, now: float) -> float:
        self._keepalive(conn)
        version = db.data_version(conn) if self._board_may_have_changed(now) else self._version
        if version != self._version:
            self._version = version
            self._woken = True
            self._changed_at = now
        if self._nudged.is_set():
            self._nudged.clear()
            self._woken = True
        if not self._workers.has_wakeups and self._workers.child_exited():
            self._woken = True
        due = now >= self._next_tick_at or (self._deadline is not None and now >= self._deadline)
        if self._woken or due:
            self._woken = False
            self._tick(conn)
            now = time.monotonic()
            self._changed_at = now  # a tick writes (at least its lease row)
        elif self._stopper.pending:
            self._stopper.poll(conn)
        waits = [self._poll_seconds(), self._next_tick_at - now, self._renewed_at + self._renew_seconds() - now,
                 self._board_lease_at + self._board_renew_seconds() - now]
        for deadline in (self._deadline, self._stopper.next_check()):
            if deadline is not None:
                waits.append(deadline - now)
        self._checkpoint(conn, now)
        return max(0.0, min(waits))

    def _poll_seconds(self) -> float:
        return WAKE_POLL_SECONDS if self._listener is None else LISTEN_FALLBACK_SECONDS

    def _board_may_have_changed(self, now: float) -> bool:
        """On SQLite data_version is nearly free: always look. On PostgreSQL look when a
        notification (or a lost session) woke us, and on the fallback poll."""
        if self._listener is None:
            return True
        if self._listener.woken():
            self._polled_at = now
            return True
        if now - self._polled_at >= LISTEN_FALLBACK_SECONDS:
            self._polled_at = now
            return True
        return False

    def _checkpoint(self, conn: Conn, now: float) -> None:
        """Move acknowledged writes from the WAL into the database file when the board goes quiet
        (or every few seconds while it is busy), so they survive the loss of the WAL."""
        if self._changed_at is None:
            return
        if now - self._changed_at >= CHECKPOINT_IDLE_SECONDS or now - self._checkpointed_at >= CHECKPOINT_EVERY_SECONDS:
            db.checkpoint(conn)
            self._changed_at = None
            self._checkpointed_at = now

    def _tick(self, conn: Conn) -> None:
        settings = self.config.dispatch
        report = tick(conn, self.paths, self.config, workers=self._workers, holder=self.holder,
                      keepalive=lambda: self._keepalive(conn), stopper=self._stopper, host_id=self.host_id,
                      housekeeper=self._housekeeping, fenced=True)
        ticked_at = time.time()
        live = live_workers(conn, self.host_id)
        began = time.monotonic()
        if not hosts.renew(conn, self.host_id, self.holder, lease_seconds=self.lease_seconds,
                           live_workers=live, ticked=True):
            raise LeaseLost(self.holder)
        self._renewed_at = began
        if self._housekeeping:
            lease.record_tick(conn, self.holder, live_workers=live, max_workers=settings.max_workers, now=ticked_at)
        self._next_tick_at = time.monotonic() + settings.interval_seconds
        self._deadline = self._next_deadline(conn)
        self._set_status(role="leader", leader=self.holder, last_tick_at=ticked_at, live_workers=live,
                         max_workers=settings.max_workers, hosts=hosts.listing(conn))
        if self.on_tick is not None:
            self.on_tick(report)

    def _next_deadline(self, conn: Conn) -> float | None:
        now = time.monotonic()
        candidates = []
        board = next_deadline(conn)
        if board is not None:
            candidates.append(now + (board - time.time()))
        if self._workers.unwatched_adopted():
            candidates.append(now + ADOPTED_SWEEP_SECONDS)
        if self._housekeeping:  # a host that stops renewing is lost when its lease runs out: be there
            loss = hosts.next_loss_in(conn, self.host_id)
            if loss is not None:
                candidates.append(now + loss + HOST_LOSS_SLACK_SECONDS)
        return min(candidates, default=None)

    def _renew_seconds(self) -> float:
        return self.lease_seconds / 3

    def _board_renew_seconds(self) -> float:
        return min(lease.RENEW_SECONDS, self.lease_seconds / 3)

    def _fence_at(self) -> float:
        return self._renewed_at + self.lease_seconds * FENCE_FRACTION

    def _keepalive(self, conn: Conn) -> None:
        """Renew the host lease when due (raises LeaseLost when it is no longer ours) and keep
        trying for, or renewing, the housekeeping lease."""
        self._fence_if_overdue()
        now = time.monotonic()
        if now - self._renewed_at >= self._renew_seconds():
            if not hosts.renew(conn, self.host_id, self.holder, lease_seconds=self.lease_seconds):
                raise LeaseLost(self.holder)
            self._renewed_at = now
            self._set_status(hosts=hosts.listing(conn))  # other hosts come and go between ticks
        if now - self._board_lease_at >= self._board_renew_seconds():
            self._board_lease_at = now
            # as long as a host lease: a lost housekeeper is replaced by the time its runs are lost
            housekeeping = lease.try_acquire(conn, self.holder, ttl=self.lease_seconds)
            if housekeeping and not self._housekeeping:
                self._woken = True  # a new housekeeper looks for lost hosts at once
            self._housekeeping = housekeeping

    def _fence_if_overdue(self) -> None:
        if self._leading and time.monotonic() >= self._fence_at():
            raise LeaseLost(self.holder)

    def _fence(self, why: str) -> None:
        """Lost the host lease: stop this host's workers (their runs are, or are about to be,
        reclaimed elsewhere) and claim nothing until registered again."""
        if not self._leading:
            return
        silent = time.monotonic() - self._renewed_at
        self._leading = self._housekeeping = False
        stopped = self._workers.stop_all(FENCE_STOP_GRACE_SECONDS)
        self._next_lease_try = time.monotonic()
        self._set_status(role="observer", leader=None)
        self._error(KanbanError(
            f"host {self.host_id}: {why} ({silent:.1f}s since the last renewal, lease {self.lease_seconds:g}s): "
            f"stopped {stopped} worker(s); claiming nothing until registered again"))

    def _wait(self, selector: selectors.BaseSelector, timeout: float) -> None:
        self._sync_pidfds(selector)
        self._sync_listener(selector)
        for key, _ in selector.select(timeout):
            if key.fd == self._wake_read:
                self._drain()
            self._woken = True

    def _sync_listener(self, selector: selectors.BaseSelector) -> None:
        """Keep the LISTEN session's socket registered (it changes when the session reconnects)."""
        fd = self._listener.fileno() if self._listener is not None else None
        if fd == self._listening_fd:
            return
        if self._listening_fd is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                selector.unregister(self._listening_fd)
        self._listening_fd = fd
        if fd is not None:
            selector.register(fd, selectors.EVENT_READ)

    def _sync_pidfds(self, selector: selectors.BaseSelector) -> None:
        """Register the workers' pidfds; a closed fd's number may be reused by a new pidfd."""
        current = self._workers.pidfds()
        for fd, pid in list(self._registered.items()):
            if current.get(fd) != pid:
                selector.unregister(fd)
                del self._registered[fd]
        for fd, pid in current.items():
            if fd not in self._registered:
                selector.register(fd, selectors.EVENT_READ)
                self._registered[fd] = pid

    def _shutdown(self, conn: Conn, selector: selectors.BaseSelector) -> None:
        if self._leading:
            try:
                hosts.release(conn, self.host_id, self.holder, live_workers=live_workers(conn, self.host_id))
                lease.release(conn, self.holder)
            except Exception as exc:  # the leases then simply expire
                self._error(exc)
        self._leading = self._housekeeping = False
        self._set_status(role="observer", leader=None)
        self._workers.close()
        selector.close()
        if self._listener is not None:
            self._listener.close()
        conn.close()

    # -- helpers ----------------------------------------------------------------------

    def _wake(self) -> None:
        with self._pipe_lock:
            if self._wake_write is None:
                return
            try:
                os.write(self._wake_write, b"\0")
            except BlockingIOError:  # the pipe is full: a wake-up is already pending
                pass

    def _drain(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _set_status(self, **fields) -> None:
        with self._status_lock:
            self._status.update(fields)

    def _error(self, exc: BaseException) -> None:
        text = self._repeats.admit(str(exc), time.monotonic())
        if text is None:
            return
        if text != str(exc):
            exc = KanbanError(text)
        if self.on_error is not None:
            self.on_error(exc)
            return
        log.error("dispatcher: %s", exc, exc_info=not isinstance(exc, KanbanError))


class _Repeats:
    """Lets an error identical to the previous one through once per window, then says how often
    it recurred meanwhile (a dispatcher on a full disk fails the same way many times a second)."""

    def __init__(self, window: float):
        self.window = window
        self.last: str | None = None
        self.since = 0.0
        self.count = 0

    def admit(self, message: str, now: float) -> str | None:
        if message == self.last and now - self.since < self.window:
            self.count += 1
            return None
        note = (f" (repeated {self.count} more times in {now - self.since:.0f}s)"
                if message == self.last and self.count else "")
        self.last, self.since, self.count = message, now, 0
        return message + note
