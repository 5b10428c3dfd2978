"""What only the PostgreSQL store has: its schema beside SQLite's, its write lock, its session."""

from __future__ import annotations

import threading
import time
from contextlib import closing

import psycopg
import pytest

from kanban_tui.kernel import db, pg, queries, transitions

pytestmark = pytest.mark.postgres_only


def sqlite_columns(tmp_path) -> dict[str, list[str]]:
    with closing(db.connect(tmp_path / "twin.db")) as twin:
        tables = [row[0] for row in twin.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {table: [row[1] for row in twin.execute(f"PRAGMA table_info({table})")] for table in tables}


def test_both_stores_have_the_same_migrations_tables_and_columns(conn, tmp_path):
    assert pg.MIGRATION_FILES == db.MIGRATION_FILES and pg.SCHEMA_VERSION == db.SCHEMA_VERSION
    rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position")
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    assert columns == sqlite_columns(tmp_path)


def test_the_schema_refuses_what_sqlite_refuses(conn):
    task = transitions.create(conn, "checked")["task_id"]
    for statement, params in [
        ("UPDATE tasks SET status = 'lost' WHERE id = ?", (task,)),
        ("UPDATE tasks SET skills = '{\"not\": \"a list\"}' WHERE id = ?", (task,)),
        ("UPDATE tasks SET status = 'running' WHERE id = ?", (task,)),  # no claim, no run
        ("INSERT INTO task_events (task_id, kind, payload, created_at) VALUES (?, 'created', '{oops', 0)", (task,)),
        ("INSERT INTO task_links (parent_id, child_id, created_at) VALUES (?, 't_0000dead', 0)", (task,)),
        ("INSERT INTO tasks (id, title, status, created_at, updated_at) VALUES ('T_1', 'x', 'ready', 0, 0)", ()),
    ]:
        with pytest.raises(pg.DatabaseError, match="database error: .*(constraint|violates)"):
            conn.execute(statement, params)
    assert queries.get_task(conn, task)["status"] == "ready"


def test_a_write_that_loses_a_conflict_runs_again_from_the_start(conn):
    task = transitions.create(conn, "retried")["task_id"]
    attempts = []

    def tx(c):
        attempts.append(len(attempts))
        c.execute("INSERT INTO task_comments (task_id, author, body, created_at) VALUES (?, 'a', 'b', 0)", (task,))
        if len(attempts) == 1:
            raise psycopg.errors.SerializationFailure("could not serialize access")
        return c.execute("SELECT count(*) FROM task_comments").fetchone()[0]

    assert db.write(conn, tx) == 1 and attempts == [0, 1]


def test_writers_queue_on_the_board_lock_and_readers_do_not(conn, home):
    task = transitions.create(conn, "contended")["task_id"]
    holding, release = threading.Event(), threading.Event()

    def slow_writer():
        with closing(db.connect(home.db)) as other:
            def tx(c):
                c.execute("UPDATE tasks SET priority = 5 WHERE id = ?", (task,))
                holding.set()
                release.wait(5)
            db.write(other, tx)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert holding.wait(5)
    assert queries.get_task(conn, task)["priority"] == 0  # a reader sees the last commit at once
    started = time.monotonic()
    threading.Timer(0.3, release.set).start()
    transitions.edit(conn, task, priority_delta=1)  # waits for the other writer, then sees its 5
    writer.join(5)
    assert time.monotonic() - started >= 0.25
    assert queries.get_task(conn, task)["priority"] == 6


def test_a_terminated_session_reconnects_on_the_next_statement(conn, home):
    task = transitions.create(conn, "survivor")["task_id"]
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with closing(psycopg.connect(home.db, autocommit=True)) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    with pytest.raises(pg.DatabaseError):
        conn.execute("SELECT 1").fetchone()  # the statement that finds the session gone
    assert queries.get_task(conn, task)["title"] == "survivor"
    assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] != backend


def test_ids_given_by_an_insert_move_the_sequence_past_them_as_rowids_do(conn):
    task = transitions.create(conn, "imported")["task_id"]
    conn.executemany("INSERT INTO task_events (id, task_id, kind, created_at) VALUES (?, ?, 'edited', 0)",
                     [(500, task), (700, task)])
    conn.execute("INSERT INTO task_comments (id, task_id, author, body, created_at) VALUES (?, ?, 'a', 'b', 0)",
                 (40, task))
    assert transitions.comment(conn, task, "next")["comment_id"] == 41
    assert queries.max_event_id(conn) == 701


def test_rows_answer_by_index_and_by_name_like_sqlite_rows(conn):
    row = conn.execute("SELECT 1 AS one, 'two' AS two").fetchone()
    assert (row[0], row["two"], list(row), row.keys(), dict(row)) == (1, "two", [1, "two"], ["one", "two"],
                                                                     {"one": 1, "two": "two"})


def test_a_session_the_server_ended_while_idle_is_replaced_transparently(conn, db_path):
    board = db.connect(db_path)
    task = transitions.create(board, "before")["task_id"]
    for kind in ("read", "write", "data_version"):
        ended = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
        assert ended, "the board's session was not there to end"
        time.sleep(0.05)
        if kind == "read":
            assert queries.get_task(board, task)["title"] == "before"
        elif kind == "write":
            transitions.edit(board, task, title="after")
        else:
            assert db.data_version(board) == db.data_version(conn)
    assert queries.get_task(conn, task)["title"] == "after"
    board.close()
