import os
import signal
import subprocess
import sys
import time

from kanban_tui.kernel import procs

IGNORE_TERM = ("import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
               "print(os.getpid(), flush=True); time.sleep(60)")


def start_group(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)


def wait_for_start_time(pid: int) -> float:
    started_at = procs.start_time(pid)
    assert started_at is not None
    return started_at


def test_start_time_and_is_alive_of_a_live_process():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        started_at = wait_for_start_time(proc.pid)
        assert abs(started_at - time.time()) < 5
        assert procs.is_alive(proc.pid, started_at)
        assert procs.is_alive(proc.pid, None)
    finally:
        proc.kill()
        proc.wait()


def test_is_alive_refuses_a_mismatched_start_time():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        started_at = wait_for_start_time(proc.pid)
        assert not procs.is_alive(proc.pid, started_at - 1.0)
        assert not procs.is_alive(proc.pid, started_at + 0.05)
    finally:
        proc.kill()
        proc.wait()


def test_a_zombie_is_not_alive():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started_at = wait_for_start_time(proc.pid)
    deadline = time.monotonic() + 5
    while procs.start_time(proc.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.path.exists(f"/proc/{proc.pid}")  # unreaped: still a zombie
    assert not procs.is_alive(proc.pid, started_at)
    assert not procs.is_alive(proc.pid, None)
    proc.wait()


def test_gone_or_invalid_pids_are_not_alive():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert procs.start_time(proc.pid) is None
    assert not procs.is_alive(proc.pid, None)
    assert not procs.is_alive(0, None)
    assert not procs.is_alive(None, None)


def test_terminate_ends_a_sleeping_process_group():
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; sleep 60 & echo $!; wait"],
                              stdout=subprocess.PIPE, start_new_session=True)
    children = [int(leader.stdout.readline()) for _ in range(2)]
    started_at = wait_for_start_time(leader.pid)
    child_started = [wait_for_start_time(child) for child in children]
    began = time.monotonic()
    assert procs.terminate(leader.pid, started_at, grace=5.0)
    assert time.monotonic() - began < 2.0, "TERM was enough; no wait for the grace period"
    assert not procs.is_alive(leader.pid, started_at)
    assert not any(procs.is_alive(child, at) for child, at in zip(children, child_started))


def test_terminate_kills_group_members_that_outlive_their_leader():
    leader = start_group(f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {IGNORE_TERM!r}]); "
                         "import time; time.sleep(60)")
    grandchild = int(leader.stdout.readline())  # up, and ignoring TERM
    grandchild_started = wait_for_start_time(grandchild)
    started_at = wait_for_start_time(leader.pid)
    assert procs.terminate(leader.pid, started_at, grace=0.3)
    assert not procs.is_alive(grandchild, grandchild_started)


def test_terminate_escalates_to_sigkill_after_the_grace():
    proc = start_group(IGNORE_TERM)
    assert int(proc.stdout.readline()) == proc.pid
    started_at = wait_for_start_time(proc.pid)
    began = time.monotonic()
    assert procs.terminate(proc.pid, started_at, grace=0.3)
    assert time.monotonic() - began >= 0.3
    assert not procs.is_alive(proc.pid, started_at)


def test_terminate_never_signals_a_process_with_another_start_time():
    proc = start_group("import time; time.sleep(60)")
    try:
        started_at = wait_for_start_time(proc.pid)
        assert not procs.terminate(proc.pid, started_at - 10, grace=0.1)
        assert proc.poll() is None
        assert procs.is_alive(proc.pid, started_at)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_terminate_of_a_dead_process_returns_false():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not procs.terminate(proc.pid, None, grace=0.1)


def test_terminate_signals_only_the_pid_when_it_does_not_lead_a_group():
    proc = subprocess.Popen(["sleep", "60"])  # shares our process group
    started_at = wait_for_start_time(proc.pid)
    assert procs.terminate(proc.pid, started_at, grace=2.0)
    assert not procs.is_alive(proc.pid, started_at)
