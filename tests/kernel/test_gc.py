"""gc: old events and logs of finished tasks go; managed workspaces of archived tasks go, and
nothing outside the workspaces root is ever touched."""

from __future__ import annotations

import os

from factories import add_event, make_task

from kanban_tui.kernel import doctor, queries
from kanban_tui.kernel import gc as gc_module
from kanban_tui.kernel.gc import DAY, gc

EMPTY = {"events_deleted": 0, "logs_deleted": 0, "workspaces_removed": 0, "workspaces_skipped": 0}


def kinds(conn, task_id: str) -> list[str]:
    return [event["kind"] for event in queries.events(conn, task_id)]


def test_old_events_of_finished_tasks_go_but_created_stays(conn, home, now):
    old = now - 40 * DAY
    done = make_task(conn, status="done", created_at=old)
    archived = make_task(conn, status="archived", created_at=old)
    running = make_task(conn, status="running", created_at=old)
    for task in (done, archived, running):
        add_event(conn, task, "heartbeat", created_at=old)
        add_event(conn, task, "heartbeat", created_at=now - DAY)
    add_event(conn, running, "heartbeat", created_at=now)  # the newest event on the board

    report = gc(conn, home, now=now)

    assert report == {**EMPTY, "events_deleted": 2}
    assert kinds(conn, done) == kinds(conn, archived) == ["created", "heartbeat"]
    assert kinds(conn, running) == ["created", "heartbeat", "heartbeat", "heartbeat"]
    assert doctor.check(conn) == []


def test_the_newest_event_is_kept_so_the_cursor_never_moves_back(conn, home, now):
    task = make_task(conn, status="done", created_at=now - 40 * DAY)
    last = add_event(conn, task, "completed", {"summary": "ok"}, created_at=now - 40 * DAY)

    assert gc(conn, home, event_retention_days=1, now=now)["events_deleted"] == 0
    assert queries.max_event_id(conn) == last
    assert add_event(conn, task, "archived") > last


def test_event_retention_is_configurable(conn, home, now):
    task = make_task(conn, status="done")
    add_event(conn, task, "heartbeat", created_at=now - 3 * DAY)
    add_event(conn, task, "heartbeat", created_at=now)
    assert gc(conn, home, event_retention_days=7, now=now)["events_deleted"] == 0
    assert gc(conn, home, event_retention_days=2, now=now)["events_deleted"] == 1


def test_events_are_deleted_window_by_window(conn, home, now, monkeypatch):
    monkeypatch.setattr(gc_module, "DELETE_WINDOW", 2)
    task = make_task(conn, status="done", created_at=now - 40 * DAY)
    for _ in range(7):
        add_event(conn, task, "heartbeat", created_at=now - 40 * DAY)
    make_task(conn, status="ready")

    assert gc(conn, home, now=now)["events_deleted"] == 7
    assert kinds(conn, task) == ["created"]


def write_log(path, age_days: float, now: float) -> None:
    path.write_text("log\n")
    stamp = now - age_days * DAY
    os.utime(path, (stamp, stamp))


def test_old_logs_of_finished_tasks_are_deleted(conn, home, now):
    done = make_task(conn, status="done")
    running = make_task(conn, status="running")
    recent = make_task(conn, status="archived")
    write_log(home.log_for(done), 40, now)
    write_log(home.logs / f"{done}.log.1", 40, now)
    write_log(home.log_for(running), 40, now)
    write_log(home.log_for(recent), 1, now)
    write_log(home.logs / "notes.txt", 400, now)

    assert gc(conn, home, now=now) == {**EMPTY, "logs_deleted": 2}
    assert sorted(p.name for p in home.logs.iterdir()) == sorted(
        [f"{running}.log", f"{recent}.log", "notes.txt"])


def test_a_log_symlink_is_never_followed(conn, home, now, tmp_path):
    done = make_task(conn, status="done")
    precious = tmp_path / "precious.txt"
    write_log(precious, 400, now)
    home.log_for(done).symlink_to(precious)

    assert gc(conn, home, now=now)["logs_deleted"] == 0
    assert precious.exists()


def scratch(home, task_id: str):
    workspace = home.workspaces / task_id
    workspace.mkdir()
    (workspace / "notes.md").write_text("partial work")
    return workspace


def test_managed_workspaces_of_archived_tasks_are_removed(conn, home):
    archived = make_task(conn, status="archived")
    done = make_task(conn, status="done")
    for task in (archived, done):
        conn.execute("UPDATE tasks SET workspace_path = ?, workspace_managed = 1 WHERE id = ?",
                     (str(scratch(home, task)), task))

    assert gc(conn, home)["workspaces_removed"] == 1
    assert not (home.workspaces / archived).exists()
    assert (home.workspaces / done / "notes.md").exists()
    assert gc(conn, home)["workspaces_removed"] == 0


def test_unmanaged_workspaces_are_never_removed(conn, home, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    make_task(conn, status="archived", workspace_kind="dir", workspace_path=str(project))
    assert gc(conn, home) == EMPTY
    assert project.is_dir()


def test_a_symlink_escaping_the_workspaces_root_is_skipped(conn, home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not ours")
    task = make_task(conn, status="archived")
    link = home.workspaces / task
    link.symlink_to(outside, target_is_directory=True)
    conn.execute("UPDATE tasks SET workspace_path = ?, workspace_managed = 1 WHERE id = ?", (str(link), task))

    assert gc(conn, home)["workspaces_skipped"] == 1
    assert (outside / "keep.txt").read_text() == "not ours"
    assert link.is_symlink()


def test_a_path_climbing_out_of_the_root_is_skipped(conn, home, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    make_task(conn, status="archived", workspace_managed=1,
              workspace_path=str(home.workspaces / ".." / ".." / "elsewhere"))
    assert gc(conn, home)["workspaces_skipped"] == 1
    assert outside.is_dir()
    make_task(conn, status="archived", workspace_managed=1, workspace_path=str(home.workspaces))
    assert gc(conn, home)["workspaces_skipped"] == 2
    assert home.workspaces.is_dir()


def test_symlinks_inside_a_workspace_are_removed_not_followed(conn, home, tmp_path):
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "data.txt").write_text("shared")
    task = make_task(conn, status="archived")
    workspace = scratch(home, task)
    (workspace / "shared").symlink_to(outside, target_is_directory=True)
    conn.execute("UPDATE tasks SET workspace_path = ?, workspace_managed = 1 WHERE id = ?",
                 (str(workspace), task))

    assert gc(conn, home)["workspaces_removed"] == 1
    assert not workspace.exists()
    assert (outside / "data.txt").read_text() == "shared"
