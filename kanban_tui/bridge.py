"""The board's live feed: a thread that notices commits and posts `BoardChanged`.

It owns one read connection. On SQLite it asks `db.data_version` every ~100 ms (a few
microseconds, no table read). On PostgreSQL it LISTENs (kernel/listen.py): it looks when a
commit notified it, and once a second anyway, so a dropped session loses nothing (the next
look reads from the event cursor). Only when another connection committed does it read the
new events after its cursor, and posts them, in batches, to the target (the app).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from kanban_tui.errors import StorageError
from kanban_tui.kernel import db, queries
from kanban_tui.messages import BoardChanged

POLL_SECONDS = 0.1
LISTEN_POLL_SECONDS = 0.02  # on PostgreSQL: how often pending notifications are looked at (no query)
FALLBACK_SECONDS = 1.0      # on PostgreSQL: how often data_version is read without a notification
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
        listener = None
        if db.is_postgres(conn):
            from kanban_tui.kernel.listen import Listener  # psycopg: only for a PostgreSQL board

            listener = Listener(conn.url)
        try:
            self.cursor = queries.max_event_id(conn)
            version = None
            looked_at = 0.0
            poll = self.poll_seconds if listener is None else min(self.poll_seconds, LISTEN_POLL_SECONDS)
            while not self._stop.wait(poll):
                if listener is not None:
                    now = time.monotonic()
                    if not listener.woken() and now - looked_at < FALLBACK_SECONDS:
                        continue
                    looked_at = now
                try:
                    current = db.data_version(conn)
                    if current != version:
                        version = current
                        self._drain(conn)
                except (sqlite3.Error, StorageError):
                    version = None  # a transient failure (a dropped session): read again on the next poll
                    looked_at = 0.0
        finally:
            if listener is not None:
                listener.close()
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
