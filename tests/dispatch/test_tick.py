"""One dispatcher tick at a time, with real worker processes and (mostly) a pinned clock."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from harness import PYTHON, complete

from kanban_tui.kernel import db, procs, queries, transitions
from kanban_tui.kernel.tick import tick
from kanban_tui.kernel.workers import Workers

N = 1_800_000_000.0
HANG = [{"do": "print", "text": "working"}, {"do": "hang"}]


def spawned_ids(report: dict) -> list[str]:
    return [item["task_id"] for item in report["spawned"]]


def tick_until(board, predicate, workers: Workers, timeout: float = 10.0, **options) -> dict:
    """Tick (real clock) until a report satisfies predicate; returns that report."""
    deadline = time.monotonic() + timeout
    while True:
        report = tick(board.conn, board.paths, board.config, workers=workers, **options)
        if predicate(report):
            return report
        assert time.monotonic() < deadline, "no tick did what was expected"
        time.sleep(0.02)


def test_spawns_by_priority_then_age_within_the_board_cap(board):
    board.configure(("dev", "qa"), max_workers=2)
    low = board.create("low", HANG, assignee="dev", priority=0, now=N)
    old = board.create("old", HANG, assignee="dev", priority=5, now=N + 1)
    new = board.create("new", HANG, assignee="qa", priority=5, now=N + 2)
    report = tick(board.conn, board.paths, board.config, now=N + 10)
    assert spawned_ids(report) == [old, new]
    assert board.status(low) == "ready"
    item = report["spawned"][0]
    assert item == {"task_id": old, "assignee": "dev", "workspace": str(board.paths.workspaces / old)}
    task = board.task(old)
    assert task["status"] == "running" and task["worker_pid"] and procs.is_alive(task["worker_pid"], None)
    assert board.kinds(old, skip=()) == ["created", "claimed", "spawned"]


def test_profile_cap_and_max_spawn(board):
    board.configure({"dev": {"max_workers": 1}, "qa": {}}, max_workers=4)
    dev = [board.create(f"dev {i}", HANG, assignee="dev", now=N + i) for i in range(2)]
    qa = [board.create(f"qa {i}", HANG, assignee="qa", now=N + 10 + i) for i in range(3)]
    report = tick(board.conn, board.paths, board.config, now=N + 20, max_spawn=2)
    assert spawned_ids(report) == [dev[0], qa[0]]
    report = tick(board.conn, board.paths, board.config, now=N + 21)
    assert spawned_ids(report) == [qa[1], qa[2]]
    assert board.status(dev[1]) == "ready"


def test_unassigned_and_nonspawnable_are_reported_and_noted_once(board):
    loose = board.create("nobody's", now=N)
    ghost = board.create("ghost's", assignee="ghost", now=N + 1)
    for offset in (10, 11):
        report = tick(board.conn, board.paths, board.config, now=N + offset)
        assert report["skipped_unassigned"] == [loose]
        assert report["skipped_nonspawnable"] == [ghost]
        assert report["spawned"] == []
    noted = [e for e in board.events(ghost) if e["kind"] == "skipped_nonspawnable"]
    assert [e["payload"] for e in noted] == [{"assignee": "ghost"}]


def test_default_command_serves_assignees_without_a_profile(board):
    board.configure(("dev",), default_command=[PYTHON, "-c", "import time; time.sleep(30)", "{profile}"])
    task = board.create("anyone", assignee="someone", now=N)
    report = tick(board.conn, board.paths, board.config, now=N + 1)
    assert spawned_ids(report) == [task]
    pid = board.task(task)["worker_pid"]
    board.wait_for(lambda: "someone" in procs_cmdline(pid), what="the default command to run")
    transitions.archive(board.conn, task)  # stops the worker


def procs_cmdline(pid: int) -> list[str]:
    import psutil

    return psutil.Process(pid).cmdline()


def test_circuit_breaker_retries_after_about_2s_then_4s_then_gives_up(board):
    board.configure({"deploy-bot": {"command": ["/nonexistent/deploy-agent", "{task_id}"]}}, interval=60)
    task = board.create("Deploy to staging (missing creds)", assignee="deploy-bot", tenant="ops", now=N)
    report = tick(board.conn, board.paths, board.config, now=N)
    assert report["spawn_failed"] == [task] and report["spawned"] == []
    first = board.task(task)
    assert first["status"] == "ready" and N + 1.5 <= first["retry_at"] <= N + 2.5  # ~2 s, jittered
    # ticks before the retry time leave it alone (no spin); the first tick after it retries
    assert tick(board.conn, board.paths, board.config, now=N + 1.4)["spawn_failed"] == []
    assert tick(board.conn, board.paths, board.config, now=first["retry_at"])["spawn_failed"] == [task]
    second = board.task(task)["retry_at"]
    assert first["retry_at"] + 3 <= second <= first["retry_at"] + 5  # doubled: ~4 s
    report = tick(board.conn, board.paths, board.config, now=second)
    assert report["auto_blocked"] == [task]
    assert board.task(task)["retry_at"] is None
    assert tick(board.conn, board.paths, board.config, now=N + 999)["spawned"] == []

    assert board.kinds(task, skip=()) == ["created", "claimed", "spawn_failed", "claimed", "spawn_failed",
                                          "claimed", "gave_up"]
    runs = board.runs(task)
    assert [r["outcome"] for r in runs] == ["spawn_failed", "spawn_failed", "gave_up"]
    assert all("/nonexistent/deploy-agent" in r["error"] for r in runs)
    gave_up = board.events(task)[-1]["payload"]
    assert gave_up["trigger"] == "spawn_failed" and gave_up["failures"] == 3 and gave_up["limit"] == 3
    assert board.task(task)["status"] == "blocked"


def test_failure_limit_option_overrides_config(board):
    board.configure({"deploy-bot": {"command": ["/nonexistent/agent"]}})
    task = board.create("deploy", assignee="deploy-bot", now=N)
    report = tick(board.conn, board.paths, board.config, now=N, failure_limit=1)
    assert report["auto_blocked"] == [task]
    assert board.outcomes(task) == ["gave_up"]


def test_exit_statuses_of_own_children(board):
    board.configure(interval=60)  # no retries while we look
    crash = board.create("crash", [{"do": "exit", "code": 3}], assignee="dev")
    silent = board.create("silent", [{"do": "exit", "code": 0}], assignee="dev")
    oom = board.create("oom", [{"do": "print", "text": "OOM kill at row 2.3M"},
                               {"do": "kill_self", "signal": "SIGKILL"}], assignee="dev")
    workers = Workers()
    tick(board.conn, board.paths, board.config, workers=workers)
    seen: dict[str, list[str]] = {"crashed": [], "protocol_violations": []}

    def all_ended(report: dict) -> bool:
        for key in seen:
            seen[key] += report[key]
        return len(seen["crashed"]) + len(seen["protocol_violations"]) == 3

    tick_until(board, all_ended, workers)
    assert sorted(seen["crashed"]) == sorted([crash, oom]) and seen["protocol_violations"] == [silent]

    crashed = board.events(crash)[-1]
    assert crashed["kind"] == "crashed"
    assert crashed["payload"]["exit_code"] == 3 and crashed["payload"]["signal"] is None
    assert crashed["payload"]["pid"] == board.runs(crash)[0]["worker_pid"]
    killed = board.events(oom)[-1]["payload"]
    assert killed["signal"] == "SIGKILL" and killed["exit_code"] is None
    assert killed["error"].startswith("OOM kill at row 2.3M (process ") and "SIGKILL" in killed["error"]
    violation = board.events(silent)[-1]
    assert violation["kind"] == "protocol_violation"
    assert {k: violation["payload"][k] for k in ("exit_code", "failures")} == {"exit_code": 0, "failures": 1}
    assert board.outcomes(silent) == ["protocol_violation"]
    assert board.status(silent) == "ready" and board.task(silent)["consecutive_failures"] == 1


def test_a_worker_that_completes_and_exits_is_not_a_failure(board):
    task = board.create("fine", complete("all good"), assignee="dev")
    workers = Workers()
    tick(board.conn, board.paths, board.config, workers=workers)
    board.wait_for(lambda: board.status(task) == "done", what="completion")
    board.wait_for(lambda: not board.live_worker_pids(), what="the worker to exit")
    report = tick(board.conn, board.paths, board.config, workers=workers)
    assert report["crashed"] == report["protocol_violations"] == []
    assert board.outcomes(task) == ["completed"]


def test_dead_worker_of_another_dispatcher_is_crashed_by_fingerprint(board):
    board.configure(interval=60)
    task = board.create("adopted", [{"do": "sleep", "seconds": 0.3}, {"do": "exit", "code": 1}], assignee="dev")
    tick(board.conn, board.paths, board.config, workers=Workers())
    stranger = Workers()  # a later dispatcher: the worker is not its child
    assert tick(board.conn, board.paths, board.config, workers=stranger)["crashed"] == []
    report = tick_until(board, lambda r: r["crashed"], stranger)
    assert report["crashed"] == [task]
    payload = board.events(task)[-1]["payload"]
    assert payload["exit_code"] is None and payload["signal"] is None
    assert f"process {payload['pid']} gone" in payload["error"]


def test_max_runtime_terminates_a_hanging_worker(board):
    task = board.create("hang", HANG, assignee="dev", max_runtime=1, now=N)
    workers = Workers()
    tick(board.conn, board.paths, board.config, now=N, workers=workers)
    pid = board.task(task)["worker_pid"]
    report = tick(board.conn, board.paths, board.config, now=N + 2, workers=workers)
    assert report["timed_out"] == [task]
    assert not procs.is_alive(pid, None)
    event = board.events(task)[-1]
    assert event["kind"] == "timed_out"
    assert {k: event["payload"][k] for k in ("pid", "elapsed_seconds", "limit_seconds", "sigkill")} == \
        {"pid": pid, "elapsed_seconds": 2.0, "limit_seconds": 1, "sigkill": False}
    assert board.outcomes(task) == ["timed_out"]


@pytest.mark.slow
def test_max_runtime_kills_a_worker_that_ignores_sigterm(board):
    task = board.create("stubborn", [{"do": "ignore_term"}, {"do": "print", "text": "deaf"}, {"do": "hang"}],
                        assignee="dev", max_runtime=1, now=N)
    workers = Workers()
    tick(board.conn, board.paths, board.config, now=N, workers=workers)
    board.wait_for(lambda: "deaf" in board.paths.log_for(task).read_text(), what="the worker to ignore TERM")
    report = tick(board.conn, board.paths, board.config, now=N + 3, workers=workers)
    assert report["timed_out"] == [task]
    assert board.events(task)[-1]["payload"]["sigkill"] is True


def test_expired_lease_without_a_worker_is_reclaimed(board):
    task = board.create("claimed by hand", now=N)
    transitions.claim(board.conn, task, ttl=10, now=N)
    assert tick(board.conn, board.paths, board.config, now=N + 9)["reclaimed"] == []
    report = tick(board.conn, board.paths, board.config, now=N + 11)
    assert report["reclaimed"] == [task]
    assert board.status(task) == "ready"
    assert board.events(task)[-1]["payload"] == {"manual": False, "reason": "claim lease expired",
                                                 "error": "claim lease expired", "failures": 1}
    assert board.outcomes(task) == ["reclaimed"]
    # such reclaims count toward the breaker like crashes
    assert board.task(task)["consecutive_failures"] == 1 and board.task(task)["retry_at"] > N + 11
    transitions.claim(board.conn, task, ttl=10, now=N + 20)
    tick(board.conn, board.paths, board.config, now=N + 31)
    transitions.claim(board.conn, task, ttl=10, now=N + 40)
    assert tick(board.conn, board.paths, board.config, now=N + 51)["auto_blocked"] == [task]
    assert board.outcomes(task) == ["reclaimed", "reclaimed", "gave_up"]
    assert board.events(task)[-1]["payload"]["trigger"] == "reclaimed"


def test_expired_lease_of_a_live_worker_is_extended_heartbeat_or_not(board):
    board.configure(claim_ttl=5)
    task = board.create("long job", HANG, assignee="dev", now=N)
    workers = Workers()
    tick(board.conn, board.paths, board.config, now=N, workers=workers)
    pid = board.task(task)["worker_pid"]
    transitions.heartbeat(board.conn, task, ttl=5, now=N + 3)
    assert board.task(task)["claim_expires"] == N + 8
    report = tick(board.conn, board.paths, board.config, now=N + 8.5, workers=workers)
    assert report["reclaimed"] == [] and board.task(task)["claim_expires"] == N + 13.5
    # no heartbeat since: still alive, so still extended (max runtime is what bounds a silent worker)
    report = tick(board.conn, board.paths, board.config, now=N + 14, workers=workers)
    assert report["reclaimed"] == [] and board.task(task)["claim_expires"] == N + 19
    assert procs.is_alive(pid, None) and board.status(task) == "running"
    card = queries.cards(board.conn, [task], now=N + 14)[0]
    assert card["stale_heartbeat"] and not card["claim_expired"]
    transitions.archive(board.conn, task)


def test_recompute_ready_promotes_and_the_child_is_spawned_in_the_same_tick(board):
    parent = board.create("parent", now=N)
    child = board.create("child", HANG, assignee="dev", parents=[parent], now=N + 1)
    # a parent finished outside transitions' own promotion (e.g. an older board): the tick catches up
    with board.conn:
        board.conn.execute("UPDATE tasks SET status = 'done' WHERE id = ?", (parent,))
    report = tick(board.conn, board.paths, board.config, now=N + 2)
    assert report["promoted"] == [child] and spawned_ids(report) == [child]


def test_dry_run_changes_nothing(board):
    board.configure({"deploy-bot": {"command": ["/nonexistent/agent"]}, "dev": {}})
    ready = board.create("ready", HANG, assignee="dev", now=N)
    broken = board.create("broken", assignee="deploy-bot", now=N + 1)
    stale = board.create("stale claim", now=N + 2)
    transitions.claim(board.conn, stale, ttl=1, now=N)
    before = db.read(board.conn, lambda c: c.execute("SELECT max(id) FROM task_events").fetchone()[0])
    report = tick(board.conn, board.paths, board.config, now=N + 5, dry_run=True)
    after = db.read(board.conn, lambda c: c.execute("SELECT max(id) FROM task_events").fetchone()[0])
    assert before == after
    assert spawned_ids(report) == [ready, broken] and report["reclaimed"] == [stale]
    assert report["spawned"][0]["workspace"] == str(board.paths.workspaces / ready)
    assert not (board.paths.workspaces / ready).exists()
    assert board.live_worker_pids() == []


def test_notifications_are_delivered_once_per_subscription_and_event(board, tmp_path):
    inbox = tmp_path / "inbox.jsonl"
    notifier = tmp_path / "notify.py"
    notifier.write_text(f"import sys\nopen({str(inbox)!r}, 'a').write(sys.stdin.read().strip() + '\\n')\n")
    board.configure(notify_command=[PYTHON, str(notifier)])
    task = board.create("watched", now=N)
    transitions.notify_subscribe(board.conn, task, platform="telegram", chat_id="42", now=N)
    transitions.notify_subscribe(board.conn, task, platform="slack", chat_id="ops", now=N)
    transitions.comment(board.conn, task, "not terminal", now=N + 1)
    transitions.complete(board.conn, task, summary="shipped", now=N + 2)
    for _ in range(2):
        tick(board.conn, board.paths, board.config, now=N + 3)
        board.wait_for(lambda: inbox.exists() and len(inbox.read_text().splitlines()) >= 2, what="notifications")
    time.sleep(0.2)
    messages = [json.loads(line) for line in inbox.read_text().splitlines()]
    assert len(messages) == 2
    assert {m["subscription"]["platform"] for m in messages} == {"telegram", "slack"}
    assert all(m["event"]["kind"] == "completed" and m["event"]["payload"] == {"summary": "shipped"}
               and m["task"]["title"] == "watched" for m in messages)
    board.wait_for(lambda: db.read(board.conn, lambda c: c.execute(
        "SELECT count(*) FROM notify_deliveries WHERE ok = 1").fetchone()[0]) == 2, what="delivery records")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_worktree_task_retries_in_the_same_worktree(board, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "root"], check=True)
    task = board.create("in a worktree", [{"do": "exit", "code": 2}], complete("done"),
                        assignee="dev", workspace=f"worktree:{repo}")
    workers = Workers()
    tick(board.conn, board.paths, board.config, workers=workers)
    tick_until(board, lambda r: r["crashed"], workers)
    assert board.task(task)["workspace_path"] == str(repo)
    with board.conn:  # the crash left it ready; skip the wait for the next interval
        board.conn.execute("UPDATE tasks SET retry_after = NULL WHERE id = ?", (task,))
    tick(board.conn, board.paths, board.config, workers=workers)
    board.wait_for(lambda: board.status(task) == "done", what="the retry to complete")
    worktree = repo / ".worktrees" / task
    assert sorted(p.name for p in worktree.glob("context-*.md")) == ["context-1.md", "context-2.md"]


def test_worker_writes_survive_other_connections_in_the_dispatcher_process(board):
    """Regression: opening a second connection must not drop this process's SQLite locks."""
    extra = db.connect(board.paths.db)
    try:
        task = board.create("handoff", complete("kept"), assignee="dev")
        workers = Workers()
        tick(board.conn, board.paths, board.config, workers=workers)
        board.wait_for(lambda: not board.live_worker_pids() and board.trace(), what="the worker to finish")
        transitions.comment(extra, task, "after the worker")
        assert board.status(task) == "done"
        assert [e["kind"] for e in board.events(task)][-2:] == ["completed", "commented"]
    finally:
        extra.close()
    check = subprocess.run([sys.executable, "-c", (
        "import sys; from kanban_tui.kernel import db, queries; "
        f"c = db.connect({str(board.paths.db)!r}); print(queries.get_task(c, {task!r})['status'])")],
        capture_output=True, text=True, check=True)
    assert check.stdout.strip() == "done"


def test_an_operator_reclaim_signals_nothing_and_the_next_tick_stops_the_worker(board):
    """The reclaim commits first and only marks the run, so the dispatcher never races it with
    `crashed`: a one-shot tick stops the marked worker and records `worker_stopped`."""
    task = board.create("reclaimed by hand", HANG, assignee="dev")
    workers = Workers()
    tick(board.conn, board.paths, board.config, workers=workers)
    pid, started_at = board.task(task)["worker_pid"], board.conn.execute(
        "SELECT worker_started_at FROM tasks WHERE id = ?", (task,)).fetchone()[0]
    board.wait_for(lambda: "working" in board.paths.log_for(task).read_text(), what="the worker to start")
    transitions.reclaim(board.conn, task, reason="operator")
    assert procs.is_alive(pid, started_at)
    assert tick(board.conn, board.paths, board.config, workers=workers)["crashed"] == []
    assert not procs.is_alive(pid, started_at)
    assert board.outcomes(task)[0] == "reclaimed"
    assert [e["payload"] for e in board.events(task) if e["kind"] == "worker_stopped"] == [
        {"pid": pid, "signal": "SIGTERM"}]


def test_a_worker_terminated_by_someone_else_is_crashed_at_once(board):
    task = board.create("killed from outside", HANG, assignee="dev")
    workers = Workers()
    tick(board.conn, board.paths, board.config, workers=workers)
    pid = board.task(task)["worker_pid"]
    board.wait_for(lambda: "working" in board.paths.log_for(task).read_text(), what="the worker to start")
    os.kill(pid, signal.SIGTERM)
    board.wait_for(lambda: not procs.is_alive(pid, None), what="the worker to die")
    assert tick(board.conn, board.paths, board.config, workers=workers)["crashed"] == [task]
    assert board.outcomes(task)[0] == "crashed"
    crashed, = [e["payload"] for e in board.events(task) if e["kind"] == "crashed"]
    assert crashed["signal"] == "SIGTERM"


def test_a_claim_orphaned_by_a_dead_dispatcher_is_crashed_not_stranded(board):
    board.configure(("dev",))
    orphan = board.create("orphan", HANG, assignee="dev", now=N)
    by_hand = board.create("claimed by a person", HANG, assignee="dev", now=N)
    transitions.claim(board.conn, orphan, claimer="gone-host:4242", now=N)
    transitions.claim(board.conn, by_hand, now=N)
    fresh = tick(board.conn, board.paths, board.config, now=N + 1)
    assert fresh["crashed"] == []  # within the lease TTL the claimer may still be starting it
    report = tick(board.conn, board.paths, board.config, now=N + 30)
    assert report["crashed"] == [orphan]
    assert board.outcomes(orphan) == ["crashed"]
    assert "gone-host:4242 stopped before starting a worker" in board.task(orphan)["last_failure_error"]
    assert board.status(by_hand) == "running"


def test_this_dispatchers_own_claim_without_a_worker_is_ended_at_the_next_tick(board):
    """What a failed record_spawn (a full disk) leaves: our claim, no worker. Not a lease later."""
    task = board.create("record failed", complete("done"), assignee="dev", now=N)
    transitions.claim(board.conn, task, claimer="this-host:1", now=N)
    report = tick(board.conn, board.paths, board.config, now=N + 0.1, holder="this-host:1")
    assert report["crashed"] == [task] and report["spawned"] == []
    assert board.task(task)["last_failure_error"] == "the dispatcher could not record its worker"
    assert board.status(task) == "ready" and board.task(task)["retry_at"] > N + 0.1
