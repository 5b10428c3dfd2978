"""The leader lease, the Dispatcher thread and headless `--dispatch-only` processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
from harness import PYTHON, complete

from kanban_tui.kernel import db, lease

N = 1_800_000_000.0
HOST = socket.gethostname()


@pytest.fixture
def stranger():
    """A live process on this host that is not us: its pid makes a believable other holder."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


# ---------------------------------------------------------------- the lease row

def test_lease_is_exclusive_until_it_expires(conn, stranger):
    other = f"{HOST}:{stranger.pid}"
    me = lease.local_holder()
    assert lease.try_acquire(conn, other, now=N)
    assert not lease.try_acquire(conn, me, now=N + 1)
    assert not lease.renew(conn, me, now=N + 1)
    assert lease.status(conn, now=N + 1)["leader"] == other
    assert lease.renew(conn, other, now=N + 5)
    assert not lease.try_acquire(conn, me, now=N + 14)
    assert lease.status(conn, now=N + 15.1) is None
    assert lease.try_acquire(conn, me, now=N + 15.1)
    assert lease.status(conn, now=N + 16)["leader"] == me


def test_lease_of_a_dead_process_on_this_host_is_taken_at_once(conn):
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert lease.try_acquire(conn, f"{HOST}:{proc.pid}", now=N)
    assert lease.status(conn, now=N) is None
    assert lease.try_acquire(conn, lease.local_holder(), now=N + 1)


def test_a_holder_on_another_host_is_trusted_until_expiry(conn):
    assert lease.try_acquire(conn, "elsewhere:1", now=N)
    assert not lease.try_acquire(conn, lease.local_holder(), now=N + 9)
    assert lease.try_acquire(conn, lease.local_holder(), now=N + 10)


def test_record_tick_release_and_nudge(conn, home):
    me = lease.local_holder()
    lease.try_acquire(conn, me, now=N)
    lease.record_tick(conn, me, live_workers=2, max_workers=4, now=N + 1)
    assert lease.status(conn, now=N + 2) == {"leader": me, "last_tick_at": N + 1, "live_workers": 2,
                                             "max_workers": 4}
    lease.release(conn, me)
    assert lease.status(conn, now=N + 2) is None
    watcher = db.connect(home.db)
    before = db.data_version(watcher)
    lease.nudge(conn)
    lease.nudge(conn)
    assert db.data_version(watcher) != before
    assert conn.execute("SELECT value FROM settings WHERE key = 'nudge'").fetchone()[0] == "2"
    watcher.close()


# ---------------------------------------------------------------- the Dispatcher thread

def wait_leading(board, runner):
    return board.wait_for(lambda: runner.status()["role"] == "leader", timeout=5, what="leadership")


def test_leader_spawns_new_ready_work_without_a_nudge(board):
    board.configure(interval=60)
    runner = board.start()
    wait_leading(board, runner)
    began = time.monotonic()
    task = board.create("fresh", complete("quick"), assignee="dev")
    board.wait_for(lambda: board.task(task)["worker_pid"], timeout=2, what="the spawn")
    assert time.monotonic() - began < 0.5
    board.wait_for(lambda: board.status(task) == "done", what="completion")
    status = runner.status()
    assert status["leader"] == runner.holder and status["max_workers"] == 4
    assert status["last_tick_at"] is not None
    assert lease.status(board.conn)["leader"] == runner.holder


def test_leader_notices_its_own_worker_dying_at_once(board):
    board.configure(interval=60)
    runner = board.start()
    wait_leading(board, runner)
    task = board.create("doomed", [{"do": "print", "text": "up"}, {"do": "hang"}], assignee="dev")
    pid = board.wait_for(lambda: board.task(task)["worker_pid"], what="the spawn")
    board.wait_for(lambda: "up" in board.paths.log_for(task).read_text(), what="the worker to start")
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    board.wait_for(lambda: "crashed" in board.kinds(task), timeout=2, what="the crash")
    assert time.monotonic() - killed < 0.5
    assert board.events(task)[board.kinds(task, skip=()).index("crashed")]["payload"]["signal"] == "SIGKILL"


def test_observer_nudges_the_leader_and_takes_over_when_it_stops(board, stranger):
    board.configure(interval=60)
    leader = board.start()
    wait_leading(board, leader)
    observer = board.start(holder=f"{HOST}:{stranger.pid}")
    board.wait_for(lambda: observer.status()["leader"] == leader.holder, what="the observer to see the leader")
    assert observer.status()["role"] == "observer"
    ticked = leader.status()["last_tick_at"]
    observer.nudge()
    board.wait_for(lambda: leader.status()["last_tick_at"] != ticked, timeout=2, what="the nudged tick")
    assert board.conn.execute("SELECT value FROM settings WHERE key = 'nudge'").fetchone()[0] == "1"
    assert leader.stop()
    assert lease.status(board.conn) is None or lease.status(board.conn)["leader"] == observer.holder
    wait_leading(board, observer)


@pytest.mark.slow
def test_a_leader_that_lost_its_lease_stops_spawning(board):
    board.configure(interval=60)
    runner = board.start()
    wait_leading(board, runner)
    with board.conn:  # another process took this host id over (its holder looks alive elsewhere)
        board.conn.execute("UPDATE dispatchers SET holder = 'elsewhere:1', lease_expires = ?",
                           (time.time() + 60,))
    board.wait_for(lambda: runner.status()["role"] == "observer", timeout=8, what="the demotion")
    task = board.create("nobody spawns this", complete("x"), assignee="dev")
    time.sleep(0.3)
    assert board.status(task) == "ready"


def test_restart_adopts_live_workers_and_crashes_dead_ones(board):
    board.configure(interval=0.2)
    survivor = board.create("survivor", [{"do": "print", "text": "up"}, {"do": "sleep", "seconds": 1.0},
                                         {"do": "complete", "summary": "outlived the dispatcher"}],
                            assignee="dev")
    victim = board.create("victim", [{"do": "print", "text": "up"}, {"do": "hang"}], complete("second try"),
                          assignee="dev")
    first = board.start()
    for task in (survivor, victim):
        board.wait_for(lambda: "up" in board.paths.log_for(task).read_text()
                       if board.paths.log_for(task).exists() else False, what="both workers")
    assert first.stop()
    assert lease.status(board.conn) is None
    victim_pid = board.task(victim)["worker_pid"]
    os.kill(victim_pid, signal.SIGKILL)
    second = board.start()
    wait_leading(board, second)
    board.wait_for(lambda: board.status(survivor) == "done" and board.status(victim) == "done",
                   what="both tasks to finish")
    assert board.outcomes(survivor) == ["completed"]
    assert board.outcomes(victim) == ["crashed", "completed"]
    crash = next(e for e in board.events(victim) if e["kind"] == "crashed")["payload"]
    assert crash["pid"] == victim_pid
    starts = Counter(entry["run_id"] for entry in board.trace() if entry["event"] == "start")
    assert all(count == 1 for count in starts.values()) and len(starts) == 3


# ---------------------------------------------------------------- headless processes

@pytest.mark.slow
def test_sigkilled_headless_dispatcher_is_replaced_and_nothing_runs_twice(board):
    board.configure(interval=0.3)
    slow = [board.create(f"slow {i}", [{"do": "print", "text": "up"}, {"do": "sleep", "seconds": 1.5},
                                       {"do": "complete", "summary": "survived"}], assignee="dev")
            for i in range(2)]
    victim = board.create("victim", [{"do": "print", "text": "up"}, {"do": "hang"}], complete("retried"),
                          assignee="dev")
    first = board.headless("first")
    for task in (*slow, victim):
        board.wait_for(lambda: board.paths.log_for(task).exists() and "up" in board.paths.log_for(task).read_text(),
                       what="the workers")
    first.kill()
    first.wait()
    os.kill(board.task(victim)["worker_pid"], signal.SIGKILL)
    began = time.monotonic()
    board.headless("second")
    board.wait_for(lambda: "crashed" in board.kinds(victim), timeout=5, what="the dead worker to be crashed")
    assert time.monotonic() - began < 3  # the dead holder's lease is taken at once, not after 10 s
    board.wait_for(lambda: all(board.status(t) == "done" for t in (*slow, victim)), timeout=15, what="the rest")
    assert [board.outcomes(t) for t in slow] == [["completed"], ["completed"]]
    assert board.outcomes(victim) == ["crashed", "completed"]
    starts = Counter(entry["task_id"] for entry in board.trace() if entry["event"] == "start")
    assert starts == Counter({slow[0]: 1, slow[1]: 1, victim: 2})


def test_headless_stops_on_sigterm_and_leaves_workers_running(board):
    board.configure(interval=0.2)
    task = board.create("long", [{"do": "print", "text": "up"}, {"do": "sleep", "seconds": 0.8},
                                 {"do": "complete", "summary": "finished alone"}], assignee="dev")
    proc = board.headless()
    board.wait_for(lambda: board.paths.log_for(task).exists() and "up" in board.paths.log_for(task).read_text(),
                   what="the worker")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert lease.status(board.conn) is None
    assert board.status(task) == "running"
    board.wait_for(lambda: board.status(task) == "done", what="the orphaned worker to finish")
    log = board.headless_log()
    assert "leading" in log and "spawned " + task in log and "lease released" in log


def test_headless_refuses_a_malformed_config_in_one_line(board):
    board.paths.config.write_text("dispatch: {interval_seconds: -1}\n")
    done = subprocess.run([PYTHON, "-m", "kanban_tui", "--home", str(board.paths.home), "--dispatch-only"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "interval_seconds" in done.stderr


def test_headless_refuses_an_unusable_database_in_one_line(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database\n" * 20)
    done = subprocess.run([PYTHON, "-m", "kanban_tui", "--db", str(garbage), "--home", str(tmp_path / "h"),
                           "--dispatch-only"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "not an SQLite database" in done.stderr


def test_one_shot_dispatch_nudges_a_running_leader(board):
    board.configure(interval=60)
    runner = board.start()
    wait_leading(board, runner)
    done = subprocess.run([sys.executable, "-m", "kanban_tui", "--home", str(board.paths.home), "dispatch",
                           "--json"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["leader"] == runner.holder and report["nudged"] is True and report["spawned"] == []


def test_one_shot_dispatch_leads_for_its_tick_and_releases(board):
    task = board.create("one shot", complete("done by one shot"), assignee="dev")
    done = subprocess.run([sys.executable, "-m", "kanban_tui", "--home", str(board.paths.home), "dispatch",
                           "--json"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [item["task_id"] for item in report["spawned"]] == [task] and "nudged" not in report
    assert lease.status(board.conn) is None
    board.wait_for(lambda: board.status(task) == "done", what="the worker")
