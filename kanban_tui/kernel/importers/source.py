"""Find the board SOURCE names, copy it aside and open the copy read-only.

The source is never opened in place: a Hermes board may be live, and even a `mode=ro` open of
a WAL database writes its `-shm` (and any open may create `-wal`/`-shm`). So the database is
copied with its `-wal` and `-shm`, as they are and together, into a private temp folder, and
only that copy is opened; rows committed to the WAL but not yet checkpointed come along.

Hermes layout (NousResearch/hermes-agent, hermes_cli/kanban_db.py: `kanban_db_path`,
`board_dir`, `_BOARD_SLUG_RE`): the default board is `<root>/kanban.db`, a named board is
`<root>/kanban/boards/<slug>/kanban.db` (beside its `board.json`).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from kanban_tui.errors import NotFound, Refused, StorageError, UsageError

SIDE_FILES = ("", "-wal", "-shm")
DEFAULT_BOARD = "default"
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9\-_]{0,63}$")
COPY_ATTEMPTS = 10
SALVAGE_MAX_ROWIDS = 5_000_000


def locate(source: str, board: str | None) -> Path:
    """SOURCE (+ --board) -> the kanban.db file to read; one-line errors for what is not a board."""
    if not source.strip():
        raise UsageError("import: SOURCE must not be empty")
    if source.startswith(("postgresql://", "postgres://")):
        raise Refused("importing from PostgreSQL is not supported yet (the source must be an SQLite board file or its home)")
    path = Path(source).expanduser().absolute()
    if not path.exists():
        raise NotFound(f"{path}: no such file or folder")
    if path.is_dir():
        return _board_in_root(path, board)
    if board is not None:
        raise UsageError("import: --board picks a board inside a Hermes root folder, but SOURCE is a file")
    return path


def _board_in_root(root: Path, board: str | None) -> Path:
    named = _named_boards(root)
    if board is None or _slug(board) == DEFAULT_BOARD:
        if (root / "kanban.db").is_file():
            return root / "kanban.db"
        if named and board is None:
            raise Refused(f"{root} has no default board; pick one with --board: {', '.join(named)}")
        raise NotFound(f"{root}: no kanban.db here, so it is neither a kanban-tui home nor a Hermes root")
    slug = _slug(board)
    if slug not in named:
        boards = ([DEFAULT_BOARD] if (root / "kanban.db").is_file() else []) + named
        raise NotFound(f"no board {slug!r} in {root} (boards: {', '.join(boards) or 'none'})")
    return root / "kanban" / "boards" / slug / "kanban.db"


def _slug(board: str) -> str:
    slug = board.strip().lower()
    if not _SLUG_RE.match(slug):
        raise UsageError(f"import: bad --board {board!r}: a board slug is lowercase letters, digits, - and _")
    return slug


def _named_boards(root: Path) -> list[str]:
    boards = root / "kanban" / "boards"
    if not boards.is_dir():
        return []
    return sorted(entry.name for entry in boards.iterdir()
                  if _SLUG_RE.match(entry.name) and (entry / "kanban.db").is_file())


def _stats(path: Path) -> tuple:
    out = []
    for suffix in SIDE_FILES:
        try:
            st = os.stat(f"{path}{suffix}")
        except FileNotFoundError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def copy_aside(path: Path, folder: Path) -> Path:
    """Copy the database and its -wal/-shm into folder; retried until no file moved meanwhile."""
    copy = folder / "kanban.db"
    for _ in range(COPY_ATTEMPTS):
        before = _stats(path)
        for suffix in SIDE_FILES:
            target = Path(f"{copy}{suffix}")
            target.unlink(missing_ok=True)
            try:
                shutil.copyfile(f"{path}{suffix}", target)
            except FileNotFoundError:
                if not suffix:
                    raise NotFound(f"{path}: no such file") from None
        if _stats(path) == before:
            return copy
        time.sleep(0.05)
    raise Refused(f"{path}: the board kept changing while it was being copied; try again")


def open_copy(copy: Path, shown: Path) -> sqlite3.Connection:
    """Open the copy read-only; text that is not valid UTF-8 is decoded with replacement."""
    conn = sqlite3.connect(f"file:{quote(str(copy))}?mode=ro", uri=True, isolation_level=None)
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise StorageError(f"{shown}: not an SQLite database") from None
        raise StorageError(f"{shown}: unreadable database ({exc})") from None
    return conn


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """The first line of a failed `PRAGMA integrity_check`, or None when the file is sound."""
    try:
        first = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if first == "ok" else first


def tables(conn: sqlite3.Connection, shown: Path) -> set[str]:
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise Refused(f"{shown}: cannot read even the list of tables ({exc}); nothing to import") from None


class Snapshot:
    """A private read-only copy of a board: `with Snapshot(path) as snap: snap.conn ...`."""

    def __init__(self, path: Path):
        self.path = path
        self._folder = tempfile.TemporaryDirectory(prefix="kanban-import-")
        try:
            self.conn = open_copy(copy_aside(path, Path(self._folder.name)), path)
        except BaseException:
            self._folder.cleanup()
            raise

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()
        self._folder.cleanup()


def read_rows(conn: sqlite3.Connection, table: str, skipped: list[dict] | None, *,
              rowid: bool = True) -> list[dict]:
    """Every row of table as {column: value} (rowid tables also give `_rowid`), in storage order.

    With `skipped` (salvage), rows that raise are left out one by one and listed there;
    without it, an unreadable row is a one-line refusal. A WITHOUT ROWID table (rowid=False)
    cannot be walked row by row: salvage keeps the rows read before the first damaged one.
    """
    sql = f"SELECT rowid AS _rowid, * FROM {table} ORDER BY rowid" if rowid else f"SELECT * FROM {table}"
    rows: list[dict] = []
    try:
        rows.extend(_dict_rows(conn, sql))
        return rows
    except sqlite3.DatabaseError as exc:
        if skipped is None:
            raise Refused(f"cannot read the {table} table ({exc})") from None
        if not rowid:
            skipped.append({"table": table, "id": None, "reason": f"rows after the first {len(rows)} unreadable"})
            return rows
    return _salvage(conn, table, skipped)


def _dict_rows(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> Iterator[dict]:
    cursor = conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    for row in cursor:
        yield dict(zip(names, row))


def _salvage(conn: sqlite3.Connection, table: str, skipped: list[dict]) -> list[dict]:
    """Row by row over the rowid range: the b-tree's edges usually survive a damaged middle."""
    try:
        low, high = conn.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchone()
    except sqlite3.DatabaseError as exc:
        skipped.append({"table": table, "id": None, "reason": f"unreadable: {exc}"})
        return []
    if low is None:
        return []
    if high - low > SALVAGE_MAX_ROWIDS:  # a damaged page can report an absurd maximum
        skipped.append({"table": table, "id": None, "reason": f"rowids above {low + SALVAGE_MAX_ROWIDS} not tried"})
        high = low + SALVAGE_MAX_ROWIDS
    rows = []
    for number in range(low, high + 1):
        try:
            rows.extend(_dict_rows(conn, f"SELECT rowid AS _rowid, * FROM {table} WHERE rowid = ?", (number,)))
        except sqlite3.DatabaseError:
            skipped.append({"table": table, "id": number, "reason": "unreadable row"})
    return rows
