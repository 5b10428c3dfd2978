"""The worker processes a dispatcher watches, and how each one ended.

Own children are reaped with their exit status; adopted workers (left by a previous
dispatcher) are known by pid + start-time fingerprint. pidfds make either kind's death wake
the dispatcher's loop at once.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from kanban_tui.kernel import procs


@dataclass(frozen=True)
class WorkerExit:
    exit_code: int | None   # None when killed by a signal or when the status is unknown
    signal: int | None
    known: bool             # False: not our child (or reaped elsewhere); only its absence is known


class Workers:
    """The worker processes a dispatcher watches: its own children (reaped with their exit
    status) and adopted ones (pid + start-time fingerprint). With `wakeups`, each gets a pidfd
    that turns readable when the process ends, so the leader's loop wakes at once."""

    def __init__(self, *, wakeups: bool = False):
        self._children: dict[int, subprocess.Popen] = {}
        self._pidfds: dict[int, int] = {}
        self._exits: dict[int, WorkerExit] = {}
        self._adopted: dict[int, float | None] = {}  # pid -> start-time fingerprint
        self._wakeups = wakeups and hasattr(os, "pidfd_open")

    @property
    def has_wakeups(self) -> bool:
        return self._wakeups

    def add_child(self, proc: subprocess.Popen) -> None:
        self._children[proc.pid] = proc
        self._open_pidfd(proc.pid)

    def adopt(self, pid: int, started_at: float | None) -> None:
        """Watch a live worker some other dispatcher started."""
        if pid in self._children or pid in self._adopted:
            return
        self._adopted[pid] = started_at
        # Open first, then check the fingerprint: the pidfd pins the process that was checked.
        if self._open_pidfd(pid) and not procs.is_alive(pid, started_at):
            self._close_pidfd(pid)

    def exit_of(self, pid: int, started_at: float | None) -> WorkerExit | None:
        """None while the worker runs; how it ended once it is gone."""
        if pid in self._exits:
            return self._exits[pid]
        if pid in self._children:
            ended = self._reap(pid)
        else:
            ended = None if procs.is_alive(pid, started_at) else WorkerExit(None, None, False)
        if ended is not None:
            self._exits[pid] = ended
            self._close_pidfd(pid)
        return ended

    def _reap(self, pid: int) -> WorkerExit | None:
        proc = self._children[pid]
        try:
            waited, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else in this process (procs.terminate)
            proc.returncode = 0
            return WorkerExit(None, None, False)
        if waited == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # so Popen never waits for it again
        if code < 0:
            return WorkerExit(None, -code, True)
        return WorkerExit(code, None, True)

    def forget(self, pid: int) -> None:
        """Stop watching a worker that ended (reaping it if it is our child)."""
        if pid in self._children and pid not in self._exits:
            self._reap(pid)
        self._close_pidfd(pid)
        self._exits.pop(pid, None)
        self._adopted.pop(pid, None)
        self._children.pop(pid, None)

    def keep_only(self, running_pids: set[int]) -> None:
        """Drop everything not behind a running task; children only once they are reaped."""
        for pid in list(self._children):
            if pid not in running_pids and (pid in self._exits or self._reap(pid) is not None):
                self.forget(pid)
        for pid in (set(self._adopted) | set(self._exits)) - running_pids - set(self._children):
            self.forget(pid)

    def reap_exited(self) -> None:
        """Reap children that ended (an observer still owns the children it spawned as leader)."""
        for pid in list(self._children):
            if pid in self._exits or self._reap(pid) is not None:
                self.forget(pid)

    def child_exited(self) -> bool:
        """Has any child ended? Peeks without reaping (for when pidfds are unavailable)."""
        for pid in self._children:
            if pid in self._exits:
                continue
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:
                return True
        return False

    def stop_all(self, grace: float) -> int:
        """TERM (then KILL) every watched worker still running and stop watching them all: a
        host that lost its lease fences itself. Returns how many were stopped."""
        stopped = 0
        watched = [(pid, procs.start_time(pid)) for pid in self._children if pid not in self._exits]
        watched += [(pid, started) for pid, started in self._adopted.items() if pid not in self._exits]
        for pid, started in watched:
            stopped += procs.terminate(pid, started, grace=grace)
        for pid in [*self._children, *self._adopted]:
            self.forget(pid)
        return stopped

    def unwatched_adopted(self) -> bool:
        return any(pid not in self._pidfds and pid not in self._exits for pid in self._adopted)

    def pidfds(self) -> dict[int, int]:
        """fd -> pid of every watched worker still running."""
        return {fd: pid for pid, fd in self._pidfds.items()}

    def close(self) -> None:
        for pid in list(self._pidfds):
            self._close_pidfd(pid)

    def _open_pidfd(self, pid: int) -> bool:
        if not self._wakeups:
            return False
        try:
            self._pidfds[pid] = os.pidfd_open(pid)
        except OSError:
            return False
        return True

    def _close_pidfd(self, pid: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            os.close(fd)
