"""Who calls a kernel verb: built once per door (CLI session, tools/MCP, TUI) and passed in.

A `Caller` is what the process says it is; `prove` turns a worker's claim into the run the
database vouches for. An operator is trusted (it could open the database anyway). A worker
is whatever its run says: the run's profile signs its comments and cards, the role recorded
at claim decides whether it is an orchestrator, and the run's claim lock (a random secret
handed only to the worker, in KANBAN_CLAIM_LOCK) must match before a run id is believed.

A worker environment with KANBAN_TASK but no KANBAN_RUN_ID (an agent CLI that passes on only
some variables) is bound to its task's open run at the moment of the call: it stays scoped to
that task, signs as that run's profile, and a KANBAN_CLAIM_LOCK it does give must match. It
gains nothing over an operator (who may end any card), so it is not refused for the missing id.
"""

from __future__ import annotations

import hmac
import sqlite3
from dataclasses import dataclass
from typing import Mapping

from kanban_tui import validate
from kanban_tui.errors import Refused

OPERATOR_NAME = "operator"


@dataclass(frozen=True)
class Caller:
    task_id: str | None = None      # set: a worker scoped to this task
    run_id: int | None = None
    lock: str | None = None
    name: str = OPERATOR_NAME       # who an operator signs as (a worker signs as its run's profile)

    @classmethod
    def operator(cls, name: str | None = None) -> "Caller":
        return cls(name=(name or "").strip() or OPERATOR_NAME)

    @classmethod
    def worker(cls, task_id: str, run_id: int | None = None, lock: str | None = None) -> "Caller":
        return cls(task_id=task_id, run_id=run_id, lock=lock or None)

    @classmethod
    def from_env(cls, env: Mapping[str, str], operator_name: str | None = None) -> "Caller":
        """A worker when KANBAN_TASK is set (with KANBAN_RUN_ID / KANBAN_CLAIM_LOCK), else an operator."""
        task_id = (env.get("KANBAN_TASK") or "").strip()
        if not task_id:
            return cls.operator(operator_name)
        run_text = (env.get("KANBAN_RUN_ID") or "").strip()
        run_id = validate.integer(run_text, "KANBAN_RUN_ID", minimum=1) if run_text else None
        return cls.worker(task_id, run_id,
                          (env.get("KANBAN_CLAIM_LOCK") or "").strip() or None)

    @property
    def is_worker(self) -> bool:
        return self.task_id is not None

    def check_scope(self, task_id: str) -> None:
        """A worker may only change its own card (the tools and the CLI say it the same way)."""
        if self.task_id is not None and self.task_id != task_id:
            raise Refused(f"worker is scoped to task {self.task_id}; refusing to mutate {task_id}")


OPERATOR = Caller.operator()


@dataclass(frozen=True)
class Proven:
    """A caller as the database vouches for it."""
    run_id: int | None          # the worker's run; None for an operator
    profile: str | None         # what a worker signs as
    role: str                   # 'operator', 'worker' or 'orchestrator'
    open: bool                  # the run is still open

    @property
    def orchestrator(self) -> bool:
        return self.role in ("operator", "orchestrator")


def prove(c: sqlite3.Connection, caller: Caller) -> Proven:
    """The run a worker caller holds (lock checked), inside the caller's transaction or read."""
    if not caller.is_worker:
        return Proven(None, None, "operator", False)
    if caller.run_id is not None:
        row = c.execute("SELECT id, task_id, profile, role, claim_lock, status FROM task_runs WHERE id = ?",
                        (caller.run_id,)).fetchone()
        if row is None or row["task_id"] != caller.task_id:
            raise Refused(f"run {caller.run_id} is not a run of {caller.task_id}")
        if caller.lock is None:
            raise Refused(f"run {caller.run_id} needs its claim lock: KANBAN_CLAIM_LOCK is not set")
    else:
        row = c.execute("SELECT id, task_id, profile, role, claim_lock, status FROM task_runs "
                        "WHERE task_id = ? AND status = 'running'", (caller.task_id,)).fetchone()
        if row is None:
            raise Refused(f"{caller.task_id} has no open run to act for "
                          "(KANBAN_RUN_ID is not set; the run may have ended)")
    if caller.lock is not None and not hmac.compare_digest(row["claim_lock"] or "", caller.lock):
        raise Refused(f"KANBAN_CLAIM_LOCK does not match run {row['id']} of {caller.task_id}")
    return Proven(row["id"], row["profile"], row["role"], row["status"] == "running")
