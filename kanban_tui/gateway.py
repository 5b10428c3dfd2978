"""The TUI's handle on the kernel: paths, config and one SQLite connection per thread.

Screens call kernel functions from `@work(thread=True)` workers with `gateway.conn()`;
each thread gets its own connection so no two threads share a cursor.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING

from kanban_tui.kernel import db
from kanban_tui.paths import Paths

if TYPE_CHECKING:
    from kanban_tui.config import Config


class Gateway:
    def __init__(self, paths: Paths, config: "Config"):
        self.paths = paths
        self.config = config
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = db.connect(self.paths.db, migrate=False)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
