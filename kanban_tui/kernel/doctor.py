"""Invariant checks for `kanban-tui doctor`: each violation is one line naming the task.

The schema's CHECKs and indexes already refuse most bad states; these checks cover what
spans rows or tables (a task and its runs, its events, its parents), plus SQLite's own
integrity and foreign-key checks for files damaged or edited outside the kernel.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Callable

from kanban_tui.kernel import db, dsn, queries

Conn = sqlite3.Connection


def check(conn: Conn) -> list[str]:
    """Every violated invariant, one human line each; [] when the board is sound."""
    checks: list[Callable[[Conn], list[str]]] = [
        _integrity, _foreign_keys, _schema_version, _running_tasks, _stray_open_runs,
        _closed_runs_without_outcome, _missing_created_events, _cycles, _ready_with_open_parents,
        _done_without_completed_at, _stale_column_counts, _stop_marks_on_open_runs,
    ]
    return queries.in_snapshot(conn, lambda c: [line for fn in checks for line in fn(c)])


def wal_problems(db_path: str | os.PathLike) -> list[str]:
    """A board whose `-wal` file was deleted while processes still write to it: their writes go to
    a file nobody else can see and are lost with them, unless one checkpoints first. Run this
    before opening the board (opening creates a fresh, empty WAL). Linux (/proc) only."""
    if dsn.is_postgres(db_path):
        return []
    db_file = Path(db_path).resolve()
    wal = f"{db_file}-wal"
    if os.path.exists(wal) or not os.path.isdir("/proc"):
        return []
    holders = sorted(pid for pid, target in _open_files() if target == f"{wal} (deleted)")
    if not holders:
        return []
    return [f"{db_file.name}-wal is missing while process(es) {', '.join(map(str, holders))} still write to "
            "the deleted file: writes not yet checkpointed are lost when they exit"]


def _open_files():
    """(pid, link target) of every file descriptor this user may read under /proc."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                yield int(pid), os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue

# SQLite's own file checks. PostgreSQL has no counterpart to run: it enforces every foreign key
# at all times, and page-level checks (amcheck) are an operator's tool, not the board's.

def _integrity(conn: Conn) -> list[str]:
    if db.is_postgres(conn):
        return []
    return [f"integrity_check: {row[0]}" for row in conn.execute("PRAGMA integrity_check")
            if row[0] != "ok"]


def _foreign_keys(conn: Conn) -> list[str]:
    if db.is_postgres(conn):
        return []
    return [f"{table} row {rowid if rowid is not None else '(no rowid)'} points at a missing {parent} row"
            for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check")]


def _schema_version(conn: Conn) -> list[str]:
    version = db.schema_version(conn)
    if version == db.SCHEMA_VERSION:
        return []
    return [f"schema version recorded as {version}, expected {db.SCHEMA_VERSION}"]


def _running_tasks(conn: Conn) -> list[str]:
    """running ⇔ exactly one open run, current_run_id is it, and the claim locks agree."""
    rows = conn.execute(
        "SELECT t.id, t.current_run_id, t.claim_lock, r.task_id AS run_task, r.status AS run_status, "
        "r.claim_lock AS run_lock, "
        "(SELECT count(*) FROM task_runs o WHERE o.task_id = t.id AND o.status = 'running') AS open_runs "
        "FROM tasks t LEFT JOIN task_runs r ON r.id = t.current_run_id WHERE t.status = 'running'")
    problems = []
    for row in rows:
        task = row["id"]
        if row["open_runs"] != 1:
            problems.append(f"{task}: running but has {row['open_runs']} open runs (expected 1)")
        if row["run_task"] != task:
            problems.append(f"{task}: current_run_id {row['current_run_id']} is not a run of this task")
        elif row["run_status"] != "running":
            problems.append(f"{task}: current run {row['current_run_id']} is already closed")
        elif row["run_lock"] != row["claim_lock"]:
            problems.append(f"{task}: claim_lock differs from its open run {row['current_run_id']}'s claim_lock")
    return problems


def _stray_open_runs(conn: Conn) -> list[str]:
    rows = conn.execute("SELECT r.task_id, r.id, t.status FROM task_runs r JOIN tasks t ON t.id = r.task_id "
                        "WHERE r.status = 'running' AND t.status <> 'running' ORDER BY r.id")
    return [f"{task}: {status} but run {run_id} is still open" for task, run_id, status in rows]


def _closed_runs_without_outcome(conn: Conn) -> list[str]:
    rows = conn.execute("SELECT task_id, id FROM task_runs WHERE status = 'ended' AND outcome IS NULL "
                        "ORDER BY id")
    return [f"{task}: run {run_id} is closed without an outcome" for task, run_id in rows]


def _missing_created_events(conn: Conn) -> list[str]:
    rows = conn.execute("SELECT id FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM task_events e "
                        "WHERE e.task_id = t.id AND e.kind = 'created') ORDER BY id")
    return [f"{task}: has no created event" for (task,) in rows]


def _cycles(conn: Conn) -> list[str]:
    """Tasks that are their own ancestor (UNION, not UNION ALL, so the walk ends on a cycle)."""
    rows = conn.execute(
        "WITH RECURSIVE reach(origin, node) AS ("
        "  SELECT parent_id, child_id FROM task_links"
        "  UNION SELECT r.origin, l.child_id FROM reach r JOIN task_links l ON l.parent_id = r.node)"
        "SELECT origin FROM reach WHERE origin = node ORDER BY origin")
    return [f"{task}: is part of a dependency cycle" for (task,) in rows]


def _ready_with_open_parents(conn: Conn) -> list[str]:
    rows = conn.execute(
        "SELECT c.id, p.id FROM tasks c "
        "JOIN task_links l ON l.child_id = c.id JOIN tasks p ON p.id = l.parent_id "
        "WHERE c.status = 'ready' AND p.status NOT IN ('done', 'archived') ORDER BY c.id, l.created_at, p.id")
    open_parents: dict[str, list[str]] = {}
    for task, parent in rows:
        open_parents.setdefault(task, []).append(parent)
    return [f"{task}: ready while parents are open ({', '.join(parents)})" for task, parents in open_parents.items()]


def _done_without_completed_at(conn: Conn) -> list[str]:
    rows = conn.execute("SELECT id FROM tasks WHERE status = 'done' AND completed_at IS NULL ORDER BY id")
    return [f"{task}: done without completed_at" for (task,) in rows]


def _stale_column_counts(conn: Conn) -> list[str]:
    rows = conn.execute(
        "SELECT k.status, k.n, (SELECT count(*) FROM tasks t WHERE t.status = k.status) FROM task_counts k "
        "WHERE k.n <> (SELECT count(*) FROM tasks t WHERE t.status = k.status) ORDER BY k.status")
    return [f"column count for {status} says {kept}, the board has {actual}" for status, kept, actual in rows]


def _stop_marks_on_open_runs(conn: Conn) -> list[str]:
    """Only a run that a verb ended is marked for its worker to be stopped."""
    rows = conn.execute("SELECT task_id, id FROM task_runs WHERE stop_requested_at IS NOT NULL "
                        "AND status = 'running' ORDER BY id")
    return [f"{task}: open run {run_id} is marked for its worker to be stopped" for task, run_id in rows]
