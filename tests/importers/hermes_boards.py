"""Hermes Kanban boards on disk, built the way Hermes leaves them (our own DDL, Hermes's names).

Table and column names follow NousResearch/hermes-agent hermes_cli/kanban_db.py: `SCHEMA_SQL`
for a fresh file, `_migrate_add_optional_columns` for an old file brought forward (its later
columns appended at the end, and, when never opened since the rename, the legacy
`spawn_failures` / `last_spawn_error` names). Times are unix integers unless a test passes
an ISO string.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

NOW = 1_800_000_000
PAGE = 4096

FRESH = """
CREATE TABLE tasks (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT, assignee TEXT, status TEXT NOT NULL,
    priority INTEGER DEFAULT 0, created_by TEXT, created_at INTEGER NOT NULL, started_at INTEGER,
    completed_at INTEGER, workspace_kind TEXT NOT NULL DEFAULT 'scratch', workspace_path TEXT,
    branch_name TEXT, project_id TEXT, claim_lock TEXT, claim_expires INTEGER, tenant TEXT, result TEXT,
    idempotency_key TEXT, consecutive_failures INTEGER NOT NULL DEFAULT 0, worker_pid INTEGER,
    last_failure_error TEXT, max_runtime_seconds INTEGER, last_heartbeat_at INTEGER, current_run_id INTEGER,
    workflow_template_id TEXT, current_step_key TEXT, skills TEXT, model_override TEXT,
    provider_override TEXT, reasoning_effort TEXT, max_retries INTEGER, goal_mode INTEGER NOT NULL DEFAULT 0,
    goal_max_turns INTEGER, session_id TEXT, block_kind TEXT, block_recurrences INTEGER NOT NULL DEFAULT 0);
CREATE TABLE task_links (parent_id TEXT NOT NULL, child_id TEXT NOT NULL, PRIMARY KEY (parent_id, child_id));
CREATE TABLE task_comments (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, author TEXT NOT NULL,
    body TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE task_events (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, run_id INTEGER,
    kind TEXT NOT NULL, payload TEXT, created_at INTEGER NOT NULL);
CREATE TABLE task_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, profile TEXT, step_key TEXT,
    status TEXT NOT NULL, claim_lock TEXT, claim_expires INTEGER, worker_pid INTEGER, max_runtime_seconds INTEGER,
    last_heartbeat_at INTEGER, started_at INTEGER NOT NULL, ended_at INTEGER, outcome TEXT, summary TEXT,
    metadata TEXT, error TEXT);
CREATE TABLE task_attachments (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL,
    filename TEXT NOT NULL, stored_path TEXT NOT NULL, content_type TEXT, size INTEGER NOT NULL DEFAULT 0,
    uploaded_by TEXT, created_at INTEGER NOT NULL);
CREATE TABLE kanban_notify_subs (task_id TEXT NOT NULL, platform TEXT NOT NULL, chat_id TEXT NOT NULL,
    thread_id TEXT NOT NULL DEFAULT '', user_id TEXT, user_id_alt TEXT, chat_type TEXT, notifier_profile TEXT,
    delivery_mode TEXT NOT NULL DEFAULT 'notify', delivery_metadata TEXT, created_at INTEGER NOT NULL,
    last_event_id INTEGER NOT NULL DEFAULT 0, last_ping_event_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, platform, chat_id, thread_id));
"""

# An early file: the first columns only, the legacy failure-counter names, events without run_id.
EARLY = """
CREATE TABLE tasks (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT, assignee TEXT, status TEXT NOT NULL,
    priority INTEGER DEFAULT 0, created_by TEXT, created_at INTEGER NOT NULL, started_at INTEGER,
    completed_at INTEGER, workspace_kind TEXT NOT NULL DEFAULT 'scratch', workspace_path TEXT,
    claim_lock TEXT, claim_expires INTEGER, spawn_failures INTEGER NOT NULL DEFAULT 0, last_spawn_error TEXT);
CREATE TABLE task_links (parent_id TEXT NOT NULL, child_id TEXT NOT NULL, PRIMARY KEY (parent_id, child_id));
CREATE TABLE task_comments (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, author TEXT NOT NULL,
    body TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE task_events (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, kind TEXT NOT NULL,
    payload TEXT, created_at INTEGER NOT NULL);
CREATE TABLE task_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, profile TEXT, step_key TEXT,
    status TEXT NOT NULL, claim_lock TEXT, claim_expires INTEGER, worker_pid INTEGER, max_runtime_seconds INTEGER,
    last_heartbeat_at INTEGER, started_at INTEGER NOT NULL, ended_at INTEGER, outcome TEXT, summary TEXT,
    metadata TEXT, error TEXT);
CREATE TABLE kanban_notify_subs (task_id TEXT NOT NULL, platform TEXT NOT NULL, chat_id TEXT NOT NULL,
    thread_id TEXT NOT NULL DEFAULT '', user_id TEXT, created_at INTEGER NOT NULL,
    last_event_id INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (task_id, platform, chat_id, thread_id));
"""
# ... then what the migration appends (a board never opened since the rename keeps the legacy names).
MIGRATED = EARLY + """
ALTER TABLE tasks ADD COLUMN tenant TEXT;
ALTER TABLE tasks ADD COLUMN result TEXT;
ALTER TABLE tasks ADD COLUMN branch_name TEXT;
ALTER TABLE tasks ADD COLUMN project_id TEXT;
ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
ALTER TABLE tasks ADD COLUMN worker_pid INTEGER;
ALTER TABLE tasks ADD COLUMN max_runtime_seconds INTEGER;
ALTER TABLE tasks ADD COLUMN last_heartbeat_at INTEGER;
ALTER TABLE tasks ADD COLUMN current_run_id INTEGER;
ALTER TABLE tasks ADD COLUMN skills TEXT;
ALTER TABLE tasks ADD COLUMN model_override TEXT;
ALTER TABLE tasks ADD COLUMN goal_mode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_events ADD COLUMN run_id INTEGER;
ALTER TABLE kanban_notify_subs ADD COLUMN notifier_profile TEXT;
ALTER TABLE kanban_notify_subs ADD COLUMN chat_type TEXT;
"""
LAYOUTS = {"fresh": FRESH, "migrated": MIGRATED}


class HermesBoard:
    """A Hermes kanban.db in WAL mode; rows are inserted by column name."""

    def __init__(self, path: Path, layout: str = "fresh"):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.layout = layout
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.executescript(LAYOUTS[layout])

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")]

    def insert(self, table: str, **row) -> int:
        row = {name: _stored(value) for name, value in row.items()}
        names = ", ".join(row)
        # bytes are stored as TEXT as they are: how text that is not valid UTF-8 gets in
        marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, bytes) else "?" for v in row.values())
        return self.conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values())).lastrowid

    def task(self, task_id: str, status: str = "ready", **row) -> str:
        row.setdefault("title", f"task {task_id}")
        row.setdefault("created_at", NOW)
        if self.layout == "migrated":
            for ours, legacy in (("consecutive_failures", "spawn_failures"), ("last_failure_error", "last_spawn_error")):
                if ours in row:
                    row[legacy] = row.pop(ours)
        self.insert("tasks", id=task_id, status=status, **row)
        return task_id

    def run(self, task_id: str, **row) -> int:
        row.setdefault("started_at", NOW)
        row.setdefault("status", "done" if row.get("outcome") else "running")
        return self.insert("task_runs", task_id=task_id, **row)

    def event(self, task_id: str, kind: str, payload: dict | None = None, **row) -> int:
        row.setdefault("created_at", NOW)
        return self.insert("task_events", task_id=task_id, kind=kind,
                           payload=None if payload is None else json.dumps(payload), **row)

    def close(self) -> None:
        self.conn.close()


def _stored(value):
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def populate(board: HermesBoard) -> dict:
    """Every status, runs with Hermes-only outcomes, events of kinds we lack, comments, links,
    an attachment, subscriptions, a non-UTF-8 body and ISO times. Returns the ids by role."""
    fresh = board.layout == "fresh"
    ids = {status: f"t_{index:08x}" for index, status in enumerate(
        ("triage", "todo", "scheduled", "ready", "running", "blocked", "review", "done", "archived"), start=1)}
    for status, task_id in ids.items():
        extra = {"assignee": "coder"} if status in ("ready", "running", "review", "done") else {}
        board.task(task_id, status, **extra)
    for task_id in ids.values():
        if task_id != ids["triage"]:  # Hermes itself always writes one; a gc'd board may lack it
            board.event(task_id, "created", {"status": "ready"}, created_at=NOW - 1)
    board.conn.execute("UPDATE tasks SET body = CAST(? AS TEXT) WHERE id = ?", (b"caf\xe9 \xff broken", ids["todo"]))
    board.conn.execute("UPDATE tasks SET completed_at = ?, result = 'shipped', created_at = ? WHERE id = ?",
                       ("2027-01-15T08:00:00Z", "2027-01-15T07:00:00", ids["done"]))
    board.conn.execute("UPDATE tasks SET consecutive_failures = 3 WHERE id = ?", (ids["blocked"],)) if fresh else \
        board.conn.execute("UPDATE tasks SET spawn_failures = 3, last_spawn_error = 'exit 1' WHERE id = ?",
                           (ids["blocked"],))
    board.conn.execute("UPDATE tasks SET model_override = 'big-model', tenant = 'acme', skills = ? WHERE id = ?",
                       (json.dumps(["review"]), ids["review"]))
    board.insert("task_links", parent_id=ids["done"], child_id=ids["ready"])
    board.insert("task_links", parent_id=ids["triage"], child_id=ids["todo"])

    # blocked: crashed, crashed, gave_up (the breaker's story)
    blocked = ids["blocked"]
    for outcome in ("crashed", "crashed", "gave_up"):
        run_id = board.run(blocked, outcome=outcome, status=outcome, ended_at=NOW + 60, error="exit 1")
        board.event(blocked, "claimed", {"run_id": run_id, "lock": "host:1"}, run_id=run_id)
        board.event(blocked, outcome, {"error": "exit 1"}, run_id=run_id)
    # review: a run that asked for review, a rate-limited one, a stale one
    review = ids["review"]
    board.run(review, outcome="rate_limited", status="released", ended_at=NOW + 10)
    board.run(review, outcome="review_requested", status="done", ended_at=NOW + 20, summary="please review",
              metadata={"changed_files": ["a.py"]})
    board.run(review, outcome=None, status="stale", ended_at=NOW + 30)
    # running: one closed attempt and the open one
    running = ids["running"]
    board.run(running, outcome="crashed", status="crashed", ended_at=NOW + 5)
    open_run = board.run(running, claim_lock="host:2", claim_expires=NOW + 900, worker_pid=4242)
    board.conn.execute("UPDATE tasks SET claim_lock = 'host:2', claim_expires = ?, worker_pid = 4242, "
                       "current_run_id = ?, started_at = ? WHERE id = ?", (NOW + 900, open_run, NOW, running))
    done = ids["done"]
    board.run(done, outcome="completed", ended_at="2027-01-15T08:00:00Z", summary="done it",
              started_at="2027-01-15T07:30:00Z")

    board.event(ids["ready"], "ready", None)                           # legacy name of promoted
    board.event(review, "model_override_set", {"model": "big-model"})  # a kind we do not have
    board.event(done, "completed", {"summary": "done it"}, created_at="2027-01-15T08:00:00Z")
    board.insert("task_events", task_id=ids["scheduled"], kind="status", payload="not json {",  # not JSON
                 created_at=NOW)
    board.insert("task_comments", task_id=ids["todo"], author="ann", body=b"na\xefve comment", created_at=NOW)
    board.insert("task_comments", task_id=done, author="coder", body="merged", created_at=NOW + 1)
    if fresh:
        board.insert("task_attachments", task_id=done, filename="spec.pdf", stored_path="/srv/att/spec.pdf",
                     content_type="application/pdf", size=2048, uploaded_by="ann", created_at=NOW + 2)
    completed_event = board.conn.execute("SELECT max(id) FROM task_events WHERE kind = 'completed'").fetchone()[0]
    board.insert("kanban_notify_subs", task_id=done, platform="telegram", chat_id="42", thread_id="",
                 user_id="u1", created_at=NOW - 5, last_event_id=completed_event, chat_type="dm")
    board.insert("kanban_notify_subs", task_id=blocked, platform="slack", chat_id="C1", thread_id="T9",
                 created_at=NOW - 5)
    return {**ids, "open_run": open_run}


def damage(path: Path) -> None:
    """Overwrite pages in the middle of a (checkpointed) database file."""
    pages = path.stat().st_size // PAGE
    with open(path, "r+b") as handle:
        handle.seek(PAGE * (pages // 2))
        handle.write(b"\xa5" * PAGE * 3)
