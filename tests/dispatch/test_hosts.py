"""Several hosts on one board: real `--dispatch-only` processes with their own host ids (and homes),
real scripted workers, real SIGKILL and SIGSTOP. On both stores: two host ids on one machine
share an SQLite file the way hosts share a PostgreSQL database; only the database coordinates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from harness import complete

from kanban_tui.kernel import hosts, transitions

pytestmark = pytest.mark.slow

LEASE = 3  # dispatch.host_lease_seconds in these tests: renewed every second, fenced at 2 s


def max_overlap(runs: list[dict]) -> int:
    """The most runs open at one moment (an open run counts to now)."""
    edges = sorted([(run["started_at"], 1) for run in runs] +
                   [(run["ended_at"] or time.time(), -1) for run in runs], key=lambda edge: (edge[0], edge[1]))
    most = open_now = 0
    for _, step in edges:
        open_now += step
        most = max(most, open_now)
    return most


def all_runs(board) -> list[dict]:
    return [dict(row) for row in board.conn.execute(
        "SELECT id, task_id, host_id, outcome, started_at, ended_at FROM task_runs ORDER BY id").fetchall()]


def reclaims(board, task_id: str) -> list[dict]:
    return [e["payload"] for e in board.events(task_id) if e["kind"] == "reclaimed"]


def cli(board, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_")}
    return subprocess.run([sys.executable, "-m", "kanban_tui", "--home", str(board.paths.home), "--db",
                           str(board.paths.db), *argv], env={**base, **(env or {})}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def test_a_live_host_id_is_refused_and_two_hosts_share_the_work(board):
    board.configure(interval=0.5, max_workers=3)
    first = board.headless("first", host_id="alpha")
    board.wait_for(lambda: "leading" in board.headless_log("first"), timeout=20, what="alpha to lead")
    twin = board.headless("twin", host_id="alpha")
    assert twin.wait(20) == 1
    assert board.headless_log("twin").splitlines() == [
        f"kanban-tui: host id 'alpha' is already served by a live dispatcher ({socket_holder(first)}); "
        "stop it, or give this one another --host-id"]
    second = board.headless("second", host_id="beta")
    tasks = [board.create(f"job {i}", [{"do": "sleep", "seconds": 0.2}, {"do": "complete", "summary": "ok"}],
                          assignee="dev") for i in range(30)]
    board.wait_for(lambda: all(board.status(t) == "done" for t in tasks), timeout=60, what="all jobs")
    starts = Counter(entry["task_id"] for entry in board.trace() if entry["event"] == "start")
    assert starts == Counter({task: 1 for task in tasks})  # each done exactly once
    runs = all_runs(board)
    assert {run["host_id"] for run in runs} == {"alpha", "beta"}
    for host_id in ("alpha", "beta"):
        assert max_overlap([run for run in runs if run["host_id"] == host_id]) <= 3  # each host's own cap
    listed = {host["host_id"]: host for host in hosts.listing(board.conn)}
    assert listed["alpha"]["alive"] and listed["beta"]["alive"] and listed["alpha"]["profiles"] == ["dev"]
    for proc in (first, second):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert [host["state"] for host in hosts.listing(board.conn)] == ["stopped", "stopped"]


def socket_holder(proc: subprocess.Popen) -> str:
    import socket

    return f"{socket.gethostname()}:{proc.pid}"


def test_profiles_route_to_the_host_that_serves_them_and_parents_promote_across_hosts(board):
    board.configure(("dev",), interval=0.3)
    ops_home = board.root / "ops-home"
    board.configure(("ops",), interval=0.3, home=ops_home)
    parent = board.create("build", [{"do": "sleep", "seconds": 0.3}, *complete("built")], assignee="dev")
    child = board.create("deploy", complete("deployed"), assignee="ops")
    stray = board.create("nobody serves this", complete("never"), assignee="nobody")
    transitions.link(board.conn, parent, child)
    board.headless("a", host_id="host-a")
    board.headless("b", host_id="host-b", home=ops_home)
    board.wait_for(lambda: board.status(child) == "done", timeout=30, what="the child on the other host")
    runs = {run["task_id"]: run for run in all_runs(board)}
    assert (runs[parent]["host_id"], runs[child]["host_id"]) == ("host-a", "host-b")
    assert "promoted" in board.kinds(child)
    time.sleep(1.5)  # several ticks of both hosts
    assert board.status(stray) == "ready"
    assert [e["kind"] for e in board.events(stray)].count("skipped_nonspawnable") == 1  # flagged once, not per host


def test_a_killed_host_is_reclaimed_within_its_lease_and_finished_elsewhere(board):
    board.configure(interval=60, host_lease_seconds=LEASE)  # the loss is a deadline, not left to the interval
    tasks = [board.create(f"long {i}", [{"do": "print", "text": "up"}, {"do": "hang"}], complete("second host"),
                          assignee="dev") for i in range(2)]
    doomed = board.headless("doomed", host_id="doomed")
    for task in tasks:
        board.wait_for(lambda task=task: board.paths.log_for(task).exists()
                       and "up" in board.paths.log_for(task).read_text(), timeout=20, what="the workers")
    old_runs = {task: board.task(task)["current_run_id"] for task in tasks}
    board.headless("survivor", host_id="survivor")
    board.wait_for(lambda: any(h["host_id"] == "survivor" and h["alive"] for h in hosts.listing(board.conn)),
                   timeout=20, what="the second host")
    pids = [board.task(task)["worker_pid"] for task in tasks]
    doomed.kill()  # the host dies with its workers
    for pid in pids:
        os.killpg(pid, signal.SIGKILL)
    killed = time.monotonic()
    board.wait_for(lambda: all(reclaims(board, task) for task in tasks), timeout=LEASE + 6, what="the reclaims")
    assert time.monotonic() - killed <= LEASE + 3
    for task in tasks:
        assert reclaims(board, task) == [{"manual": False, "reason": "host_lost", "host": "doomed"}]
    board.wait_for(lambda: all(board.status(task) == "done" for task in tasks), timeout=20, what="the retries")
    for task in tasks:
        assert board.outcomes(task) == ["reclaimed", "completed"]  # no failure counted
        assert board.task(task)["consecutive_failures"] == 0
        assert [run["host_id"] for run in board.runs(task)] == ["doomed", "survivor"]
    # the lost run's worker, had it lived, could not complete: its run id is refused
    task = tasks[0]
    lock = board.conn.execute("SELECT claim_lock FROM task_runs WHERE id = ?", (old_runs[task],)).fetchone()[0]
    stale = cli(board, "complete", task, "--summary", "late", env={
        "KANBAN_TASK": task, "KANBAN_RUN_ID": str(old_runs[task]), "KANBAN_CLAIM_LOCK": lock or "x"})
    assert stale.returncode == 1 and "Traceback" not in stale.stderr, stale.stderr
    assert board.outcomes(task) == ["reclaimed", "completed"]
    assert {h["host_id"]: h["state"] for h in hosts.listing(board.conn)}["doomed"] == "lost"


def test_a_live_host_is_never_robbed(board):
    board.configure(interval=0.3, host_lease_seconds=2)
    task = board.create("works long", [{"do": "heartbeat"}, {"do": "sleep", "seconds": 3}, {"do": "heartbeat"},
                                       {"do": "sleep", "seconds": 3}, *complete("kept my run")], assignee="dev")
    board.headless("a", host_id="a")
    board.wait_for(lambda: board.status(task) == "running", timeout=20, what="the claim")
    board.headless("b", host_id="b")
    board.wait_for(lambda: board.status(task) == "done", timeout=30, what="the long run")
    assert board.outcomes(task) == ["completed"]  # 3x the lease, one run


def test_a_host_stopped_past_its_lease_fences_itself(board):
    board.configure(interval=0.3, host_lease_seconds=LEASE)
    task = board.create("frozen host", [{"do": "print", "text": "up"}, {"do": "hang"}], complete("elsewhere"),
                        assignee="dev")
    frozen = board.headless("frozen", host_id="frozen")
    board.wait_for(lambda: board.paths.log_for(task).exists() and "up" in board.paths.log_for(task).read_text(),
                   timeout=20, what="the worker")
    pid = board.task(task)["worker_pid"]
    started = board.conn.execute("SELECT worker_started_at FROM tasks WHERE id = ?", (task,)).fetchone()[0]
    board.headless("other", host_id="other")
    frozen.send_signal(signal.SIGSTOP)
    try:
        board.wait_for(lambda: reclaims(board, task), timeout=LEASE + 6, what="the host-lost reclaim")
        board.wait_for(lambda: board.status(task) == "done", timeout=20, what="the other host's run")
    finally:
        frozen.send_signal(signal.SIGCONT)
    from kanban_tui.kernel import procs

    board.wait_for(lambda: not procs.is_alive(pid, started), timeout=5, what="the fenced host to stop its worker")
    board.wait_for(lambda: "claiming nothing until registered again" in board.headless_log("frozen"), timeout=5,
                   what="the fence in the log")
    assert board.outcomes(task) == ["reclaimed", "completed"]
    assert [run["host_id"] for run in board.runs(task)] == ["frozen", "other"]
    assert max_overlap(all_runs(board)) == 1  # the board never had two runs open for the card
    board.wait_for(lambda: {h["host_id"]: h["alive"] for h in hosts.listing(board.conn)}.get("frozen"),
                   timeout=10, what="the fenced host to register again")


@pytest.mark.postgres_only
@pytest.mark.parametrize("count", [2, 3])
def test_hosts_drain_a_backlog_of_200_exactly_once_within_caps(board, count):
    board.configure(interval=0.5, max_workers=2)
    names = [f"h{n}" for n in range(1, count + 1)]
    for host_id in names:
        board.headless(host_id, host_id=host_id)
    tasks = [board.create(f"job {i}", complete("ok"), assignee="dev") for i in range(200)]
    board.wait_for(lambda: all(board.status(t) == "done" for t in tasks), timeout=240, what="the backlog")
    starts = Counter(entry["task_id"] for entry in board.trace() if entry["event"] == "start")
    assert starts == Counter({task: 1 for task in tasks})  # every task done exactly once
    runs = all_runs(board)
    assert len(runs) == 200 and {run["host_id"] for run in runs} == set(names)  # every host used
    for task in tasks:
        assert max_overlap([run for run in runs if run["task_id"] == task]) == 1
    for host_id in names:
        assert max_overlap([run for run in runs if run["host_id"] == host_id]) <= 2  # caps never exceeded

def test_a_nudge_reaches_every_host(board):
    board.configure(interval=60)
    for host_id in ("n1", "n2"):
        board.headless(host_id, host_id=host_id)
    board.wait_for(lambda: len([h for h in hosts.live(board.conn) if h["last_tick_at"]]) == 2, timeout=20,
                   what="both hosts' first ticks")
    before = {h["host_id"]: h["last_tick_at"] for h in hosts.live(board.conn)}
    nudged = cli(board, "--host-id", "n1", "dispatch", "--json")
    assert nudged.returncode == 0 and '"nudged": true' in nudged.stdout, nudged.stderr
    board.wait_for(lambda: all(h["last_tick_at"] > before[h["host_id"]] for h in hosts.live(board.conn)),
                   timeout=3, what="both hosts to tick")


@pytest.mark.postgres_only
def test_a_dispatcher_wakes_on_notify_and_after_its_sessions_are_dropped(board):
    board.configure(interval=60)
    runner = board.start()
    board.wait_for(lambda: runner.status()["role"] == "leader", timeout=10, what="leadership")
    time.sleep(0.3)
    began = time.monotonic()
    first = board.create("woken by notify", complete("quick"), assignee="dev")
    board.wait_for(lambda: board.task(first)["worker_pid"], timeout=3, what="the spawn")
    assert time.monotonic() - began < 0.5
    board.wait_for(lambda: board.status(first) == "done", timeout=20, what="the first card")
    dropped = board.conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert dropped >= 2  # the dispatcher's session and its LISTEN session
    began = time.time()
    second = board.create("after the drop", complete("still"), assignee="dev")
    board.wait_for(lambda: board.status(second) == "done", timeout=20, what="the card after the drop")
    assert board.runs(second)[0]["started_at"] - began < 1.5  # re-synced, not left to the 60 s interval
