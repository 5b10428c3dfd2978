"""`--json` shapes: exact key sets, unix-second times, text carried verbatim."""

from __future__ import annotations

import json
import os
import time

import pytest

from kanban_tui.cli import read_cmds
from kanban_tui.kernel import hosts, lease, transitions

TASK_KEYS = {
    "id", "title", "body", "assignee", "status", "priority", "tenant", "workspace_kind", "workspace_path",
    "created_by", "created_at", "started_at", "completed_at", "result", "skills", "parents", "children",
    "max_runtime_seconds", "idempotency_key", "consecutive_failures", "last_failure_error", "claim_expires",
    "last_heartbeat_at", "worker_pid", "current_run_id", "retry_at",
}
EVENT_KEYS = {"id", "task_id", "run_id", "kind", "payload", "created_at"}
COMMENT_KEYS = {"id", "author", "body", "created_at"}
RUN_KEYS = {"id", "profile", "status", "outcome", "summary", "error", "metadata", "worker_pid", "started_at",
            "ended_at"}
STATUS_KEYS = {"triage", "todo", "ready", "running", "blocked", "done", "archived"}
HOSTILE = "\x1b[31mred\x1b[0m [bold]markup[/bold] \u202eevil ✓"


@pytest.fixture
def board(kt):
    """A parent with a completed run, a comment, and a child that became ready."""
    parent = kt.create("parent", "--assignee", "amy", "--skill", "py")
    child = kt.create("child", "--parent", parent)
    kt.ok("claim", parent)
    kt.ok("comment", parent, "note", "--author", "rev")
    kt.ok("complete", parent, "--summary", "done it", "--metadata", '{"files": ["a.py"]}')
    return parent, child


def test_create_prints_the_task_object(kt):
    task = kt.ok("create", "x", "--assignee", "bob", "--skill", "s", "--max-runtime", "90s", "--json").json
    assert set(task) == TASK_KEYS
    assert (task["status"], task["assignee"], task["skills"], task["max_runtime_seconds"]) == (
        "ready", "bob", ["s"], 90)
    assert isinstance(task["created_at"], float)


def test_list_is_an_array_of_tasks_with_links(kt, board):
    parent, child = board
    tasks = kt.ok("list", "--json").json
    assert [t["id"] for t in tasks] == [child, parent]
    assert all(set(t) == TASK_KEYS for t in tasks)
    assert tasks[0]["parents"] == [parent] and tasks[1]["children"] == [child]


def test_show_has_task_links_comments_events_runs(kt, board):
    parent, child = board
    detail = kt.ok("show", parent, "--json").json
    assert set(detail) == {"task", "parents", "children", "comments", "events", "runs"}
    assert set(detail["task"]) == TASK_KEYS
    assert [c["id"] for c in detail["children"]] == [child]
    assert COMMENT_KEYS <= set(detail["comments"][0])
    assert all(set(e) == EVENT_KEYS for e in detail["events"])
    assert [e["kind"] for e in detail["events"]] == ["created", "claimed", "commented", "completed"]
    assert detail["events"][0]["payload"] == {"status": "ready", "assignee": "amy", "parents": []}
    run, = detail["runs"]
    assert RUN_KEYS <= set(run) and run["metadata"] == {"files": ["a.py"]}
    assert isinstance(run["started_at"], float) and isinstance(run["ended_at"], float)


def test_runs_is_an_array_of_runs(kt, board):
    parent, _ = board
    runs = kt.ok("runs", parent, "--json").json
    assert len(runs) == 1 and RUN_KEYS <= set(runs[0])
    assert (runs[0]["outcome"], runs[0]["profile"], runs[0]["summary"]) == ("completed", "amy", "done it")


def test_assignees_is_an_array_including_configured_profiles(kt, board):
    kt.paths.config.write_text("profiles:\n  idle-bot: {command: [echo]}\n")
    rows = kt.ok("assignees", "--json").json
    assert [(r["name"], r["configured"]) for r in rows] == [("amy", False), ("idle-bot", True)]
    assert all(set(r) == {"name", "configured", "counts"} and set(r["counts"]) == STATUS_KEYS for r in rows)
    assert rows[0]["counts"]["done"] == 1


def test_stats_object(kt, board, conn):
    stats = kt.ok("stats", "--json").json
    assert set(stats) == {"by_status", "by_assignee", "oldest_ready_age_seconds", "dispatcher"}
    assert set(stats["by_status"]) == STATUS_KEYS and stats["by_status"]["done"] == 1
    assert stats["by_assignee"]["amy"]["done"] == 1
    assert stats["dispatcher"] == {"leader": None, "last_tick_at": None, "live_workers": 0, "max_workers": 4,
                                   "hosts": []}
    holder = f"host:{os.getpid()}"
    lease.try_acquire(conn, holder)
    lease.record_tick(conn, holder, live_workers=2, max_workers=5)
    hosts.register(conn, "gpu-1", holder, profiles=["dev"], max_workers=5, lease_seconds=15)
    dispatcher = kt.ok("stats", "--json").json["dispatcher"]
    assert dispatcher["leader"] == holder and (dispatcher["live_workers"], dispatcher["max_workers"]) == (2, 5)
    assert isinstance(dispatcher["last_tick_at"], float)
    [host] = dispatcher["hosts"]
    assert set(host) == {"host_id", "pid", "alive", "lease_expires", "last_tick_at", "profiles", "live_workers",
                         "max_workers"}
    assert (host["host_id"], host["pid"], host["alive"], host["profiles"]) == ("gpu-1", os.getpid(), True, ["dev"])
    assert kt.ok("hosts", "--json").json == [host]


def test_write_verbs_print_kernel_results(kt, board):
    parent, child = board
    other = kt.create("other")
    assert kt.ok("assign", child, "bob", "--json").json == {"task_id": child, "assignee": "bob", "previous": None}
    assert kt.ok("edit", child, "--priority", "2", "--json").json == {"task_id": child, "changed": ["priority"]}
    assert kt.ok("link", child, other, "--json").json == {"parent": child, "child": other, "child_status": "todo"}
    assert kt.ok("unlink", child, other, "--json").json["child_status"] == "ready"
    claim = kt.ok("claim", other, "--json").json
    assert set(claim) == {"task_id", "run_id", "claim_expires", "assignee"}
    assert set(kt.ok("heartbeat", other, "--json").json) == {"task_id", "run_id", "claim_expires"}
    assert set(kt.ok("comment", other, "hi", "--json").json) == {"task_id", "comment_id"}
    assert kt.ok("block", other, "why", "--json").json == [{"task_id": other, "run_id": claim["run_id"]}]
    assert kt.ok("unblock", other, "--json").json == [{"task_id": other, "status": "ready"}]
    assert kt.ok("complete", other, child, "--json").json == [
        {"task_id": other, "run_id": None, "promoted": []}, {"task_id": child, "run_id": None, "promoted": []}]
    assert kt.ok("archive", other, "--json").json == [{"task_id": other, "promoted": []}]


def test_notify_list_is_an_array(kt, board):
    parent, _ = board
    kt.ok("notify-subscribe", parent, "--platform", "tg", "--chat-id", "9", "--json")
    subs = kt.ok("notify-list", "--json").json
    assert len(subs) == 1 and {"task_id", "platform", "chat_id", "thread_id", "user_id", "created_at"} <= set(subs[0])


def test_hostile_text_is_verbatim_in_json_and_escaped_in_plain_output(kt):
    task_id = kt.ok("create", HOSTILE, "--body", f"line one\n{HOSTILE}", "--json").json["id"]
    kt.ok("comment", task_id, HOSTILE)
    raw = kt.ok("show", task_id, "--json").out
    assert "✓" in raw  # not \u2713: text is carried as is
    detail = json.loads(raw)
    assert detail["task"]["title"] == HOSTILE and detail["comments"][0]["body"] == HOSTILE
    for argv in (["list"], ["show", task_id]):
        plain = kt.ok(*argv).out
        assert "\x1b" not in plain and "\u202e" not in plain
        assert "\\x1b[31mred\\x1b[0m [bold]markup[/bold] \\u202eevil ✓" in plain
    assert "Body\n  line one\n  \\x1b[31m" in kt.ok("show", task_id).out


def test_tail_and_watch_json_lines(kt, conn, monkeypatch):
    task_id = kt.create("x", "--assignee", "amy")
    steps = [lambda: transitions.comment(conn, task_id, "live")]

    def fake_sleep(seconds):
        if not steps:
            raise KeyboardInterrupt
        steps.pop()()

    monkeypatch.setattr(read_cmds.time, "sleep", fake_sleep)
    events = [json.loads(line) for line in kt("tail", task_id, "--json").out.splitlines()]
    assert [e["kind"] for e in events] == ["created", "commented"]
    assert all(set(e) == EVENT_KEYS for e in events)

    steps.append(lambda: transitions.comment(conn, task_id, "again"))
    watched = [json.loads(line) for line in kt("watch", "--json").out.splitlines()]
    assert [(e["kind"], e["assignee"]) for e in watched] == [("commented", "amy")]
    assert set(watched[0]) == EVENT_KEYS | {"assignee"}


def test_no_read_verb_shows_a_runs_claim_lock(kt, conn):
    task_id = kt.create("secret holder", "--assignee", "dev")
    claimed = kt.ok("claim", task_id, "--json")
    lock = conn.execute("SELECT claim_lock FROM task_runs WHERE id = ?", (claimed.json["run_id"],)).fetchone()[0]
    kt.ok("heartbeat", task_id, "--note", "alive")
    assert lock not in claimed.out
    for argv in (["show", task_id, "--json"], ["show", task_id], ["list", "--json"], ["runs", task_id, "--json"],
                 ["context", task_id], ["stats", "--json"]):
        assert lock not in kt.ok(*argv).out, argv


def test_retry_at_is_set_by_a_failed_run_and_cleared_by_the_next_claim(kt):
    kt.paths.config.write_text('{"profiles": {"bot": {"command": ["/nonexistent/agent"]}}}')
    task = kt.create("x", "--assignee", "bot")
    assert kt.ok("show", task, "--json").json["task"]["retry_at"] is None
    before = time.time()
    assert kt.ok("dispatch", "--json").json["spawn_failed"] == [task]
    retry_at = kt.ok("list", "--json").json[0]["retry_at"]
    assert before + 1.5 <= retry_at <= time.time() + 2.5
    kt.ok("claim", task)
    assert kt.ok("show", task, "--json").json["task"]["retry_at"] is None
