"""Stopping the workers of runs that a verb ended: TERM, a short wait, KILL, fingerprint checked.

Verbs only mark a run (`stop_requested_at`). The dispatcher serving the worker's host stops
it from its loop without blocking (`Stopper.scan` on each tick, `poll` while stops are
pending); when no dispatcher serves this host, the CLI or TUI that made the change calls
`stop_unowned` after its commit. Each stop ends with a `worker_stopped{pid, signal}` event.
Nothing here ever signals the calling process or one of its ancestors.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from dataclasses import dataclass

from kanban_tui.kernel import db, hosts, procs, transitions
from kanban_tui.kernel.models import local_host_id

STOP_GRACE_SECONDS = 1.0   # TERM, then KILL when the worker is still there after this
POLL_SECONDS = 0.05        # how often pending stops are looked at
GIVE_UP_SECONDS = 10.0     # a worker that survives KILL this long (uninterruptible) is left marked

Conn = sqlite3.Connection


def marked_runs(conn: Conn, host: str) -> list[sqlite3.Row]:
    """Runs on `host` (or of unknown host) whose worker was asked to stop and not yet stopped."""
    return db.read(conn, lambda c: c.execute(
        "SELECT id, task_id, worker_pid, worker_started_at FROM task_runs "
        "WHERE stop_requested_at IS NOT NULL AND stopped_at IS NULL AND worker_pid IS NOT NULL "
        "AND (host_id = ? OR host_id IS NULL) ORDER BY id", (host,)).fetchall())


def _protected() -> set[int]:
    """This process and its ancestors: a stop must never take down its own caller."""
    import psutil

    me = psutil.Process()
    return {me.pid, *(parent.pid for parent in me.parents())}


@dataclass
class _Stop:
    pid: int
    started_at: float | None
    group: bool
    termed_at: float
    killed: bool = False


class Stopper:
    """The stops in progress, advanced without blocking; times are monotonic."""

    def __init__(self, grace: float = STOP_GRACE_SECONDS):
        self.grace = grace
        self._pending: dict[int, _Stop] = {}
        self._protected = _protected()

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def scan(self, conn: Conn, host_id: str) -> None:
        """TERM the workers of newly marked runs of this host; record those already gone."""
        for row in marked_runs(conn, host_id):
            if row["id"] in self._pending:
                continue
            pid, started = row["worker_pid"], row["worker_started_at"]
            if not procs.is_alive(pid, started):
                transitions.record_worker_stopped(conn, row["id"], pid=pid, signal=None)
                continue
            group = procs.leads_own_group(pid)
            if pid in self._protected or (group and os.getpgrp() == pid):
                continue  # the caller runs inside this worker: its dispatcher stops it later
            procs.send(pid, group, signal.SIGTERM)
            self._pending[row["id"]] = _Stop(pid, started, group, time.monotonic())
        self.poll(conn)

    def poll(self, conn: Conn) -> None:
        """Record the workers that are gone; KILL those past their grace."""
        now = time.monotonic()
        for run_id, stop in list(self._pending.items()):
            if procs.gone(stop.pid, stop.started_at, stop.group):
                del self._pending[run_id]
                transitions.record_worker_stopped(conn, run_id, pid=stop.pid,
                                                  signal="SIGKILL" if stop.killed else "SIGTERM")
            elif not stop.killed and now - stop.termed_at >= self.grace:
                if procs.is_alive(stop.pid, stop.started_at):  # fingerprint checked before each signal
                    procs.send(stop.pid, stop.group, signal.SIGKILL)
                stop.killed = True
            elif now - stop.termed_at >= GIVE_UP_SECONDS:
                del self._pending[run_id]

    def next_check(self) -> float | None:
        return time.monotonic() + POLL_SECONDS if self._pending else None

    def drain(self, conn: Conn) -> None:
        """Block until every pending stop is done (for callers without a loop)."""
        while self._pending:
            time.sleep(POLL_SECONDS)
            self.poll(conn)


def dispatcher_on_this_host(conn: Conn, host_id: str) -> bool:
    return any(host["host_id"] == host_id for host in hosts.live(conn))


def stop_unowned(conn: Conn) -> None:
    """After a CLI/TUI commit: stop this host's marked workers when no dispatcher serves it."""
    host_id = local_host_id()
    if dispatcher_on_this_host(conn, host_id):
        return
    stopper = Stopper()
    stopper.scan(conn, host_id)
    stopper.drain(conn)
