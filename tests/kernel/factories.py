"""Insert board rows in any state with plain SQL (honouring the schema's CHECKs).

Tests use these to build exactly the situation they need without going through the
transitions, so a read-side test never depends on the write side.
"""

from __future__ import annotations

import itertools
import json
import sqlite3

NOW = 1_800_000_000.0  # the same fixed clock as tests/conftest.py
_serial = itertools.count(1)


def next_id() -> str:
    return f"t_{next(_serial):08x}"


def make_task(conn: sqlite3.Connection, *, task_id: str | None = None, title: str = "a task",
              status: str = "ready", parents: tuple[str, ...] = (), created_at: float = NOW,
              updated_at: float | None = None, created_event: bool = True, **fields) -> str:
    """A task in any status; a running one gets its open run, claim and current_run_id."""
    task_id = task_id or next_id()
    row = {"id": task_id, "title": title, "status": status, "created_at": created_at,
           "updated_at": created_at if updated_at is None else updated_at, **fields}
    if "skills" in row:
        row["skills"] = json.dumps(row["skills"])
    if status == "running":
        row.setdefault("claim_lock", f"lock-{task_id}")
        row.setdefault("claim_expires", created_at + 900)
        row.setdefault("started_at", created_at)
        row["current_run_id"] = -1  # replaced once the run row exists
    if status == "done":
        row.setdefault("completed_at", created_at)
    _insert(conn, "tasks", row)
    if status == "running":
        run_id = make_run(conn, task_id, outcome=None, profile=row.get("assignee"),
                          claim_lock=row["claim_lock"], claim_expires=row["claim_expires"],
                          started_at=row["started_at"])
        conn.execute("UPDATE tasks SET current_run_id = ? WHERE id = ?", (run_id, task_id))
    for parent_id in parents:
        link(conn, parent_id, task_id, created_at=created_at)
    if created_event:
        add_event(conn, task_id, "created", {"status": status, "assignee": row.get("assignee"),
                                             "parents": list(parents)}, created_at=created_at)
    return task_id


def make_run(conn: sqlite3.Connection, task_id: str, *, outcome: str | None = "completed",
             profile: str | None = None, started_at: float = NOW, ended_at: float | None = None,
             metadata: dict | None = None, **fields) -> int:
    """A run row; outcome=None makes it open (status running)."""
    row = {"task_id": task_id, "profile": profile, "started_at": started_at,
           "status": "running" if outcome is None else "ended", "outcome": outcome,
           "ended_at": None if outcome is None else (started_at + 60 if ended_at is None else ended_at),
           "metadata": None if metadata is None else json.dumps(metadata), **fields}
    return _insert(conn, "task_runs", row)


def add_event(conn: sqlite3.Connection, task_id: str | None, kind: str, payload: dict | None = None,
              *, created_at: float = NOW, run_id: int | None = None) -> int:
    return _insert(conn, "task_events", {"task_id": task_id, "run_id": run_id, "kind": kind,
                                         "payload": None if payload is None else json.dumps(payload),
                                         "created_at": created_at})


def add_comment(conn: sqlite3.Connection, task_id: str, body: str, *, author: str = "operator",
                created_at: float = NOW) -> int:
    return _insert(conn, "task_comments", {"task_id": task_id, "author": author, "body": body,
                                           "created_at": created_at})


def link(conn: sqlite3.Connection, parent_id: str, child_id: str, *, created_at: float = NOW) -> None:
    _insert(conn, "task_links", {"parent_id": parent_id, "child_id": child_id, "created_at": created_at})


def add_subscription(conn: sqlite3.Connection, task_id: str, platform: str, chat_id: str, *,
                     thread_id: str = "", user_id: str | None = None, created_at: float = NOW) -> int:
    return _insert(conn, "notify_subs", {"task_id": task_id, "platform": platform, "chat_id": chat_id,
                                         "thread_id": thread_id, "user_id": user_id,
                                         "created_at": created_at})


def _insert(conn: sqlite3.Connection, table: str, row: dict) -> int:
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    return conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())).lastrowid
