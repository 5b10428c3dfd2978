"""Process identity (pid + start time) and termination of worker process groups.

A pid alone is not an identity: after a restart the number may belong to someone else.
Every check here compares psutil's create_time with the one recorded at spawn, and
nothing is ever signalled unless it matches.
"""

from __future__ import annotations

import os
import signal
import time

START_TIME_TOLERANCE = 0.01  # create_time has clock-tick (10 ms) resolution on Linux
KILL_WAIT = 2.0
POLL_INTERVAL = 0.02


def start_time(pid: int) -> float | None:
    """The process's create_time, or None when it is gone, a zombie or not ours to inspect."""
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc.create_time()
    except psutil.Error:
        return None


def is_alive(pid: int | None, started_at: float | None) -> bool:
    """True when pid runs (not a zombie) and, if started_at is given, is that same process."""
    if not pid or pid <= 0:
        return False
    actual = start_time(pid)
    if actual is None:
        return False
    return started_at is None or abs(actual - started_at) <= START_TIME_TOLERANCE


def terminate(pid: int, started_at: float | None, grace: float = 5.0) -> bool:
    """SIGTERM the worker (its whole process group when it leads one), wait up to `grace`
    seconds, then SIGKILL. True when it was alive and is now gone.

    When the worker is our child it is reaped here, so a subprocess.Popen still holding it
    will report returncode 0 afterwards (ECHILD): callers that need the real exit status
    should not rely on Popen after terminate().
    """
    if not is_alive(pid, started_at):
        return False
    group = leads_own_group(pid)
    send(pid, group, signal.SIGTERM)
    if _wait_until_gone(pid, started_at, group, grace):
        return True
    send(pid, group, signal.SIGKILL)
    _wait_until_gone(pid, started_at, group, KILL_WAIT)
    return not is_alive(pid, started_at)


def leads_own_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def send(pid: int, group: bool, signum: int) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def gone(pid: int, started_at: float | None, group: bool) -> bool:
    """The worker is dead (reaped when it is our child) and, for a group, no live member is left."""
    _reap_if_our_child(pid)
    return not is_alive(pid, started_at) and not (group and _group_has_live_members(pid))


def _wait_until_gone(pid: int, started_at: float | None, group: bool, timeout: float) -> bool:
    """Poll until gone()."""
    deadline = time.monotonic() + timeout
    while True:
        if gone(pid, started_at, group):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


def _group_has_live_members(pgid: int) -> bool:
    """Zombies don't count: orphans wait for init to reap them, which can take a while.

    The group id cannot be reused while any member, even a zombie, remains.
    """
    import psutil

    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def _reap_if_our_child(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
