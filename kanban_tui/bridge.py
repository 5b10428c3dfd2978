"""The board's live feed: a thread that notices commits and posts `BoardChanged`.

It owns one read connection and asks `db.data_version` every ~100 ms (on SQLite a few
microseconds, no table read; on PostgreSQL one indexed probe). Only when another connection committed does it read the new
events after its cursor, and posts them, in batches, to the target (the app).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from kanban_tui.errors import StorageError
from kanban_tui.kernel import db, queries
from kanban_tui.messages import BoardChanged

POLL_SECONDS = 0.1
BATCH = 500


class MessageTarget(Protocol):
    def post_message(self, message: BoardChanged) -> bool: ...


class Bridge:
    def __init__(self, db_path: Path, target: MessageTarget, *, poll_seconds: float = POLL_SECONDS):
        self.db_path = db_path
        self.target = target
        self.poll_seconds = poll_seconds
        self.cursor = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kanban-bridge", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        conn = db.connect(self.db_path, migrate=False)
        try:
            self.cursor = queries.max_event_id(conn)
            version = None
            while not self._stop.wait(self.poll_seconds):
                try:
                    current = db.data_version(conn)
                    if current != version:
                        version = current
                        self._drain(conn)
                except (sqlite3.Error, StorageError):
                    version = None  # a transient failure: read again on the next poll
        finally:
            conn.close()

    def _drain(self, conn: sqlite3.Connection) -> None:
        while not self._stop.is_set():
            events = queries.events_since(conn, self.cursor, limit=BATCH)
            if not events:
                return
            self.cursor = events[-1]["id"]
            task_ids = frozenset(event["task_id"] for event in events if event["task_id"])
            self.target.post_message(BoardChanged(events, self.cursor, task_ids))
            if len(events) < BATCH:
                return
