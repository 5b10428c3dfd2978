"""Wake-ups from other hosts on PostgreSQL: LISTEN on the channel every event-writing commit
notifies (migrations/postgres/0003_hosts.sql).

A listener is one autocommit session of its own, so it can sit in `select` next to a
dispatcher's pipes and pidfds or a board's stop flag. It only says "something committed";
the reader then looks at `db.data_version` and reads events after its cursor, so a
notification lost with a dropped session loses nothing: on reconnecting the listener reports
a wake-up and the reader re-syncs. Readers keep polling about once a second as the fallback.
See https://www.postgresql.org/docs/15/sql-listen.html and
https://www.psycopg.org/psycopg3/docs/advanced/async.html#asynchronous-notifications
"""

from __future__ import annotations

import time

import psycopg

CHANNEL = "kanban_board"
RECONNECT_SECONDS = 0.25  # between attempts to open the session again


class Listener:
    def __init__(self, url: str):
        self.url = url
        self._session: psycopg.Connection | None = None
        self._retry_at = 0.0
        self._connect()

    def _connect(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._session = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            self._session.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None
        self._retry_at = time.monotonic() + RECONNECT_SECONDS

    def fileno(self) -> int | None:
        """The session's socket to wait on, or None while disconnected."""
        return None if self._session is None else self._session.pgconn.socket

    def woken(self) -> bool:
        """Consume what arrived (never blocks): True when a notification came, or when the session
        was lost or just came back (anything may have been missed: look again)."""
        if self._session is None:
            return self._connect()
        pgconn = self._session.pgconn
        try:
            pgconn.consume_input()
        except psycopg.Error:
            self._drop()
            return True
        got = False
        while pgconn.notifies() is not None:
            got = True
        return got

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
