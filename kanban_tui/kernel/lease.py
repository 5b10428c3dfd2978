"""The single-leader lease: one row says which process (`host:pid`) may spawn workers.

The leader renews the row every couple of seconds; anyone may take it once it expires, or at
once when its holder is a process on this host that no longer exists. Observers wake the
leader by bumping the `nudge` counter in `settings`: the commit changes the leader's
`db.data_version` like any other board change.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time

from kanban_tui.kernel import db

TTL_SECONDS = 10.0
RENEW_SECONDS = 2.0

Conn = sqlite3.Connection


def _clock(now: float | None) -> float:
    return time.time() if now is None else now


def local_holder() -> str:
    """This process's holder name."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _split(holder: str) -> tuple[str, int]:
    host, _, pid = holder.rpartition(":")
    return host, int(pid) if pid.isdigit() else 0


def _holder_gone(row: sqlite3.Row) -> bool:
    """The holder is a process on this host that does not exist any more."""
    if row["host"] != socket.gethostname():
        return False
    try:
        os.kill(row["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _available(row: sqlite3.Row | None, holder: str, now: float) -> bool:
    return row is None or row["holder"] == holder or row["expires_at"] <= now or _holder_gone(row)


def try_acquire(conn: Conn, holder: str, now: float | None = None) -> bool:
    """Take (or keep) the lease; False while another live process holds it."""
    now = _clock(now)
    host, pid = _split(holder)

    def tx(c: Conn) -> bool:
        row = c.execute("SELECT * FROM dispatcher_lease WHERE name = 'dispatcher'").fetchone()
        if not _available(row, holder, now):
            return False
        if row is not None and row["holder"] == holder:
            c.execute("UPDATE dispatcher_lease SET expires_at = ? WHERE name = 'dispatcher'",
                      (now + TTL_SECONDS,))
            return True
        # a fresh row: the last holder's tick stamp and counts go with it
        c.execute("DELETE FROM dispatcher_lease WHERE name = 'dispatcher'")
        c.execute("INSERT INTO dispatcher_lease (name, holder, host, pid, acquired_at, expires_at) "
                  "VALUES ('dispatcher', ?, ?, ?, ?, ?)", (holder, host, pid, now, now + TTL_SECONDS))
        return True

    return db.write(conn, tx)


def renew(conn: Conn, holder: str, now: float | None = None) -> bool:
    """Push the lease forward; False when it is no longer ours."""
    now = _clock(now)
    return db.write(conn, lambda c: c.execute(
        "UPDATE dispatcher_lease SET expires_at = ? WHERE name = 'dispatcher' AND holder = ?",
        (now + TTL_SECONDS, holder)).rowcount == 1)


def release(conn: Conn, holder: str) -> None:
    db.write(conn, lambda c: c.execute(
        "DELETE FROM dispatcher_lease WHERE name = 'dispatcher' AND holder = ?", (holder,)))


def record_tick(conn: Conn, holder: str, *, live_workers: int, max_workers: int,
                now: float | None = None) -> None:
    """Stamp the leader's last tick and its worker counts (what `stats` and the UI show)."""
    now = _clock(now)
    db.write(conn, lambda c: c.execute(
        "UPDATE dispatcher_lease SET last_tick_at = ?, live_workers = ?, max_workers = ? "
        "WHERE name = 'dispatcher' AND holder = ?", (now, live_workers, max_workers, holder)))


def status(conn: Conn, now: float | None = None) -> dict | None:
    """{leader, last_tick_at, live_workers, max_workers} of a live leader, else None."""
    now = _clock(now)
    row = db.read(conn, lambda c: c.execute(
        "SELECT * FROM dispatcher_lease WHERE name = 'dispatcher'").fetchone())
    if row is None or row["expires_at"] <= now or _holder_gone(row):
        return None
    return {"leader": row["holder"], "last_tick_at": row["last_tick_at"],
            "live_workers": row["live_workers"], "max_workers": row["max_workers"]}


def nudge(conn: Conn) -> None:
    """Wake whoever leads: any commit bumps its data_version (on PostgreSQL, this one does); this
    one says why."""
    db.write(conn, lambda c: c.execute(
        "INSERT INTO settings (key, value) VALUES ('nudge', '1') "
        "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT)"))
