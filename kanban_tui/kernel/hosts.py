"""Hosts: every dispatcher registers its host in `dispatchers`, and the row is its host lease.

A host is named by its host id (`--host-id`, `KANBAN_HOST_ID`, else the machine's hostname);
its dispatcher spawns only the profiles its own config serves and publishes them here. The
lease is renewed on the database clock (so hosts with skewed clocks agree on who is alive),
at least every third of `dispatch.host_lease_seconds`. While a row's lease runs, only its
holder may serve that host id (a second dispatcher is refused), unless the holder is a
process on this machine that no longer exists. A clean stop leaves the lease to run out, so
a restart within it adopts the workers left running; once it has run out the host is lost
and its open runs are reclaimed (`transitions.reclaim_host_lost`).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time

from kanban_tui.kernel import db, transitions
from kanban_tui.kernel.db import clock

DEFAULT_LEASE_SECONDS = 15.0

Conn = sqlite3.Connection


def local_holder() -> str:
    """This process as a lease holder: `machine:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_gone(holder: str) -> bool:
    """The holder is a process on this machine that does not exist any more."""
    machine, _, pid = holder.rpartition(":")
    if machine != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def is_alive(row, now: float) -> bool:
    return row["stopped_at"] is None and row["lease_expires"] > now and not holder_gone(row["holder"])


def served_profiles(config) -> list[str] | None:
    """What a host with this config spawns, as published: None when its default_command takes any
    assignee."""
    if config.default_command is not None:
        return None
    return sorted(name for name in config.profiles if config.command_for(name) is not None)


def register(conn: Conn, host_id: str, holder: str, *, profiles: list[str] | None, max_workers: int,
             lease_seconds: float, now: float | None = None) -> tuple[bool, dict | None]:
    """Take (or renew) the host lease of `host_id`: (True, None), or (False, the live holder's
    row) when another process serves that host id. Runs the host held under a lease that ran
    out are lost: they are reclaimed in the same transaction, before this holder claims anything."""
    def tx(c: Conn) -> tuple[bool, dict | None]:
        at = clock(c) if now is None else now
        row = c.execute("SELECT * FROM dispatchers WHERE host_id = ?", (host_id,)).fetchone()
        if row is not None and row["holder"] != holder and is_alive(row, at):
            return False, _shape(row, at)
        if row is not None and row["lease_expires"] <= at:
            transitions.reclaim_lost_runs(c, host_id, now=time.time())
        fresh = row is None or row["holder"] != holder
        c.execute(
            "INSERT INTO dispatchers (host_id, holder, pid, started_at, heartbeat_at, lease_expires, profiles, "
            "max_workers) VALUES (:host, :holder, :pid, :at, :at, :expires, :profiles, :cap) "
            "ON CONFLICT (host_id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, "
            "started_at = CASE WHEN :fresh THEN excluded.started_at ELSE dispatchers.started_at END, "
            "heartbeat_at = excluded.heartbeat_at, lease_expires = excluded.lease_expires, "
            "profiles = excluded.profiles, max_workers = excluded.max_workers, stopped_at = NULL",
            {"host": host_id, "holder": holder, "pid": int(holder.rpartition(":")[2] or 0), "at": at,
             "expires": at + lease_seconds, "profiles": None if profiles is None else json.dumps(sorted(profiles)),
             "cap": max_workers, "fresh": fresh})
        return True, None

    return db.write(conn, tx)


def renew(conn: Conn, host_id: str, holder: str, *, lease_seconds: float, live_workers: int | None = None,
          ticked: bool = False, now: float | None = None) -> bool:
    """Push the host lease forward (and stamp a tick); False when it is no longer ours or has
    already run out (then the host is lost: register again)."""

    def tx(c: Conn) -> bool:
        at = clock(c) if now is None else now
        return c.execute(
            "UPDATE dispatchers SET heartbeat_at = :at, lease_expires = :at + :lease, "
            "live_workers = coalesce(:live, live_workers), "
            "last_tick_at = CASE WHEN :ticked THEN :at ELSE last_tick_at END "
            "WHERE host_id = :host AND holder = :holder AND lease_expires > :at AND stopped_at IS NULL",
            {"at": at, "lease": lease_seconds, "live": live_workers, "ticked": ticked, "host": host_id,
             "holder": holder}).rowcount == 1

    return db.write(conn, tx)


def release(conn: Conn, host_id: str, holder: str, *, live_workers: int) -> None:
    """A clean stop: the host shows as stopped; its lease runs on so a restart can adopt."""
    db.write(conn, lambda c: c.execute(
        "UPDATE dispatchers SET stopped_at = ?, live_workers = ? WHERE host_id = ? AND holder = ?",
        (clock(c), live_workers, host_id, holder)))


def lost(conn: Conn) -> list[str]:
    """Hosts whose lease ran out with runs still open on them."""
    return db.read(conn, lambda c: [row[0] for row in c.execute(
        "SELECT d.host_id FROM dispatchers d WHERE d.lease_expires <= ? AND EXISTS ("
        "  SELECT 1 FROM task_runs r WHERE r.status = 'running' AND r.host_id = d.host_id) ORDER BY d.host_id",
        (clock(c),))])


def next_loss_in(conn: Conn, host_id: str) -> float | None:
    """Seconds until the next other host with open runs would be lost (its lease runs out), if any."""
    def read(c: Conn) -> float | None:
        at = clock(c)
        due = c.execute(
            "SELECT min(d.lease_expires) FROM dispatchers d WHERE d.host_id <> ? AND d.lease_expires > ? AND EXISTS ("
            "  SELECT 1 FROM task_runs r WHERE r.status = 'running' AND r.host_id = d.host_id)",
            (host_id, at)).fetchone()[0]
        return None if due is None else due - at

    return db.read(conn, read)


def listing(conn: Conn) -> list[dict]:
    """`hosts --json`: every registered host, live ones first."""
    def read(c: Conn) -> list[dict]:
        at = clock(c)
        rows = [_shape(row, at) for row in c.execute("SELECT * FROM dispatchers ORDER BY host_id")]
        return sorted(rows, key=lambda host: not host["alive"])

    return db.read(conn, read)


def live(conn: Conn) -> list[dict]:
    return [host for host in listing(conn) if host["alive"]]


def serving(hosts: list[dict], assignee: str) -> bool:
    """Some host in `hosts` spawns `assignee` (a host with no list serves any)."""
    return any(host["profiles"] is None or assignee in host["profiles"] for host in hosts)


def _shape(row, now: float) -> dict:
    """A host as `hosts --json` shows it, plus its holder and `state`: alive, stopped (a clean
    stop whose lease still runs: a restart adopts its workers) or lost."""
    alive = is_alive(row, now)
    state = "alive" if alive else "stopped" if row["stopped_at"] is not None and row["lease_expires"] > now else "lost"
    return {"host_id": row["host_id"], "pid": row["pid"], "alive": alive, "state": state,
            "lease_expires": row["lease_expires"], "last_tick_at": row["last_tick_at"],
            "profiles": None if row["profiles"] is None else json.loads(row["profiles"]),
            "live_workers": row["live_workers"], "max_workers": row["max_workers"],
            "holder": row["holder"]}
