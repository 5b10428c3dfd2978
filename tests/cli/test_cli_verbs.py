"""Every verb against a real board file: what it changes and what it prints."""

from __future__ import annotations

import pytest

import importlib.machinery
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import types
from contextlib import closing

from kanban_tui import cli
from kanban_tui.cli import read_cmds
from kanban_tui.kernel import db, hosts, lease, queries, transitions

ID = r"t_[0-9a-f]{8}"


def write_config(kt, text: str) -> None:
    kt.paths.config.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- init and homes

@pytest.mark.sqlite_only  # about the default database file in the home
def test_init_creates_a_private_home_with_a_commented_config(tmp_path, capsys):
    from kanban_tui.cli import main

    home = tmp_path / "fresh"
    assert main(["--home", str(home), "init"]) == 0
    out = capsys.readouterr().out
    assert "config.yaml (written, 0 profiles)" in out
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "kanban.db").stat().st_mode) == 0o600
    assert "dispatch:" in (home / "config.yaml").read_text()
    (home / "config.yaml").write_text("profiles:\n  bob: {command: [echo]}\n")
    assert main(["--home", str(home), "init"]) == 0
    assert "config.yaml (kept, 1 profile)" in capsys.readouterr().out


@pytest.mark.sqlite_only  # about the default database file in the home
def test_any_verb_initialises_a_fresh_home(tmp_path, capsys):
    from kanban_tui.cli import main

    home = tmp_path / "never-seen"
    assert main(["--home", str(home), "list"]) == 0
    assert capsys.readouterr().out == "No tasks.\n"
    assert (home / "kanban.db").is_file() and (home / "logs").is_dir() and (home / "workspaces").is_dir()


def test_db_pins_the_file_and_may_follow_the_verb(kt, tmp_path):
    elsewhere = tmp_path / "other.db"
    kt.ok("create", "pinned", "--db", str(elsewhere))
    assert elsewhere.is_file()
    assert "pinned" in kt.ok("--db", str(elsewhere), "list").out
    assert kt.ok("list").out == "No tasks.\n"


def test_no_verb_opens_the_board_through_run_app(kt, monkeypatch):
    calls = []
    app = types.ModuleType("kanban_tui.app")
    app.__spec__ = importlib.machinery.ModuleSpec("kanban_tui.app", None)
    app.run_app = lambda paths, config, run_verb: calls.append((paths, config, run_verb)) or 0
    monkeypatch.setitem(sys.modules, "kanban_tui.app", app)
    assert kt().code == 0
    (paths, config, run_verb), = calls
    assert paths == kt.paths and config.dispatch.max_workers == 4
    assert run_verb is cli.run  # the `:` line's runner is handed in: the app never imports the CLI
    with closing(db.connect(paths.db, migrate=False)) as board:
        assert db.schema_version(board) == db.SCHEMA_VERSION


# ---------------------------------------------------------------- create

def test_create_prints_id_status_assignee_and_warns_without_a_dispatcher(kt):
    result = kt.ok("create", "Write", "the", "docs", "--assignee", " Bob ")
    assert re.fullmatch(rf"Created {ID} \(ready, assignee=bob\)\n", result.out)
    assert result.err.startswith("kanban-tui: warning: no dispatcher is running")
    assert kt.ok("create", "unassigned").err == ""


def test_create_does_not_warn_while_a_dispatcher_leads(kt, conn):
    hosts.register(conn, "elsewhere", f"elsewhere:{os.getpid()}", profiles=None, max_workers=4, lease_seconds=15)
    assert kt.ok("create", "x", "--assignee", "bob").err == ""


def test_create_with_every_flag(kt, conn):
    parent = kt.create("parent", "--tenant", "acme")
    result = kt.ok("create", "child", "--body", "details", "--assignee", "dev", "--parent", parent[:6],
                   "--workspace", "dir:/srv/project", "--priority", "-3", "--idempotency-key", "k1",
                   "--max-runtime", "2h", "--created-by", "alice", "--skill", "py", "--skill", "sql")
    task_id = re.search(ID, result.out).group(0)
    task = queries.get_task(conn, task_id)
    assert task["status"] == "todo" and task["parents"] == [parent]
    assert task["tenant"] == "acme"  # inherited from the first parent
    assert (task["workspace_kind"], task["workspace_path"]) == ("dir", "/srv/project")
    assert task["priority"] == -3 and task["max_runtime_seconds"] == 7200
    assert task["created_by"] == "alice" and task["skills"] == ["py", "sql"]
    assert task["body"] == "details" and task["idempotency_key"] == "k1"


def test_create_triage_and_idempotency_key(kt):
    assert "(triage, assignee=-)" in kt.ok("create", "idea", "--triage").out
    first = kt.ok("create", "once", "--idempotency-key", "same").out
    again = kt.ok("create", "once", "--idempotency-key", "same").out
    assert again.startswith("Exists ") and again.split()[1] == first.split()[1]


def test_create_accepts_a_one_megabyte_body_file(kt, conn, tmp_path):
    body = ("line of markdown ✓\n" * 60_000)[:1_000_000]
    path = tmp_path / "body.md"
    path.write_text(body, encoding="utf-8")
    task_id = kt.create("big", "--body-file", str(path))
    assert queries.get_task(conn, task_id)["body"] == body


def test_create_reads_the_body_from_stdin(kt, conn):
    task_id = kt.ok("create", "piped", "--body-file", "-", "--json", stdin="from\nstdin\n").json["id"]
    assert queries.get_task(conn, task_id)["body"] == "from\nstdin\n"


def test_a_worker_creates_cards_as_its_profile_in_its_tenant(kt, conn, monkeypatch):
    own = kt.create("the worker's own card", "--assignee", "planner")
    kt.ok("claim", own)
    monkeypatch.setenv("KANBAN_TASK", own)
    monkeypatch.setenv("KANBAN_PROFILE", "ceo")  # declared, not proven: the run's profile signs
    monkeypatch.setenv("KANBAN_TENANT", "acme")
    task = queries.get_task(conn, kt.create("follow-up"))
    assert (task["created_by"], task["tenant"]) == ("planner", "acme")
    assert queries.get_task(conn, kt.create("elsewhere", "--tenant", "other"))["tenant"] == "other"
    refused = kt("create", "x", "--created-by", "boss")
    assert refused.code == 1 and "--created-by is refused inside a worker" in refused.err


def test_created_by_defaults_to_the_caller(kt, conn, monkeypatch):
    monkeypatch.setenv("USER", "carol")
    assert queries.get_task(conn, kt.create("mine"))["created_by"] == "carol"


# ---------------------------------------------------------------- list and show

def test_list_orders_by_column_then_priority_then_age(kt):
    done = kt.create("done one")
    kt.ok("complete", done)
    low = kt.create("low")
    high = kt.create("high", "--priority", "5")
    idea = kt.create("idea", "--triage")
    kt.ok("archive", kt.create("gone"))
    ids = [line.split()[0] for line in kt.ok("list").out.splitlines()[1:]]
    assert ids == [idea, high, low, done]
    assert [t["id"] for t in kt.ok("ls", "--json").json] == ids
    assert len(kt.ok("list", "--archived", "--json").json) == 5


def test_list_filters(kt, monkeypatch):
    bob = kt.create("b", "--assignee", "bob", "--tenant", "acme")
    kt.create("a", "--assignee", "alice")
    assert [t["id"] for t in kt.ok("list", "--assignee", "BOB", "--json").json] == [bob]
    assert [t["id"] for t in kt.ok("list", "--tenant", "acme", "--json").json] == [bob]
    assert kt.ok("list", "--status", "done", "--json").json == []
    monkeypatch.setenv("KANBAN_PROFILE", "bob")
    assert [t["id"] for t in kt.ok("list", "--mine", "--json").json] == [bob]
    monkeypatch.delenv("KANBAN_PROFILE")
    monkeypatch.setenv("USER", "alice")
    assert [t["title"] for t in kt.ok("list", "--mine", "--json").json] == ["a"]


def test_show_prints_a_readable_block(kt):
    parent = kt.create("parent")
    task_id = kt.create("the card", "--parent", parent, "--body", "# Heading\nsecond line",
                        "--assignee", "dev", "--skill", "py")
    child = kt.create("kid", "--parent", task_id)
    kt.ok("comment", task_id, "looks", "good", "--author", "rev")
    kt.ok("complete", parent)
    kt.ok("claim", task_id)
    kt.ok("block", task_id, "need", "creds")
    out = kt.ok("show", task_id[:7]).out
    assert out.startswith(f"{task_id}  the card\nstatus: blocked   priority: 0   assignee: dev")
    assert "Body\n  # Heading\n  second line" in out
    assert f"Parents\n  ID          STATUS  ASSIGNEE  TITLE\n  {parent}  done" in out
    assert f"Children\n  ID          STATUS  ASSIGNEE  TITLE\n  {child}  todo" in out
    assert "] rev\n    looks good" in out and "BLOCKED: need creds" in out
    assert "Runs\n  #  OUTCOME  PROFILE" in out and "   → need creds" in out
    assert re.search(r"\] blocked \{\"reason\": \"need creds\"\}", out)


# ---------------------------------------------------------------- changes

def test_assign_and_unassign(kt, conn):
    task_id = kt.create()
    assert kt.ok("assign", task_id, "Dev").out == f"Assigned {task_id} to dev (was -)\n"
    assert kt.ok("assign", task_id, "none").out == f"Unassigned {task_id} (was dev)\n"
    assert queries.get_task(conn, task_id)["assignee"] is None


def test_edit_title_body_and_priority(kt, conn, tmp_path):
    task_id = kt.create("old")
    assert kt.ok("edit", task_id, "--title", "new", "--priority", "4").out == f"Edited {task_id} (title, priority)\n"
    (tmp_path / "b.md").write_text("fresh body")
    kt.ok("edit", task_id, "--body-file", str(tmp_path / "b.md"))
    task = queries.get_task(conn, task_id)
    assert (task["title"], task["body"], task["priority"]) == ("new", "fresh body", 4)
    assert kt.ok("edit", task_id, "--title", "new").out == f"{task_id} unchanged\n"


def test_link_and_unlink_move_the_child(kt):
    parent, child = kt.create("p"), kt.create("c")
    assert kt.ok("link", parent, child).out == f"Linked {parent} -> {child} (child is todo)\n"
    assert kt.ok("unlink", parent, child).out == f"Unlinked {parent} -> {child} (child is ready)\n"


def test_claim_uses_the_configured_ttl_and_caps(kt, conn):
    write_config(kt, "dispatch: {max_workers: 2, claim_ttl_seconds: 120}\nprofiles:\n  bob: {max_workers: 1}\n")
    first, second, third = (kt.create(str(n), "--assignee", "bob") for n in range(3))
    before = time.time()
    assert re.match(rf"Claimed {first}: run \d+, lease until ", kt.ok("claim", first).out)
    assert 115 < queries.get_task(conn, first)["claim_expires"] - before < 125
    refused = kt("claim", second)
    assert refused.code == 1 and "profile bob is at its cap (1/1 running)" in refused.err
    other = kt.create("other", "--assignee", "amy")
    kt.ok("claim", other, "--ttl", "90s")
    refused = kt("claim", third)
    assert refused.code == 1 and "board cap reached (2/2" in refused.err


def test_heartbeat_extends_the_lease_with_a_note(kt, conn):
    task_id = kt.create()
    kt.ok("claim", task_id)
    assert kt.ok("heartbeat", task_id, "--note", "halfway").out.startswith(f"Heartbeat {task_id}: lease until ")
    assert queries.events(conn, task_id, kinds=["heartbeat"])[0]["payload"] == {"note": "halfway"}


def test_comment_signs_with_the_author_or_the_user(kt, conn, monkeypatch):
    task_id = kt.create()
    kt.ok("comment", task_id, "first", "--author", "rev")
    monkeypatch.setenv("USER", "dana")
    assert kt.ok("comment", task_id, "second", "thought").out == f"Commented on {task_id} as dana\n"
    assert [(c["author"], c["body"]) for c in queries.comments(conn, task_id)] == [
        ("rev", "first"), ("dana", "second thought")]


def test_a_worker_comments_as_its_profile_and_may_not_pick_an_author(kt, conn, monkeypatch):
    task_id = kt.create("x", "--assignee", "backend-dev")
    kt.ok("claim", task_id)
    monkeypatch.setenv("KANBAN_TASK", task_id)
    monkeypatch.setenv("KANBAN_PROFILE", "ceo")
    refused = kt("comment", task_id, "hi", "--author", "boss")
    assert refused.code == 1 and "--author is refused inside a worker" in refused.err
    kt.ok("comment", task_id, "hi")
    assert queries.comments(conn, task_id)[0]["author"] == "backend-dev"


def test_complete_several_ids_and_one_with_a_handoff(kt, conn):
    a, b = kt.create("a"), kt.create("b")
    child = kt.create("c", "--parent", a, "--parent", b)
    assert kt.ok("complete", a, b).out == f"Completed {a}\nCompleted {b} (promoted {child})\n"
    kt.ok("complete", child, "--summary", "shipped", "--metadata", '{"files": ["x.py"]}', "--result", "ok")
    run, = queries.runs(conn, child)
    assert (run["outcome"], run["summary"], run["metadata"]) == ("completed", "shipped", {"files": ["x.py"]})
    assert queries.get_task(conn, child)["result"] == "ok"


def test_complete_reports_each_refusal_and_finishes_the_rest(kt):
    done, fresh = kt.create("done"), kt.create("fresh")
    kt.ok("complete", done)
    result = kt("complete", done, fresh)
    assert result.code == 1
    assert result.out == f"Completed {fresh}\n"
    assert result.err == f"kanban-tui: cannot complete {done}: it is done (needs running or ready or blocked)\n"


def test_block_appends_the_reason_as_a_comment_and_takes_more_ids(kt, conn, monkeypatch):
    monkeypatch.setenv("USER", "ops")
    a, b = kt.create("a"), kt.create("b")
    assert kt.ok("block", a, "waiting", "for", "creds", "--ids", b).out == (
        f"Blocked {a}: waiting for creds\nBlocked {b}: waiting for creds\n")
    for task_id in (a, b):
        assert [(c["author"], c["body"]) for c in queries.comments(conn, task_id)] == [
            ("ops", "BLOCKED: waiting for creds")]
    assert kt.ok("unblock", a, b).out == f"Unblocked {a} (ready)\nUnblocked {b} (ready)\n"


def test_a_worker_may_only_change_its_own_task(kt, monkeypatch):
    mine, other = kt.create("mine"), kt.create("other")
    kt.ok("claim", mine)
    monkeypatch.setenv("KANBAN_TASK", mine)
    refused = kt("complete", other)
    assert refused.code == 1 and f"worker is scoped to task {mine}; refusing to mutate {other}" in refused.err
    assert kt("heartbeat", other).code == 1 and kt("block", other, "x").code == 1
    kt.ok("heartbeat", mine)


def test_a_worker_run_id_guards_its_completion(kt, conn, monkeypatch):
    task_id = kt.create()
    run_id = kt.ok("claim", task_id, "--json").json["run_id"]
    lock = conn.execute("SELECT claim_lock FROM task_runs WHERE id = ?", (run_id,)).fetchone()[0]
    kt.ok("reclaim", task_id)
    kt.ok("claim", task_id)
    monkeypatch.setenv("KANBAN_TASK", task_id)
    monkeypatch.setenv("KANBAN_RUN_ID", str(run_id))
    monkeypatch.setenv("KANBAN_CLAIM_LOCK", lock)
    refused = kt("complete", task_id, "--summary", "late")
    assert refused.code == 1 and f"run {run_id} is not its open run" in refused.err
    assert queries.get_task(conn, task_id)["status"] == "running"


def test_archive_reclaim_and_reassign(kt, conn):
    task_id = kt.create("x", "--assignee", "amy")
    kt.ok("claim", task_id)
    refused = kt("reassign", task_id, "bob")
    assert refused.code == 1 and "--reclaim" in refused.err
    assert kt.ok("reassign", task_id, "bob", "--reclaim", "--reason", "amy is stuck").out == (
        f"Reassigned {task_id} to bob (was amy)\n")
    runs = queries.runs(conn, task_id)
    assert [r["outcome"] for r in runs] == ["reclaimed"]
    kt.ok("claim", task_id)
    assert kt.ok("reclaim", task_id, "--reason", "hung").out == (
        f"Reclaimed {task_id}: run {runs[0]['id'] + 1} closed, now ready\n")
    assert kt.ok("archive", task_id).out == f"Archived {task_id}\n"
    assert queries.get_task(conn, task_id)["status"] == "archived"


# ---------------------------------------------------------------- runs, log, context

def test_runs_prints_rows_with_summary_and_error_lines(kt, conn):
    task_id = kt.create("x", "--assignee", "amy")
    run_id = kt.ok("claim", task_id, "--json").json["run_id"]
    transitions.end_run_failed(conn, task_id, run_id, "crashed", error="exit 3")
    kt.ok("claim", task_id)
    kt.ok("complete", task_id, "--summary", "second try\nworked")
    lines = kt.ok("runs", task_id).out.splitlines()
    assert re.fullmatch(r"#  OUTCOME    PROFILE  ELAPSED  STARTED", lines[0])
    assert re.fullmatch(r"1  crashed    amy      \d+s +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[1])
    assert lines[2] == "   ! exit 3"
    assert lines[3].startswith("2  completed  amy")
    assert lines[4:] == ["   → second try", "     worked"]
    assert kt.ok("runs", kt.create("new")).out.endswith("has no runs yet.\n")


def test_log_prints_the_worker_log_escaped_and_its_tail(kt):
    task_id = kt.create()
    kt.paths.log_for(task_id).write_bytes(b"start\n\x1b[2Jcleared?\nend\n")
    assert kt.ok("log", task_id).out == "start\n\\x1b[2Jcleared?\nend\n"
    assert kt.ok("log", task_id, "--tail", "4").out == "end\n"


def test_context_prints_the_worker_context(kt):
    task_id = kt.create("ctx title", "--body", "do the thing")
    out = kt.ok("context", task_id).out
    assert out.startswith(f"# Kanban task {task_id}: ctx title") and "do the thing" in out


# ---------------------------------------------------------------- stats, assignees, notify, admin

def test_stats_and_assignees_include_configured_profiles(kt):
    write_config(kt, "profiles:\n  reviewer: {command: [echo]}\n")
    kt.create("x", "--assignee", "bob")
    out = kt.ok("stats").out
    assert out.startswith("Tasks: triage 0  todo 0  ready 1  running 0")
    assert "Dispatcher: none leading, workers 0/4" in out
    lines = kt.ok("assignees").out.splitlines()
    assert lines[0].split() == ["NAME", "CONFIGURED", "TRIAGE", "TODO", "READY", "RUNNING", "BLOCKED", "DONE"]
    assert lines[1].split() == ["bob", "no", "0", "0", "1", "0", "0", "0"]
    assert lines[2].split() == ["reviewer", "yes", "0", "0", "0", "0", "0", "0"]


def test_stats_shows_the_leader(kt, conn):
    lease.try_acquire(conn, f"box:{os.getpid()}")
    lease.record_tick(conn, f"box:{os.getpid()}", live_workers=1, max_workers=3)
    assert re.search(rf"Dispatcher: box:{os.getpid()}, last tick \d{{4}}-.*, workers 1/3", kt.ok("stats").out)


def test_hosts_lists_each_host_alive_or_lost(kt, conn):
    assert kt.ok("hosts").out.startswith("No host has run a dispatcher")
    now = time.time()
    hosts.register(conn, "gpu-1", f"gpu-box:{os.getpid()}", profiles=["trainer"], max_workers=2, lease_seconds=15)
    hosts.register(conn, "mac-1", "mac:1", profiles=None, max_workers=3, lease_seconds=15, now=now - 60)
    lines = kt.ok("hosts").out.splitlines()
    assert lines[0].split() == ["HOST", "STATE", "PID", "WORKERS", "PROFILES", "LAST", "TICK", "LEASE", "UNTIL"]
    assert lines[1].split()[:5] == ["gpu-1", "alive", str(os.getpid()), "0/2", "trainer"]
    assert lines[2].split()[:5] == ["mac-1", "lost", "1", "0/3", "any"]
    assert "Hosts: 1 alive · 0/2 workers" in kt.ok("stats").out


def test_host_id_is_checked_like_any_name(kt):
    done = kt("--host-id", "bad\x01id", "hosts")
    assert done.code == 2 and "--host-id must not contain control characters" in done.err


def test_notify_subscribe_list_unsubscribe(kt):
    task_id = kt.create()
    kt.ok("notify-subscribe", task_id, "--platform", "telegram", "--chat-id", "42", "--thread-id", "7")
    lines = kt.ok("notify-list", task_id).out.splitlines()
    assert lines[1].split()[:5] == [task_id, "telegram", "42", "7", "-"]
    assert kt.ok("notify-unsubscribe", task_id, "--platform", "telegram", "--chat-id", "42").out == (
        f"Unsubscribed telegram:42 from {task_id}\n")
    assert kt.ok("notify-list").out == "No subscriptions.\n"


def test_doctor_on_a_sound_board(kt):
    kt.create()
    assert kt.ok("doctor").out == "The board is sound.\n"
    assert kt.ok("doctor", "--json").json == []


@pytest.mark.corrupts_board
def test_doctor_prints_each_violation_and_exits_1(kt, conn):
    parent = kt.create("parent")
    child = kt.create("child", "--parent", parent)
    conn.execute("UPDATE tasks SET status = 'ready' WHERE id = ?", (child,))  # corrupt it behind the kernel
    result = kt("doctor")
    assert (result.code, result.out) == (1, f"{child}: ready while parents are open ({parent})\n")
    assert kt("doctor", "--json").code == 1


def test_gc_removes_old_logs_of_finished_tasks(kt):
    done, running = kt.create("done"), kt.create("running")
    kt.ok("complete", done)
    kt.ok("claim", running)
    old = time.time() - 3 * 86400
    for task_id in (done, running):
        kt.paths.log_for(task_id).write_text("output\n")
        os.utime(kt.paths.log_for(task_id), (old, old))
    report = kt.ok("gc", "--log-retention-days", "2", "--json").json
    assert set(report) == {"events_deleted", "logs_deleted", "workspaces_removed", "workspaces_skipped"}
    assert report["logs_deleted"] == 1
    assert not kt.paths.log_for(done).exists() and kt.paths.log_for(running).exists()
    assert kt.ok("gc").out.splitlines() == [
        "events deleted: 0", "logs deleted: 0", "workspaces removed: 0", "workspaces skipped: 0"]


# ---------------------------------------------------------------- tail and watch

def _stop_after(monkeypatch, *steps):
    """Make the follow loop's sleep run each step in turn, then stop it like Ctrl-C."""
    pending = list(steps)

    def fake_sleep(seconds):
        assert seconds == read_cmds.POLL_SECONDS
        if not pending:
            raise KeyboardInterrupt
        pending.pop(0)()

    monkeypatch.setattr(read_cmds.time, "sleep", fake_sleep)


def test_tail_prints_history_then_follows(kt, conn, monkeypatch):
    task_id = kt.create("x")
    other = kt.create("other")
    _stop_after(monkeypatch, lambda: transitions.comment(conn, task_id, "hey", author="amy"),
                lambda: transitions.comment(conn, other, "elsewhere"))
    result = kt("tail", task_id)
    assert result.code == 130
    lines = result.out.splitlines()
    assert re.fullmatch(r'\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] created \{"status": "ready", "assignee": null, '
                        r'"parents": \[\]\}', lines[0])
    assert re.fullmatch(r'\[.{19}\] commented \{"author": "amy", "comment_id": \d+\}', lines[1])
    assert len(lines) == 2


def test_watch_prints_new_events_board_wide_with_filters(kt, conn, monkeypatch):
    bob, amy = kt.create("b", "--assignee", "bob"), kt.create("a", "--assignee", "amy")
    _stop_after(monkeypatch, lambda: (transitions.comment(conn, bob, "one"), transitions.comment(conn, amy, "two"),
                                      transitions.claim(conn, bob)))
    lines = kt("watch").out.splitlines()
    assert [line.split()[2:4] for line in lines] == [[bob, "commented"], [amy, "commented"], [bob, "claimed"]]
    assert re.fullmatch(rf'\[.{{19}}\] {bob} commented \(@bob\) \{{"author": "operator", "comment_id": \d+\}}', lines[0])

    _stop_after(monkeypatch, lambda: (transitions.comment(conn, amy, "three"), transitions.heartbeat(conn, bob)))
    lines = kt("watch", "--assignee", "bob", "--kinds", "heartbeat,claimed").out.splitlines()
    assert [line.split()[3] for line in lines] == ["heartbeat"]


def test_tail_in_a_real_process_stops_quietly_on_ctrl_c(kt, conn):
    task_id = kt.create("live")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kanban_tui", "--home", str(kt.paths.home), "tail", task_id],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert " created " in proc.stdout.readline()
        transitions.comment(conn, task_id, "while tailing")
        assert " commented " in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait()


def test_the_installed_script_end_to_end(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "kanban-tui")
    home = str(tmp_path / "e2e")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([script, "--home", home, *args], capture_output=True, text=True, timeout=30)

    created = run("create", "from a shell", "--assignee", "ops")
    assert created.returncode == 0 and created.stdout.startswith("Created t_")
    task_id = created.stdout.split()[1]
    assert run("complete", task_id, "--summary", "fine").returncode == 0
    listed = run("list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["status"] == "done"
    missing = run("show", "t_ffffffff")
    assert (missing.returncode, missing.stderr) == (1, "kanban-tui: no task t_ffffffff\n")
