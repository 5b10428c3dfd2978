"""The PostgreSQL store: a connection that reads like the sqlite3 one, its write lock, migrations.

The kernel's SQL is written once, in the subset both stores share, with sqlite3's `?` (and
`:name`) placeholders; `Connection` turns them into PostgreSQL's `$1` and hands rows that
answer by index and by name, a `rowcount` and a `lastrowid`, so transitions read the same on
both stores. Only `kernel/db.py` imports this module, and only for a `postgresql://` board,
so the SQLite CLI never pays for psycopg.

Write transactions. SQLite serialises writers (BEGIN IMMEDIATE) and every verb relies on
it: read the task, check, guarded UPDATE, run row, event. Here each write transaction takes
one transaction-scoped advisory lock, the board's write lock, as its first statement, under
READ COMMITTED. So:
- a verb's reads and writes see the board exactly as the SQLite verb does (nothing commits
  between its check and its write): cycle checks across many links, caps counted inside the
  claim, idempotency keys and child promotion need no per-verb proof of safety;
- event ids are handed out in commit order, so a reader following the event cursor
  (`id > cursor`) can never skip an event that commits late with a smaller id; with
  concurrent writers a sequence gives no such promise;
- kernel writers never deadlock each other (one lock, always taken first), and READ COMMITTED
  raises no serialization failures. Deadlocks and serialization failures against anything
  else (an operator's session) are retried whole, like SQLITE_BUSY in db.write.
Readers never wait: `read` is one REPEATABLE READ snapshot, like SQLite's deferred BEGIN.
Round trips, not the lock, are what a write costs on a server: a transaction's opening (BEGIN,
the lock) travels with its first statement in one pipeline, and the claim, the hot write, is
one statement (kernel/pg_claim.py).
See https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS and
https://www.postgresql.org/docs/15/mvcc-serialization-failure-handling.html
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import psycopg
from psycopg import errors, pq
from psycopg.rows import tuple_row

from kanban_tui.errors import StorageError
from kanban_tui.kernel import dsn

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "postgres"
MIGRATION_FILES = sorted(p.name for p in MIGRATIONS_DIR.iterdir() if p.suffix == ".sql" and p.name[:4].isdigit())
SCHEMA_VERSION = int(MIGRATION_FILES[-1][:4])
# pg_advisory_xact_lock key of the board's write lock (any constant; "kanb" in ASCII)
BOARD_LOCK = 0x6B616E62
RETRY_DEADLINE_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10
# Losing a conflict says nothing about the transaction itself: run it again.
RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)
# Tables whose id a sequence assigns: an INSERT into one reports it as `lastrowid`, and one
# that gives ids itself (an import) moves the sequence past them, as SQLite's rowid follows
# the largest id.
SERIAL_TABLES = frozenset({"task_runs", "task_comments", "task_events", "notify_subs"})
_INSERT_INTO = re.compile(r"\s*INSERT\s+INTO\s+(\w+)\s*(\([^)]*\))?", re.IGNORECASE)
_ID_COLUMN = re.compile(r"[(,]\s*id\s*[,)]", re.IGNORECASE)


# ---------------------------------------------------------------- placeholders

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|::|\?|:[A-Za-z_]\w*")
_translated: dict[str, tuple[str, tuple[str, ...] | None]] = {}


def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """sqlite3 placeholders -> PostgreSQL's: `?` -> $1, $2, ...; `:name` -> one $k per name.

    Returns the query and, for named placeholders, the names in $k order. Quoted text,
    identifiers, comments and `::` casts are left alone.
    """
    cached = _translated.get(sql)
    if cached is not None:
        return cached
    names: list[str] = []
    count = 0

    def replace(match: re.Match) -> str:
        nonlocal count
        token = match.group(0)
        if token == "?":
            count += 1
            return f"${count}"
        if token[0] == ":" and token != "::":
            name = token[1:]
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"
        return token

    query = _TOKENS.sub(replace, sql)
    if count and names:
        raise ValueError("a statement mixes ? and :name placeholders")
    result = (query, tuple(names) if names else None)
    if len(_translated) < 4096:
        _translated[sql] = result
    return result


def _bind(params: Any, names: tuple[str, ...] | None) -> Sequence | None:
    if names is not None:
        return [params[name] for name in names]
    return tuple(params) if params else None


# ---------------------------------------------------------------- rows

class Row(tuple):
    """A result row addressable by index and by column name, like sqlite3.Row."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


_row_classes: dict[tuple[str, ...], type[Row]] = {}


def _named_row(cursor: psycopg.Cursor) -> Callable[[Sequence], Row]:
    names = tuple(column.name for column in cursor.description or ())
    cls = _row_classes.get(names)
    if cls is None:
        cls = type("Row", (Row,), {"_index": {name: i for i, name in enumerate(names)}, "__slots__": ()})
        _row_classes[names] = cls
    return cls


# ---------------------------------------------------------------- errors

class DatabaseError(StorageError):
    """A statement the server refused (a CHECK, a constraint, a lost connection)."""


class _SessionLost(Exception):
    """A transaction's first statement found the session dead (the server restarted, or ended it
    while idle): nothing of the transaction ran, so it is run again in a new session, once."""


def _wrap(exc: psycopg.Error, url: str) -> DatabaseError:
    lines = str(exc).strip().splitlines()
    return DatabaseError(f"database error: {scrub(lines[0] if lines else type(exc).__name__, url)}")


def scrub(text: str, url: str) -> str:
    """A driver message with the URL's password (in any form) removed."""
    password = dsn.password_of(url)
    text = dsn.redact(text)
    return text.replace(password, dsn.HIDDEN) if password else text


# ---------------------------------------------------------------- the connection

def _serial_insert(query: str) -> tuple[str | None, bool]:
    """(the table, if the statement inserts into a serial one; whether it gives the ids itself)."""
    match = _INSERT_INTO.match(query)
    if match is None or match.group(1).lower() not in SERIAL_TABLES:
        return None, False
    return match.group(1).lower(), bool(match.group(2) and _ID_COLUMN.search(match.group(2)))


class Cursor:
    """The part of sqlite3.Cursor the kernel uses; `row_factory = None` yields plain tuples."""

    def __init__(self, conn: "Connection"):
        self._conn = conn
        self._cursor = conn.session().cursor()
        self.row_factory: object = _named_row
        self.lastrowid: int | None = None

    def execute(self, sql: str, params: Any = ()) -> "Cursor":
        query, names = translate(sql)
        table, gives_ids = _serial_insert(query)
        returning = table is not None and not gives_ids and "returning" not in query.lower()
        if returning:
            query += " RETURNING id"
        self._cursor.row_factory = tuple_row if self.row_factory is None else _named_row
        self._conn.run(self._cursor.execute, query, _bind(params, names))
        if returning:
            row = self._cursor.fetchone()
            self.lastrowid = row[0] if row else None
        if gives_ids:
            self._follow_ids(table)
        return self

    def executemany(self, sql: str, seq: Iterable[Any]) -> "Cursor":
        query, names = translate(sql)
        rows = [_bind(params, names) for params in seq]
        if rows:
            self._conn.run(self._cursor.executemany, query, rows)
            table, gives_ids = _serial_insert(query)
            if gives_ids:
                self._follow_ids(table)
        return self

    def _follow_ids(self, table: str) -> None:
        self._conn.run(self._cursor.execute, f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"greatest((SELECT max(id) FROM {table}), 1))", None)

    def fetchone(self):
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Iterator:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self):
        return [(column.name,) for column in self._cursor.description or ()]


class Connection:
    """One PostgreSQL session with sqlite3.Connection's surface (execute, cursor, close...)."""

    def __init__(self, url: str):
        self.url = url
        self.raw = _open(url)
        self._in_block = False  # inside write() or read()
        # a transaction's opening statements, sent with its first statement (one round trip)
        self._opening: tuple[str, ...] = ()

    def session(self) -> psycopg.Connection:
        """The server session, opened again when the server dropped it (psycopg then closes
        it) between transactions; inside one the loss is an error, never a silent autocommit."""
        if self.raw.closed:
            if self._in_block:
                raise DatabaseError("database error: the connection to the server was lost")
            self.raw = _open(self.url)
        return self.raw

    # -- the sqlite3 surface ------------------------------------------------------------

    def execute(self, sql: str, params: Any = ()) -> Cursor:
        return Cursor(self).execute(sql, params)

    def executemany(self, sql: str, seq: Iterable[Any]) -> Cursor:
        return Cursor(self).executemany(sql, seq)

    def cursor(self) -> Cursor:
        return Cursor(self)

    @property
    def in_transaction(self) -> bool:
        return bool(self._opening) or (
            not self.raw.closed and self.raw.info.transaction_status != pq.TransactionStatus.IDLE)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        """As sqlite3's: end an open transaction, committing unless the block raised."""
        if self.in_transaction:
            self.script("ROLLBACK" if kind else "COMMIT")

    # -- running statements -------------------------------------------------------------

    def run(self, method: Callable, query: str, args: Any) -> None:
        """Execute; a lost conflict propagates as itself (write retries it), any other
        server error as a one-line DatabaseError without the password."""
        first = bool(self._opening)
        try:
            if self._opening:
                opening, self._opening = self._opening, ()
                # pipeline mode: the opening and the first statement travel together
                # (https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html)
                with self.raw.pipeline():
                    for statement in opening:
                        self.raw.execute(statement)
                    method(query, args)
            else:
                method(query, args)
        except RETRYABLE:
            raise
        except psycopg.OperationalError as exc:
            if first and self.raw.closed:  # the session had died while idle: nothing of this ran
                raise _SessionLost() from None
            raise _wrap(exc, self.url) from None
        except psycopg.Error as exc:
            raise _wrap(exc, self.url) from None

    def script(self, sql: str) -> None:
        """Run a multi-statement script as it is (no placeholders: migrations)."""
        if self._opening:  # a script cannot share a pipeline: open the transaction on its own
            opening, self._opening = self._opening, ()
            for statement in opening:
                self.run(self.raw.execute, statement, None)
        self.run(self.session().execute, sql, None)

    # -- transactions -------------------------------------------------------------------

    def write(self, fn: Callable[["Connection"], T]) -> T:
        """fn(self) in one transaction holding the board's write lock; retried whole when it
        loses a conflict (fn must have no side effects outside the database)."""
        give_up_at = time.monotonic() + RETRY_DEADLINE_SECONDS
        delay = 0.001
        reconnected = False
        while True:
            self._begin(("BEGIN ISOLATION LEVEL READ COMMITTED", f"SELECT pg_advisory_xact_lock({BOARD_LOCK})"))
            try:
                result = fn(self)
                if not self._opening:  # fn ran a statement, so the transaction began
                    self.script("COMMIT")
                return result
            except _SessionLost:
                if reconnected:
                    raise DatabaseError("database error: the connection to the server was lost") from None
                reconnected = True
                continue  # in a new session (the loop's _begin opens it)
            except RETRYABLE as exc:
                self._rollback()
                if time.monotonic() >= give_up_at:
                    raise _wrap(exc, self.url) from None
            except BaseException:
                self._rollback()
                raise
            finally:
                self._in_block, self._opening = False, ()
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.1)

    def read(self, fn: Callable[["Connection"], T]) -> T:
        """Several reads against one snapshot (in a new session when the old one had died)."""
        try:
            return self._read_once(fn)
        except _SessionLost:
            pass
        try:
            return self._read_once(fn)
        except _SessionLost:
            raise DatabaseError("database error: the connection to the server was lost") from None

    def _read_once(self, fn: Callable[["Connection"], T]) -> T:
        self._begin(("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",))
        try:
            return fn(self)
        finally:
            self._in_block, self._opening = False, ()
            self._rollback()

    def _begin(self, opening: tuple[str, ...]) -> None:
        self.session()
        self._opening = opening
        self._in_block = True

    def _rollback(self) -> None:
        if not self.raw.closed and self.raw.info.transaction_status != pq.TransactionStatus.IDLE:
            try:
                self.raw.execute("ROLLBACK")
            except psycopg.OperationalError:
                pass  # the session is gone, and its transaction with it

    # -- change detection ---------------------------------------------------------------

    def data_version(self) -> tuple:
        """Changes whenever a commit wrote an event or a nudge: the stand-in for SQLite's
        PRAGMA data_version (which also changes only for other connections' commits; here
        the caller's own commits count too, which costs a spare look at the board)."""
        return self.read(lambda c: tuple(c.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM task_events), "
            "(SELECT value FROM settings WHERE key = 'nudge')").fetchone()))


def _open(url: str) -> psycopg.Connection:
    try:
        # autocommit: transactions are explicit (write/read), as on the SQLite side
        return psycopg.connect(url, autocommit=True, cursor_factory=psycopg.RawCursor,
                               connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as exc:
        raise StorageError(f"{dsn.redact(url)}: cannot open the board ({scrub(str(exc).strip(), url)})") from None


# ---------------------------------------------------------------- open and migrate

def connect(url: str, *, migrate: bool = True) -> Connection:
    conn = Connection(url)
    try:
        if migrate:
            migrate_db(conn)
        else:
            conn.execute("SELECT 1").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def current_version(conn: Connection) -> int:
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return 0
    return conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0


def migrate_db(conn: Connection) -> int:
    """Apply pending migrations, each in its own transaction; refuse a newer schema."""
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"database schema version {version} is newer than this kanban-tui understands "
            f"({SCHEMA_VERSION}); upgrade kanban-tui")
    for name in MIGRATION_FILES:
        number = int(name[:4])
        if number <= version:
            continue

        def apply(c: Connection, number: int = number, name: str = name) -> None:
            if current_version(c) >= number:  # another process got there first
                return
            c.script("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
            c.script((MIGRATIONS_DIR / name).read_text(encoding="utf-8"))
            c.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (number, name, time.time()))

        conn.write(apply)
    return SCHEMA_VERSION
