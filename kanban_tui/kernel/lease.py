"""The housekeeping lease: one row says which dispatcher (`host:pid`) does the board-wide chores
(hosts lost, claims by hand whose lease ran out, notifications); each host's own dispatcher
holds its host lease (kernel/hosts.py).

The holder renews the row every couple of seconds, on the database clock; any dispatcher may
take it once it expires, or at once when its holder is a process on this machine that no
longer exists. Anyone wakes every dispatcher by bumping the `nudge` counter in `settings`:
the commit changes their `db.data_version` (and notifies them on PostgreSQL).
"""

from __future__ import annotations

import sqlite3

from kanban_tui.kernel import db, hosts

TTL_SECONDS = 10.0
RENEW_SECONDS = 2.0

Conn = sqlite3.Connection


def local_holder() -> str:
    """This process's holder name."""
    return hosts.local_holder()


def _split(holder: str) -> tuple[str, int]:
    host, _, pid = holder.rpartition(":")
    return host, int(pid) if pid.isdigit() else 0


def _holder_gone(row: sqlite3.Row) -> bool:
    return hosts.holder_gone(row["holder"])


def _available(row: sqlite3.Row | None, holder: str, now: float) -> bool:
    return row is None or row["holder"] == holder or row["expires_at"] <= now or _holder_gone(row)


def try_acquire(conn: Conn, holder: str, now: float | None = None, ttl: float = TTL_SECONDS) -> bool:
    """Take (or keep) the lease for `ttl` seconds; False while another live process holds it."""
    host, pid = _split(holder)

    def tx(c: Conn) -> bool:
        at = db.clock(c) if now is None else now
        row = c.execute("SELECT * FROM dispatcher_lease WHERE name = 'dispatcher'").fetchone()
        if not _available(row, holder, at):
            return False
        if row is not None and row["holder"] == holder:
            c.execute("UPDATE dispatcher_lease SET expires_at = ? WHERE name = 'dispatcher'", (at + ttl,))
            return True
        # a fresh row: the last holder's tick stamp and counts go with it
        c.execute("DELETE FROM dispatcher_lease WHERE name = 'dispatcher'")
        c.execute("INSERT INTO dispatcher_lease (name, holder, host, pid, acquired_at, expires_at) "
                  "VALUES ('dispatcher', ?, ?, ?, ?, ?)", (holder, host, pid, at, at + ttl))
        return True

    return db.write(conn, tx)


def renew(conn: Conn, holder: str, now: float | None = None) -> bool:
    """Push the lease forward; False when it is no longer ours."""
    return db.write(conn, lambda c: c.execute(
        "UPDATE dispatcher_lease SET expires_at = ? WHERE name = 'dispatcher' AND holder = ?",
        ((db.clock(c) if now is None else now) + TTL_SECONDS, holder)).rowcount == 1)


def release(conn: Conn, holder: str) -> None:
    db.write(conn, lambda c: c.execute(
        "DELETE FROM dispatcher_lease WHERE name = 'dispatcher' AND holder = ?", (holder,)))


def record_tick(conn: Conn, holder: str, *, live_workers: int, max_workers: int,
                now: float | None = None) -> None:
    """Stamp the holder's last tick and its worker counts (what `stats` and the UI show)."""
    db.write(conn, lambda c: c.execute(
        "UPDATE dispatcher_lease SET last_tick_at = ?, live_workers = ?, max_workers = ? "
        "WHERE name = 'dispatcher' AND holder = ?", (db.clock(c) if now is None else now, live_workers,
                                                      max_workers, holder)))


def status(conn: Conn, now: float | None = None) -> dict | None:
    """{leader, last_tick_at, live_workers, max_workers} of a live holder, else None."""
    row, at = db.read(conn, lambda c: (c.execute("SELECT * FROM dispatcher_lease WHERE name = 'dispatcher'")
                                       .fetchone(), db.clock(c) if now is None else now))
    if row is None or row["expires_at"] <= at or _holder_gone(row):
        return None
    return {"leader": row["holder"], "last_tick_at": row["last_tick_at"],
            "live_workers": row["live_workers"], "max_workers": row["max_workers"]}


def nudge(conn: Conn) -> None:
    """Wake whoever leads: any commit bumps its data_version (on PostgreSQL, this one does); this
    one says why."""
    db.write(conn, lambda c: c.execute(
        "INSERT INTO settings (key, value) VALUES ('nudge', '1') "
        "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT)"))
