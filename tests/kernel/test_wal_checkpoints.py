"""The WAL off the write path: no automatic checkpoint; a closing CLI process bounds it."""

from __future__ import annotations

import os
import sqlite3

import pytest

from kanban_tui.kernel import db
from kanban_tui.kernel import transitions as T

pytestmark = pytest.mark.sqlite_only  # the WAL is SQLite's


def _rows_in_database_file(path) -> int:
    """Tasks in the main database file alone (the WAL ignored)."""
    raw = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        if not raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'tasks'").fetchone():
            return 0  # even the schema is still in the WAL
        return raw.execute("SELECT count(*) FROM tasks").fetchone()[0]
    finally:
        raw.close()


def test_commits_never_checkpoint_and_a_closing_process_does_past_the_limit(db_path):
    keeper = db.connect(db_path)  # another process's connection: nobody is the last to close
    writer = db.connect(db_path)
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    body = "x" * 4000
    T.create(writer, "first", body=body)
    db.close(writer, db_path)  # a small WAL is left for the leader's idle checkpoint
    assert _rows_in_database_file(db_path) == 0

    writer = db.connect(db_path)
    while os.path.getsize(f"{db_path}-wal") <= db.WAL_LIMIT_BYTES:
        T.create(writer, "bulk", body=body)
    count = writer.execute("SELECT count(*) FROM tasks").fetchone()[0]
    assert _rows_in_database_file(db_path) == 0  # thousands of commits, not one checkpoint among them
    db.close(writer, db_path)
    assert _rows_in_database_file(db_path) == count
    keeper.close()
