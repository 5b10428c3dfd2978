"""Deliver subscribed tasks' terminal events by running `notify.command` (README "Configuration").

Each (subscription, event) pair is claimed in `notify_deliveries` before the command runs, so
it is delivered at most once even across a leader hand-over; `ok` records how it went.
Commands run on a separate thread so a slow notifier never stalls the dispatcher's loop.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from kanban_tui.kernel import db
from kanban_tui.kernel.models import TERMINAL_EVENT_KINDS, event_dict

COMMAND_TIMEOUT_SECONDS = 10.0
_KINDS_SQL = ", ".join(f"'{kind}'" for kind in TERMINAL_EVENT_KINDS)

Conn = sqlite3.Connection


_PENDING_SQL = (
    "SELECT e.id, e.task_id, e.run_id, e.kind, e.payload, e.created_at, "
    "s.id AS sub_id, s.platform, s.chat_id, s.thread_id, s.user_id, "
    "t.title, t.status, t.assignee, t.tenant "
    "FROM notify_subs s JOIN task_events e ON e.task_id = s.task_id AND e.created_at >= s.created_at "
    "JOIN tasks t ON t.id = s.task_id "
    f"WHERE e.kind IN ({_KINDS_SQL}) AND NOT EXISTS ("
    "  SELECT 1 FROM notify_deliveries d WHERE d.sub_id = s.id AND d.event_id = e.id) "
    "ORDER BY e.id, s.id")


def _claim_pending(conn: Conn, now: float) -> list[dict]:
    """Terminal events newer than their subscription and not yet delivered, marked as taken.

    The read comes first so that the common case (nothing pending) takes no write lock.
    """
    if not db.read(conn, lambda c: c.execute(_PENDING_SQL).fetchall()):
        return []

    def tx(c: Conn) -> list[dict]:
        taken = []
        for row in c.execute(_PENDING_SQL).fetchall():
            c.execute("INSERT INTO notify_deliveries (sub_id, event_id, delivered_at, ok) VALUES (?, ?, ?, 0)",
                      (row["sub_id"], row["id"], now))
            taken.append(_message(row))
        return taken

    return db.write(conn, tx)


def _message(row: sqlite3.Row) -> dict:
    """What the notifier reads on stdin."""
    return {
        "event": event_dict(row),
        "subscription": {"id": row["sub_id"], "task_id": row["task_id"], "platform": row["platform"],
                         "chat_id": row["chat_id"], "thread_id": row["thread_id"] or None,
                         "user_id": row["user_id"]},
        "task": {"id": row["task_id"], "title": row["title"], "status": row["status"],
                 "assignee": row["assignee"], "tenant": row["tenant"]},
    }


def _send(command: list[str], message: dict) -> bool:
    try:
        done = subprocess.run(command, input=json.dumps(message, ensure_ascii=False).encode(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=COMMAND_TIMEOUT_SECONDS, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _send_all(db_path: Path, command: list[str], messages: list[dict]) -> None:
    results = [(int(_send(command, m)), m["subscription"]["id"], m["event"]["id"]) for m in messages]
    conn = db.connect(db_path, migrate=False)
    try:
        db.write(conn, lambda c: c.executemany(
            "UPDATE notify_deliveries SET ok = ? WHERE sub_id = ? AND event_id = ?", results))
    finally:
        conn.close()


def deliver(conn: Conn, db_path: Path, command: list[str] | None, *,
            now: float | None = None) -> threading.Thread | None:
    """Claim undelivered notifications and send them on a (non-daemon) thread, returned so a
    caller may join it. Nothing is claimed while no command is configured."""
    if not command:
        return None
    messages = _claim_pending(conn, time.time() if now is None else now)
    if not messages:
        return None
    sender = threading.Thread(target=_send_all, args=(db_path, command, messages),
                              name="kanban-notify", daemon=False)
    sender.start()
    return sender
