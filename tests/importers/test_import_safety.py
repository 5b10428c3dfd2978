"""The source is never written, a refusal writes nothing, and damaged sources are refused or salvaged."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hermes_boards import NOW as H_NOW
from hermes_boards import PAGE, HermesBoard, damage, populate

from kanban_tui.errors import NotFound, Refused, StorageError
from kanban_tui.kernel import doctor, queries
from kanban_tui.kernel.importers import import_board



def _hashes(path: Path) -> dict[str, str | None]:
    out = {}
    for suffix in ("", "-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        out[suffix or "db"] = hashlib.sha256(side.read_bytes()).hexdigest() if side.exists() else None
    return out


def _dump(conn) -> dict:
    """Every row of every table of the target, to show a refusal or a dry run changed nothing."""
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: sorted(map(tuple, conn.execute(f"SELECT * FROM {name}")), key=repr) for name in names}


HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # what it writes stays in the -wal
    conn.execute("INSERT INTO tasks (id, title, status, created_at) VALUES ('t_000000f1', 'only in the wal', 'todo', 1)")
    conn.execute("INSERT INTO task_events (task_id, kind, payload, created_at) VALUES ('t_000000f1', 'created', '{}', 1)")
    conn.execute("INSERT INTO task_comments (task_id, author, body, created_at) VALUES ('t_000000f1', 'a', 'wal', 1)")
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM tasks").fetchone()  # and it holds a read transaction open
    print("ready", flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def live_hermes(tmp_path):
    """A Hermes board another process has open, with committed rows only in its -wal."""
    board = HermesBoard(tmp_path / "hermes" / "kanban.db")
    populate(board)
    board.close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(board.path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "ready\n"
    yield board.path
    holder.stdin.close()
    holder.wait(timeout=10)


def test_a_live_board_is_read_whole_and_never_written(conn, live_hermes, tmp_path):
    path = live_hermes
    assert Path(f"{path}-wal").stat().st_size > 0 and Path(f"{path}-shm").exists()
    main_only = tmp_path / "main-only.db"
    shutil.copyfile(path, main_only)
    check = sqlite3.connect(main_only)
    assert check.execute("SELECT count(*) FROM tasks WHERE id = 't_000000f1'").fetchone()[0] == 0
    check.close()
    before = _hashes(path)
    import_board(conn, str(path), now=H_NOW)
    assert _hashes(path) == before
    assert queries.get_task(conn, "t_000000f1")["title"] == "only in the wal"
    assert [c["body"] for c in queries.comments(conn, "t_000000f1")] == ["wal"]
    import_board(conn, str(path), dry_run=True, skip_existing=True, now=H_NOW)
    assert _hashes(path) == before


def test_a_refused_import_writes_nothing(conn, tmp_path):
    taken = "t_00000004"  # populate's ready card
    conn.execute("INSERT INTO tasks (id, title, status, created_at, updated_at) VALUES (?, 'here', 'todo', 1, 1)",
                 (taken,))
    conn.execute("INSERT INTO task_events (task_id, kind, created_at) VALUES (?, 'created', 1)", (taken,))
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    populate(board)
    board.close()
    before = _dump(conn)
    with pytest.raises(Refused, match=f"1 of the imported task ids already exist on this board \\({taken}\\)"):
        import_board(conn, str(board.path), now=H_NOW)
    assert _dump(conn) == before


def test_skip_existing_imports_the_others_and_lists_the_rest(conn, tmp_path):
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    ids = populate(board)
    board.close()
    first = import_board(conn, str(board.path), now=H_NOW)
    conn.execute("DELETE FROM tasks WHERE id = ?", (ids["todo"],))
    again = import_board(conn, str(board.path), skip_existing=True, now=H_NOW)
    assert again["counts"]["tasks"] == 1 and again["counts"]["comments"] == 1
    assert {s["id"] for s in again["skipped"] if s["reason"] == "already on this board"} == \
        set(ids.values()) - {ids["todo"], ids["open_run"]}
    # its link to a parent that was already here is made again
    assert queries.get_task(conn, ids["todo"])["parents"] == [ids["triage"]]
    assert first["counts"]["tasks"] == 9
    assert doctor.check(conn) == []


def test_dry_run_reports_the_same_and_writes_nothing(conn, tmp_path):
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    populate(board)
    board.close()
    before = _dump(conn)
    dry = import_board(conn, str(board.path), dry_run=True, now=H_NOW)
    assert _dump(conn) == before
    real = import_board(conn, str(board.path), now=H_NOW)
    assert dry["dry_run"] is True and real["dry_run"] is False
    assert {**dry, "dry_run": False} == real


@pytest.fixture
def damaged(tmp_path):
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    for number in range(400):
        task_id = f"t_{number:08x}"
        board.task(task_id, "ready", body="x" * 600)
        board.event(task_id, "created", {"status": "ready"})
    board.close()
    damage(board.path)
    return board.path


def test_a_corrupt_source_is_refused_and_nothing_is_written(conn, damaged):
    before = _dump(conn)
    with pytest.raises(Refused, match="fails PRAGMA integrity_check .*--salvage"):
        import_board(conn, str(damaged), now=H_NOW)
    assert _dump(conn) == before


def test_salvage_imports_every_readable_row_and_lists_the_rest(conn, damaged):
    report = import_board(conn, str(damaged), salvage=True, now=H_NOW)
    lost = [s["id"] for s in report["skipped"] if s["table"] == "tasks"]
    assert report["skipped"][0]["reason"].startswith("integrity_check: ")
    assert lost and report["counts"]["tasks"] + len(lost) == 400
    assert report["counts"]["tasks"] > 300
    imported = {row[0] for row in conn.execute("SELECT id FROM tasks")}
    assert len(imported) == report["counts"]["tasks"]
    assert doctor.check(conn) == []


def test_truncated_and_garbage_sources(conn, tmp_path):
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    populate(board)
    board.close()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(board.path.read_bytes()[:PAGE * 2])
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(PAGE * 4))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    before = _dump(conn)
    with pytest.raises(StorageError, match="unreadable database .*malformed"):
        import_board(conn, str(truncated), salvage=True, now=H_NOW)
    for path in (garbage, text):
        with pytest.raises(StorageError, match="not an SQLite database"):
            import_board(conn, str(path), now=H_NOW)
    with pytest.raises(Refused, match="not a kanban board"):
        import_board(conn, str(empty), now=H_NOW)
    with pytest.raises(NotFound, match="no such file or folder"):
        import_board(conn, str(tmp_path / "missing.db"), now=H_NOW)
    (tmp_path / "plain-folder").mkdir()
    with pytest.raises(NotFound, match="neither a kanban-tui home nor a Hermes root"):
        import_board(conn, str(tmp_path / "plain-folder"), now=H_NOW)
    assert _dump(conn) == before
    assert not Path(f"{empty}-wal").exists() and empty.read_bytes() == b""


def test_importing_a_board_into_itself_is_refused(conn, db_path):
    with pytest.raises(Refused, match="is this board itself"):
        import_board(conn, str(db_path), target=db_path, now=H_NOW)


def test_postgresql_sources_are_not_supported_yet(conn):
    with pytest.raises(Refused, match="PostgreSQL is not supported yet"):
        import_board(conn, "postgresql://kanban@db.internal/kanban", now=H_NOW)
