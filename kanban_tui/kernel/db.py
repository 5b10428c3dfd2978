"""Connections, migrations and the one way to write: `write(conn)` = BEGIN IMMEDIATE.

A board is an SQLite file or, given a `postgresql://` URL, a PostgreSQL database (kernel/pg.py,
whose connection has the same surface); every function here takes either. On SQLite every
connection runs in autocommit mode (isolation_level=None) so that transactions are
explicit. Writers take the write lock up front (BEGIN IMMEDIATE) and retry with jittered
back-off on SQLITE_BUSY beyond the busy timeout, so no caller ever sees "database is locked".
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from kanban_tui.errors import StorageError
from kanban_tui.kernel import dsn

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
# After the busy timeout, keep retrying (with jitter) for this long before giving up.
RETRY_DEADLINE_SECONDS = 30.0
# SQLite's automatic checkpoint is off (it ran inside whichever commit crossed its threshold,
# some claims among them): the leading dispatcher checkpoints when idle, and a CLI process on
# its way out does when the WAL has grown past this, so the WAL stays bounded without one too.
WAL_LIMIT_BYTES = 4 * 1024 * 1024


MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Migration files are named NNNN_description.sql; only names are read at import time.
MIGRATION_FILES = sorted(name for name in os.listdir(MIGRATIONS_DIR) if name.endswith(".sql") and name[:4].isdigit())
SCHEMA_VERSION = int(MIGRATION_FILES[-1][:4])


def _is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _check_header(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that exists but is not an SQLite database, before anything writes to it.

    SQLite reads the header itself: opening the file from Python and closing it again would
    drop every POSIX lock this process holds on it, so another process closing its last
    connection could delete the WAL under our other connections (lost writes).
    """
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise StorageError(f"{path}: not an SQLite database (refusing to touch it)") from None
        raise


def connect(path: str | os.PathLike, *, migrate: bool = True) -> sqlite3.Connection:
    """Open the board at `path` (created 0600 when missing), configured and migrated; a
    PostgreSQL URL opens that database instead."""
    if dsn.is_postgres(path):
        from kanban_tui.kernel import pg

        return pg.connect(str(path), migrate=migrate)  # type: ignore[return-value]
    path = Path(path)
    created = not path.exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False, cached_statements=256)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_header(conn, path)
        retrying(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        conn.execute("PRAGMA foreign_keys = ON")
        if migrate:
            migrate_db(conn)
        else:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        if _is_locked(exc):
            raise StorageError(f"{path}: the database stayed locked for too long") from None
        raise StorageError(f"{path}: unusable database ({exc})") from None
    return conn


def check_writable(conn: sqlite3.Connection, path: str | os.PathLike) -> None:
    """Refuse a board this process can read but not write (a read-only file, say) up front."""
    def probe(c: sqlite3.Connection) -> None:  # a write that changes nothing (BEGIN alone is not refused)
        c.execute("UPDATE schema_migrations SET version = version WHERE 1 = 0")

    try:
        write(conn, probe)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot write the database ({exc})") from None


def clock(c: sqlite3.Connection) -> float:
    """The database's clock in unix seconds: the server's on PostgreSQL (hosts with skewed clocks
    agree on leases), this machine's on SQLite."""
    if is_postgres(c):
        return c.execute("SELECT CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)").fetchone()[0]
    return time.time()


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy committed WAL frames into the database file (PASSIVE: never waits for, nor blocks, others).
    PostgreSQL has no WAL of ours to move."""
    if is_postgres(conn):
        return
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()


def close(conn: sqlite3.Connection, path: str | os.PathLike) -> None:
    """Close a short-lived process's connection, checkpointing first when the WAL has grown large."""
    try:
        if os.stat(f"{os.fspath(path)}-wal").st_size > WAL_LIMIT_BYTES:
            checkpoint(conn)
    except (OSError, sqlite3.Error):  # nothing to do, or it can wait for the next one
        pass
    conn.close()


def retrying(fn: Callable[[], T], *, deadline: float = RETRY_DEADLINE_SECONDS) -> T:
    """Call fn, retrying on SQLITE_BUSY/LOCKED with jittered exponential back-off."""
    give_up_at = time.monotonic() + deadline
    delay = 0.001
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or time.monotonic() >= give_up_at:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.1)


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def is_postgres(conn: object) -> bool:
    return not isinstance(conn, sqlite3.Connection)


def write(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run fn(conn) inside one BEGIN IMMEDIATE transaction; retry it whole when the DB is busy.

    fn must be pure with respect to the database (no side effects outside it), since a busy
    retry runs it again from the start.
    """
    if is_postgres(conn):
        return conn.write(fn)  # type: ignore[attr-defined]

    def attempt() -> T:
        with _immediate(conn):
            return fn(conn)

    return retrying(attempt)


def read(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run several reads in one snapshot (a deferred transaction)."""
    if is_postgres(conn):
        return conn.read(fn)  # type: ignore[attr-defined]

    def attempt() -> T:
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    return retrying(attempt)


def data_version(conn: sqlite3.Connection) -> object:
    """A value that changes when another connection commits (compare it, nothing more)."""
    if is_postgres(conn):
        return conn.data_version()  # type: ignore[attr-defined]
    return conn.execute("PRAGMA data_version").fetchone()[0]


def schema_version(conn: sqlite3.Connection) -> int | None:
    """The newest migration recorded on the board, None when none is."""
    if is_postgres(conn):
        from kanban_tui.kernel import pg

        return pg.current_version(conn) or None  # type: ignore[arg-type]
    return _current_version(conn) or None


def _current_version(conn: sqlite3.Connection) -> int:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'").fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return row[0] or 0


def migrate_db(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction; refuse a DB newer than the code."""
    if is_postgres(conn):
        from kanban_tui.kernel import pg

        return pg.migrate_db(conn)  # type: ignore[arg-type]
    version = retrying(lambda: _current_version(conn))
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"database schema version {version} is newer than this kanban-tui understands "
            f"({SCHEMA_VERSION}); upgrade kanban-tui")
    if version == SCHEMA_VERSION:
        return version

    def apply(number: int, name: str, sql: str) -> Callable[[sqlite3.Connection], None]:
        def run(c: sqlite3.Connection) -> None:
            if _current_version(c) >= number:  # another process got there first
                return
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                      "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL) STRICT")
            for statement in _split_sql(sql):
                c.execute(statement)
            c.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (number, name, time.time()))
        return run

    for name in MIGRATION_FILES:
        number = int(name[:4])
        if number > version:
            write(conn, apply(number, name, (MIGRATIONS_DIR / name).read_text(encoding="utf-8")))
    return SCHEMA_VERSION


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
