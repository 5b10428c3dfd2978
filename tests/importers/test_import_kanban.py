"""kanban-tui -> kanban-tui: a board made by our kernel arrives whole, as it was."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from our_boards import NOW, build_board, without_import_stamps

from kanban_tui.errors import StorageError
from kanban_tui.kernel import db, doctor, notify, queries
from kanban_tui.kernel import transitions as T
from kanban_tui.kernel.importers import import_board

TABLES = ("tasks", "task_links", "task_runs", "task_comments", "notify_subs", "notify_deliveries")


@pytest.fixture
def source(tmp_path):
    conn, ids = build_board(tmp_path / "source" / "kanban.db")
    yield tmp_path / "source" / "kanban.db", conn, ids
    conn.close()


def test_every_table_arrives_and_show_matches(conn, source):
    path, src, ids = source
    report = import_board(conn, str(path), now=NOW + 5000)
    assert report["format"] == "kanban-tui" and report["skipped"] == []
    for table in TABLES:
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == \
            src.execute(f"SELECT count(*) FROM {table}").fetchone()[0], table
    source_events = src.execute("SELECT count(*) FROM task_events").fetchone()[0]
    assert report["counts"]["events"] == source_events
    assert report["mapped"] == {"statuses": {"running->ready": 1}, "open_runs_closed": 1, "events_added": 6}
    for name, task_id in ids.items():
        if name == "running":
            continue
        before, after = queries.show(src, task_id), queries.show(conn, task_id)
        assert without_import_stamps(after) == before, name
        [stamp] = [e for e in after["events"] if e["kind"] == "imported"]
        assert stamp["payload"] == {"source": str(path), "format": "kanban-tui",
                                    "original_status": before["task"]["status"]}
    assert doctor.check(conn) == [] and doctor.check(src) == []


def test_the_running_card_lands_in_ready_with_its_run_reclaimed(conn, source):
    path, src, ids = source
    import_board(conn, str(path), now=NOW + 5000)
    before, after = queries.show(src, ids["running"]), queries.show(conn, ids["running"])
    assert after["task"] == {**before["task"], "status": "ready", "claim_expires": None, "current_run_id": None}
    [run] = after["runs"]
    assert run == {**before["runs"][0], "status": "ended", "outcome": "reclaimed", "error": "imported",
                   "ended_at": NOW + 5000}
    assert [e["kind"] for e in after["events"]][-2:] == ["reclaimed", "imported"]


def test_events_keep_their_order_and_sent_notifications_stay_sent(conn, source):
    path, src, _ = source
    import_board(conn, str(path), now=NOW + 5000)
    kinds = lambda c: [tuple(r) for r in c.execute(  # noqa: E731
        "SELECT task_id, run_id, kind, payload, created_at FROM task_events ORDER BY id")]
    assert kinds(conn)[:len(kinds(src))] == kinds(src)
    assert list(conn.execute(notify._PENDING_SQL)) == []


def test_into_a_busy_board_ids_of_runs_and_comments_move_and_references_follow(conn, source, tmp_path):
    path, src, ids = source
    here = T.create(conn, "here first", now=NOW)["task_id"]
    T.comment(conn, here, "mine", now=NOW)
    T.complete(conn, here, summary="zero-length run", now=NOW)
    report = import_board(conn, str(path), now=NOW + 5000)
    assert set(report["mapped"]["renumbered"]) == {"task_runs", "task_comments"}
    runs = queries.runs(conn, ids["parent"])
    claimed = [e for e in queries.show(conn, ids["parent"])["events"] if e["kind"] == "claimed"]
    assert [(e["run_id"], e["payload"]["run_id"]) for e in claimed] == [(runs[0]["id"], runs[0]["id"])]
    assert runs[0]["id"] != queries.runs(src, ids["parent"])[0]["id"]
    assert [c["body"] for c in queries.comments(conn, ids["child"])] == ["first thought"]
    assert doctor.check(conn) == []


def test_a_board_from_a_newer_kanban_tui_is_refused(conn, source, tmp_path):
    path, src, _ = source
    newer = tmp_path / "newer.db"
    src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(path, newer)
    edit = sqlite3.connect(newer)
    edit.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (db.SCHEMA_VERSION + 1,))
    edit.commit()
    edit.close()
    with pytest.raises(StorageError, match=f"schema version {db.SCHEMA_VERSION + 1} is newer"):
        import_board(conn, str(newer), now=NOW)
    assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0


def test_a_home_folder_is_a_source_too(conn, source):
    path, _, ids = source
    assert import_board(conn, str(path.parent), now=NOW)["counts"]["tasks"] == len(ids)
