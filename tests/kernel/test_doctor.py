"""doctor.check: a sound board reports nothing; each broken invariant is one line naming the task."""

from __future__ import annotations

import pytest
from factories import add_comment, add_event, link, make_run, make_task

from kanban_tui.kernel import db, doctor
from kanban_tui.kernel import transitions as T


def test_a_board_in_every_state_is_sound(conn, now):
    parent = make_task(conn, status="running", assignee="dev")
    make_task(conn, status="todo", parents=(parent,))
    done = make_task(conn, status="done")
    make_run(conn, done, outcome="completed", summary="ok")
    make_task(conn, status="ready", parents=(done,))
    make_task(conn, status="todo")  # held by an operator: no parents is fine
    for status in ("triage", "blocked", "archived"):
        make_task(conn, status=status)
    assert doctor.check(conn) == []


def test_a_board_built_by_the_kernel_verbs_is_sound(conn, now):
    parent = T.create(conn, "parent", assignee="dev", now=now)["task_id"]
    child = T.create(conn, "child", parents=[parent], now=now)["task_id"]
    T.claim(conn, parent, now=now)
    T.complete(conn, parent, summary="done", now=now + 1)
    T.claim(conn, child, now=now + 2)
    assert doctor.check(conn) == []


@pytest.mark.corrupts_board
def test_running_task_whose_run_is_closed(conn):
    task = make_task(conn, status="running")
    conn.execute("UPDATE task_runs SET status = 'ended', outcome = 'crashed', ended_at = 1 WHERE task_id = ?", (task,))
    assert doctor.check(conn) == [f"{task}: running but has 0 open runs (expected 1)",
                                  f"{task}: current run 1 is already closed"]


@pytest.mark.corrupts_board
def test_running_task_pointing_at_another_tasks_run(conn):
    other = make_task(conn, status="running")
    task = make_task(conn, status="running")
    other_run = conn.execute("SELECT current_run_id FROM tasks WHERE id = ?", (other,)).fetchone()[0]
    conn.execute("UPDATE tasks SET current_run_id = ? WHERE id = ?", (other_run, task))
    assert doctor.check(conn) == [f"{task}: current_run_id {other_run} is not a run of this task"]


@pytest.mark.corrupts_board
def test_claim_lock_must_match_the_open_run(conn):
    task = make_task(conn, status="running")
    conn.execute("UPDATE tasks SET claim_lock = 'stolen' WHERE id = ?", (task,))
    problems = doctor.check(conn)
    assert len(problems) == 1 and problems[0].startswith(f"{task}: claim_lock differs")


@pytest.mark.corrupts_board
def test_non_running_task_with_an_open_run(conn):
    task = make_task(conn, status="ready")
    run = make_run(conn, task, outcome=None)
    assert doctor.check(conn) == [f"{task}: ready but run {run} is still open"]


@pytest.mark.corrupts_board
def test_every_task_needs_a_created_event(conn):
    task = make_task(conn, created_event=False)
    add_event(conn, task, "heartbeat")
    assert doctor.check(conn) == [f"{task}: has no created event"]


@pytest.mark.corrupts_board
@pytest.mark.sqlite_only  # only SQLite can switch its CHECKs off to store the bad row
def test_closed_runs_need_an_outcome(conn):
    task = make_task(conn, status="done")
    conn.execute("PRAGMA ignore_check_constraints = ON")
    run = make_run(conn, task, outcome="completed")
    conn.execute("UPDATE task_runs SET outcome = NULL WHERE id = ?", (run,))
    conn.execute("PRAGMA ignore_check_constraints = OFF")
    assert doctor.check(conn) == ["integrity_check: CHECK constraint failed in task_runs",
                                  f"{task}: run {run} is closed without an outcome"]


@pytest.mark.corrupts_board
def test_dependency_cycles_are_reported_for_each_member(conn):
    first = make_task(conn, status="todo")
    second = make_task(conn, status="todo", parents=(first,))
    link(conn, second, first)
    make_task(conn, status="todo", parents=(second,))
    assert doctor.check(conn) == sorted([f"{first}: is part of a dependency cycle",
                                         f"{second}: is part of a dependency cycle"])


@pytest.mark.corrupts_board
def test_ready_tasks_must_not_wait_on_open_parents(conn):
    open_parent = make_task(conn, status="blocked")
    finished = make_task(conn, status="done")
    task = make_task(conn, status="ready", parents=(open_parent, finished))
    assert doctor.check(conn) == [f"{task}: ready while parents are open ({open_parent})"]


@pytest.mark.corrupts_board
def test_done_tasks_need_completed_at(conn):
    task = make_task(conn, status="done", completed_at=None)
    assert doctor.check(conn) == [f"{task}: done without completed_at"]


@pytest.mark.corrupts_board
def test_schema_version_must_be_recorded(conn):
    conn.execute("DELETE FROM schema_migrations")
    assert doctor.check(conn) == [f"schema version recorded as None, expected {db.SCHEMA_VERSION}"]


@pytest.mark.corrupts_board
@pytest.mark.sqlite_only  # PostgreSQL enforces foreign keys at all times
def test_foreign_key_violations(conn):
    conn.execute("PRAGMA foreign_keys = OFF")
    add_comment(conn, "t_0000dead", "orphan")
    conn.execute("PRAGMA foreign_keys = ON")
    assert doctor.check(conn) == ["task_comments row 1 points at a missing tasks row"]



@pytest.mark.corrupts_board
def test_doctor_reports_a_stale_column_count(conn):
    conn.execute("UPDATE task_counts SET n = n + 2 WHERE status = 'ready'")
    assert doctor.check(conn) == ["column count for ready says 2, the board has 0"]


@pytest.mark.corrupts_board
def test_an_open_run_must_not_be_marked_for_stopping(conn):
    task = make_task(conn, status="running")
    run = conn.execute("SELECT current_run_id FROM tasks WHERE id = ?", (task,)).fetchone()[0]
    conn.execute("UPDATE task_runs SET stop_requested_at = 1 WHERE id = ?", (run,))
    assert doctor.check(conn) == [f"{task}: open run {run} is marked for its worker to be stopped"]


def test_a_round_one_board_migrates_keeping_its_runs_and_forgetting_its_locks(tmp_path):
    import json
    import time

    old = db.connect(tmp_path / "old.db", migrate=False)
    first = db.MIGRATION_FILES[0]
    for statement in db._split_sql((db.MIGRATIONS_DIR / first).read_text()):
        old.execute(statement)
    old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied_at REAL NOT NULL) STRICT")
    old.execute("INSERT INTO schema_migrations VALUES (1, ?, ?)", (first, time.time()))
    task = make_task(old, status="running", claim_lock="host-a:42/0a1b2c")
    add_event(old, task, "claimed", {"run_id": 1, "lock": "host-a:42/0a1b2c", "expires": 1.0})
    old.commit()
    old.close()

    conn = db.connect(tmp_path / "old.db")
    run = conn.execute("SELECT claimer, role, claim_lock FROM task_runs").fetchone()
    assert tuple(run) == ("host-a:42", "worker", "host-a:42/0a1b2c")
    payload = conn.execute("SELECT payload FROM task_events WHERE kind = 'claimed'").fetchone()[0]
    assert json.loads(payload) == {"run_id": 1, "expires": 1.0}
    for kind in ("worker_stopped", "imported", "rate_limited"):
        add_event(conn, task, kind, {})
    conn.execute("UPDATE task_runs SET status = 'ended', outcome = 'rate_limited', ended_at = 2")
    conn.execute("UPDATE task_runs SET status = 'running', outcome = NULL, ended_at = NULL")
    assert doctor.check(conn) == []
    conn.close()
