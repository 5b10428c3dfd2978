"""Import benchmark (issue 14): a 10k-task Hermes board with 50k events.

Baseline: a raw `INSERT ... SELECT` copy of the same rows in the same run (the source
ATTACHed to a fresh board, columns mapped in SQL, no checks, no report), so the ratio is
what the importer's reading, mapping, planning and bookkeeping cost on top of moving rows.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import time
from pathlib import Path

from bench.common import median_seconds, result, scratch_home
from kanban_tui.kernel import db
from kanban_tui.kernel.importers import import_board

TASKS = 10_000
EVENTS_PER_TASK = 5
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "importers" / "hermes_boards.py"
STATUSES = ("triage", "todo", "scheduled", "ready", "blocked", "review", "done", "archived")
KINDS = ("created", "claimed", "heartbeat", "commented", "completed")


def _hermes_ddl() -> str:
    """The fresh Hermes layout the tests build their boards with."""
    spec = importlib.util.spec_from_file_location("hermes_boards", FIXTURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FRESH


def seed_hermes(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(_hermes_ddl())
    now = int(time.time())
    tasks, events, runs, comments, links = [], [], [], [], []
    for n in range(TASKS):
        task_id = f"t_{n:08x}"
        tasks.append((task_id, f"hermes task {n}", f"body {n}", f"profile-{n % 7}", STATUSES[n % len(STATUSES)],
                      n % 5, now - n, json.dumps(["skill"]) if n % 3 == 0 else None))
        events.extend((task_id, kind, json.dumps({"n": n, "kind": kind}), now - n + i)
                      for i, kind in enumerate(KINDS[:EVENTS_PER_TASK]))
        runs.append((task_id, f"profile-{n % 7}", "done", now - n, now - n + 60, "completed", f"summary {n}",
                     json.dumps({"changed_files": [f"f{n}.py"]})))
        comments.append((task_id, "ann", f"comment on {n}", now - n))
        if n % 2:
            links.append((f"t_{n - 1:08x}", task_id))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO tasks (id, title, body, assignee, status, priority, created_at, skills) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", tasks)
    conn.executemany("INSERT INTO task_events (task_id, kind, payload, created_at) VALUES (?, ?, ?, ?)", events)
    conn.executemany("INSERT INTO task_runs (task_id, profile, status, started_at, ended_at, outcome, summary, "
                     "metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", runs)
    conn.executemany("INSERT INTO task_comments (task_id, author, body, created_at) VALUES (?, ?, ?, ?)", comments)
    conn.executemany("INSERT INTO task_links (parent_id, child_id) VALUES (?, ?)", links)
    conn.execute("COMMIT")
    conn.close()


RAW_COPY = (
    "INSERT INTO tasks (id, title, body, assignee, status, priority, created_at, updated_at, skills) "
    "SELECT id, title, coalesce(body, ''), assignee, CASE status WHEN 'scheduled' THEN 'todo' "
    "WHEN 'review' THEN 'blocked' ELSE status END, coalesce(priority, 0), created_at, created_at, "
    "coalesce(skills, '[]') FROM src.tasks",
    "INSERT INTO task_links (parent_id, child_id, created_at) SELECT parent_id, child_id, 0 FROM src.task_links",
    "INSERT INTO task_runs (id, task_id, profile, status, outcome, summary, metadata, started_at, ended_at) "
    "SELECT id, task_id, profile, 'ended', outcome, summary, metadata, started_at, ended_at FROM src.task_runs",
    "INSERT INTO task_comments (id, task_id, author, body, created_at) "
    "SELECT id, task_id, author, body, created_at FROM src.task_comments",
    "INSERT INTO task_events (task_id, run_id, kind, payload, created_at) "
    "SELECT task_id, run_id, kind, payload, created_at FROM src.task_events ORDER BY id",
)


def _raw_copy(source: Path) -> None:
    conn = db.connect(scratch_home("import-raw") / "kanban.db")
    conn.execute("ATTACH DATABASE ? AS src", (f"file:{source}?mode=ro",))
    conn.execute("BEGIN IMMEDIATE")
    for statement in RAW_COPY:
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.close()


def _import(source: Path) -> None:
    conn = db.connect(scratch_home("import") / "kanban.db")
    report = import_board(conn, str(source))
    assert report["counts"]["tasks"] == TASKS and report["counts"]["events"] == TASKS * EVENTS_PER_TASK
    conn.close()


def bench_import() -> dict:
    source = scratch_home("import-source") / "kanban.db"
    seed_hermes(source)
    raw = median_seconds(lambda: _raw_copy(source), 3)
    seconds = median_seconds(lambda: _import(source), 3)
    return result(f"import a Hermes board ({TASKS // 1000}k tasks, {TASKS * EVENTS_PER_TASK // 1000}k events)",
                  seconds, "s", "raw INSERT ... SELECT copy", raw, "≤ 5 s and ≤ 10x raw",
                  seconds <= 5 and seconds <= 10 * raw)


def run() -> list[dict]:
    return [bench_import()]
