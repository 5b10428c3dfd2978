"""One dispatcher pass over the board for one host (README "Running the dispatcher"): `tick()`.

A tick, in order: this host's workers of runs a verb ended are stopped; hosts lost (the
housekeeper); expired leases; claims with no recorded worker; dead workers; max runtime;
recompute ready; then claim and spawn ready assigned tasks by priority and age within this
host's caps (which `transitions.claim` enforces inside its transaction). Workers are processes
of one machine, so every step that looks at a worker only looks at runs of this host. Every
board change goes through `transitions`; this module only decides what to call and starts
processes. The loop that runs ticks (leases, wake-ups, fencing) is kernel/dispatcher.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from typing import Callable

from kanban_tui.config import Config
from kanban_tui.errors import NotFound, Refused, SpawnError
from kanban_tui.kernel import db, hosts, invocation, notify, procs, run_folder, spawn, transitions
from kanban_tui.kernel.models import local_host_id
from kanban_tui.kernel.stopping import Stopper
from kanban_tui.kernel.workers import WorkerExit, Workers
from kanban_tui.paths import Paths
from kanban_tui.presets import PRESETS, RESULT_CHECKS

TERMINATE_GRACE_SECONDS = 5.0
LOG_TAIL_BYTES = 4096
RESULT_TAIL_BYTES = 65536      # where an agent CLI's final result line is looked for
EX_TEMPFAIL = 75               # sysexits.h: rate limited / try later; the card waits out a cool-down
EX_CONFIG = 78                 # sysexits.h: the worker cannot run as configured; retrying is futile

Conn = sqlite3.Connection
Report = dict


def empty_report() -> Report:
    """The shape of `dispatch --json`: task ids per outcome, plus what was spawned where
    (`host_lost`: cards put back because the host running them was lost)."""
    return {"reclaimed": [], "host_lost": [], "crashed": [], "protocol_violations": [], "timed_out": [],
            "spawn_failed": [], "rate_limited": [], "auto_blocked": [], "promoted": [], "spawned": [],
            "skipped_unassigned": [], "skipped_nonspawnable": []}


def did_work(report: Report) -> bool:
    return any(report[key] for key in ("reclaimed", "host_lost", "crashed", "protocol_violations", "timed_out",
                                       "spawn_failed", "rate_limited", "auto_blocked", "promoted", "spawned"))


def tick(conn: Conn, paths: Paths, config: Config, *, now: float | None = None, dry_run: bool = False,
         max_spawn: int | None = None, failure_limit: int | None = None, workers: Workers | None = None,
         keepalive: Callable[[], None] | None = None, holder: str | None = None,
         stopper: Stopper | None = None, wait_for_retries: bool = True, host_id: str | None = None,
         housekeeper: bool = True, fenced: bool = False) -> Report:
    """One pass over the board; returns what it did (or, with dry_run, what it would do).

    `workers` carries the dispatcher's processes between ticks (a one-shot tick sees every
    worker as adopted); `keepalive` is called between slow steps and may raise LeaseLost.
    `now` pins the clock for stamps and comparisons (tests); by default each step reads it.
    `holder` names this dispatcher as its runs' claimer, so a successor can tell its orphans.
    `stopper` carries the leader's stops of marked workers between ticks; without one (a one-shot
    tick) the tick waits for its stops to finish.
    `wait_for_retries=False` (a one-shot `dispatch`, an operator's explicit tick) spawns failed
    tasks without waiting for their retry times.
    `host_id` (default this host's) is whose runs the tick looks after and whose caps bind;
    `housekeeper` adds the board-wide chores; `fenced` makes each claim require the live host
    lease of `holder`.
    """
    run = _Tick(conn, paths, config, now=now, dry_run=dry_run,
                failure_limit=failure_limit or config.dispatch.failure_limit,
                workers=workers if workers is not None else Workers(), keepalive=keepalive,
                holder=holder or hosts.local_holder(), wait_for_retries=wait_for_retries,
                host_id=host_id or local_host_id(), housekeeper=housekeeper, fenced=fenced)
    if not dry_run:
        _stop_marked(conn, stopper, run.host_id)
    if housekeeper:
        run.hosts_lost()
    run.expired_leases()
    run.orphaned_claims()
    run.dead_workers()
    run.max_runtime()
    run.promote()
    if not dry_run:
        run.run_folders()
    run.claim_and_spawn(max_spawn)
    if housekeeper and not dry_run:
        notify.deliver(conn, paths.db, config.notify.command, now=now)
    return run.report


def _stop_marked(conn: Conn, stopper: Stopper | None, host_id: str) -> None:
    """Stop this host's workers of runs a verb ended (TERM now; the leader's loop KILLs and records)."""
    if stopper is not None:
        stopper.scan(conn, host_id)
        return
    stopper = Stopper()
    stopper.scan(conn, host_id)
    stopper.drain(conn)


class _Tick:
    def __init__(self, conn: Conn, paths: Paths, config: Config, *, now: float | None, dry_run: bool,
                 failure_limit: int, workers: Workers, keepalive: Callable[[], None] | None, holder: str,
                 wait_for_retries: bool, host_id: str, housekeeper: bool, fenced: bool):
        self.conn, self.paths, self.config = conn, paths, config
        self.wait_for_retries = wait_for_retries
        self.holder = holder
        self.host_id, self.housekeeper, self.fenced = host_id, housekeeper, fenced
        self.fixed_now = now
        self.dry_run = dry_run
        self.failure_limit = failure_limit
        self.workers = workers
        self.keepalive = keepalive or (lambda: None)
        self.report = empty_report()

    def now(self) -> float:
        return time.time() if self.fixed_now is None else self.fixed_now

    def running(self, where: str = "", params: tuple = (), *, any_host: bool = False) -> list[sqlite3.Row]:
        """Running tasks with their open run: this host's (runs of no recorded host count as
        local), or every host's with `any_host`."""
        mine = "" if any_host else "AND (r.host_id = ? OR r.host_id IS NULL) "
        return db.read(self.conn, lambda c: c.execute(
            "SELECT t.id, t.assignee, t.current_run_id, t.worker_pid, t.worker_started_at, t.claim_expires, "
            "r.claimer, t.last_heartbeat_at, t.max_runtime_seconds, r.started_at AS run_started_at "
            "FROM tasks t JOIN task_runs r ON r.id = t.current_run_id "
            f"WHERE t.status = 'running' {mine}{where} ORDER BY t.id",
            params if any_host else (self.host_id, *params)).fetchall())

    def fail_run(self, task_id: str, run_id: int, outcome: str, error: str, payload: dict, *,
                 at_once: bool = False) -> None:
        """Close the run through the circuit breaker (`at_once`: it gives up now, blocking the task);
        the task retries after `retry_delay`."""
        limit = 1 if at_once else self.failure_limit
        self._breaker(task_id, lambda cap: transitions.end_run_failed(
            self.conn, task_id, run_id, outcome, error=error, payload=payload,
            failure_limit=limit, retry_cap=cap, now=self.fixed_now))

    def _breaker(self, task_id: str, end: Callable[[float], dict]) -> bool:
        try:
            ended = end(self.config.dispatch.interval_seconds)
        except Refused:  # the run ended on its own meanwhile (the worker completed or blocked)
            return False
        if ended["outcome"] == "gave_up":
            self.report["auto_blocked"].append(task_id)
        return True

    # 0. hosts lost (housekeeping): a host whose lease ran out has its open runs reclaimed
    def hosts_lost(self) -> None:
        if self.dry_run:
            return
        for host_id in hosts.lost(self.conn):
            if host_id != self.host_id:
                self.report["host_lost"].extend(transitions.reclaim_host_lost(self.conn, host_id, now=self.fixed_now))

    # 1. expired leases: a worker this dispatcher sees alive keeps its claim however quiet it is
    #    (max runtime bounds it; the card shows the stale heartbeat); a claim with no live worker
    #    behind it is reclaimed and counts toward the breaker. The housekeeper also takes the
    #    claims by hand (no worker) of every host.
    def expired_leases(self) -> None:
        ttl = self.config.dispatch.claim_ttl_seconds
        rows = self.running("AND t.claim_expires <= ?", (self.now(),))
        if self.housekeeper:
            mine = {row["id"] for row in rows}
            rows += [row for row in self.running("AND t.claim_expires <= ? AND t.worker_pid IS NULL",
                                                 (self.now(),), any_host=True) if row["id"] not in mine]
        for row in rows:
            pid = row["worker_pid"]
            if pid and self.workers.exit_of(pid, row["worker_started_at"]) is None:
                if not self.dry_run:
                    transitions.extend_lease(self.conn, row["id"], row["current_run_id"], ttl=ttl, now=self.fixed_now)
                continue
            if pid:
                continue  # a dead worker: the next step records how it ended
            if self.dry_run or self._breaker(row["id"], lambda cap, row=row: transitions.lease_expired(
                    self.conn, row["id"], row["current_run_id"], failure_limit=self.failure_limit,
                    retry_cap=cap, now=self.fixed_now)):
                self.report["reclaimed"].append(row["id"])

    # 1b. claims with no recorded worker: this dispatcher's own (its record_spawn failed: a tick
    #     claims and records in one go, so any left at the next tick are orphans) at once, a
    #     previous dispatcher's once that dispatcher's lease could have lapsed
    def orphaned_claims(self) -> None:
        rows = self.running("AND t.worker_pid IS NULL AND r.claimer IS NOT NULL "
                            "AND (r.claimer = ? OR r.started_at <= ?)",
                            (self.holder, self.now() - self.config.dispatch.host_lease_seconds))
        for row in rows:
            claimer = row["claimer"]
            self.report["crashed"].append(row["id"])
            if not self.dry_run:
                error = ("the dispatcher could not record its worker" if claimer == self.holder
                         else f"dispatcher {claimer} stopped before starting a worker")
                self.fail_run(row["id"], row["current_run_id"], "crashed", error, {"pid": None})

    # 2. dead workers: our children with their exit status, others by fingerprint
    def dead_workers(self) -> None:
        rows = self.running("AND t.worker_pid IS NOT NULL")
        for row in rows:
            pid = row["worker_pid"]
            ended = self.workers.exit_of(pid, row["worker_started_at"])
            if ended is None:
                self.workers.adopt(pid, row["worker_started_at"])
                continue
            key, outcome, error, payload = self.exit_outcome(row, ended)
            self.report[key].append(row["id"])
            if self.dry_run:
                continue
            if outcome == "rate_limited":
                with contextlib.suppress(Refused):  # the run ended on its own meanwhile
                    transitions.end_run_rate_limited(
                        self.conn, row["id"], row["current_run_id"], error=error, payload=payload,
                        cooldown=self.config.dispatch.rate_limit_cooldown_seconds, now=self.fixed_now)
            else:
                self.fail_run(row["id"], row["current_run_id"], outcome, error, payload,
                              at_once=ended.known and ended.exit_code == EX_CONFIG)
            self.workers.forget(pid)
        if not self.dry_run:
            self.workers.keep_only({row["worker_pid"] for row in self.running("AND t.worker_pid IS NOT NULL")})

    def exit_outcome(self, row: sqlite3.Row, ended: WorkerExit) -> tuple[str, str, str, dict]:
        """(report key, outcome, error, payload) for a worker that ended with its run still open.

        Exit 0 is a protocol violation, unless the preset's result check finds the agent CLI
        reported a failed turn (then it crashed); 75 (EX_TEMPFAIL) is rate limited, not a failure;
        78 (EX_CONFIG) gives up at once; the rest crashed.
        """
        pid, log_path = row["worker_pid"], self.paths.log_for(row["id"])
        if ended.known and ended.exit_code == 0:
            failed = self.failed_turn(row["assignee"], log_path)
            if failed:
                return "crashed", "crashed", failed, {"pid": pid, "exit_code": 0, "error": failed}
            return ("protocol_violations", "protocol_violation",
                    f"worker (pid {pid}) exited 0 without completing or blocking its task",
                    {"pid": pid, "exit_code": 0})
        error = _crash_error(pid, ended, log_path)
        if ended.known and ended.exit_code == EX_TEMPFAIL:
            return "rate_limited", "rate_limited", error, {"pid": pid, "exit_code": EX_TEMPFAIL}
        if ended.known and ended.exit_code == EX_CONFIG:
            error = f"gave up at once (exit {EX_CONFIG}, EX_CONFIG): {error}"
        return "crashed", "crashed", error, {
            "pid": pid, "exit_code": ended.exit_code,
            "signal": signal.Signals(ended.signal).name if ended.signal else None, "error": error}

    def failed_turn(self, assignee: str | None, log_path) -> str | None:
        profile = self.config.profile(assignee)
        check = PRESETS[profile.preset].result_check if profile and profile.preset else None
        return RESULT_CHECKS[check](_log_tail(log_path, RESULT_TAIL_BYTES) or "") if check else None

    # 3. max runtime: TERM, up to 5 s, KILL
    def max_runtime(self) -> None:
        now = self.now()
        rows = self.running("AND t.worker_pid IS NOT NULL AND t.max_runtime_seconds IS NOT NULL "
                            "AND r.started_at + t.max_runtime_seconds <= ?", (now,))
        for row in rows:
            pid, limit = row["worker_pid"], row["max_runtime_seconds"]
            if self.dry_run:
                self.report["timed_out"].append(row["id"])
                continue
            began = time.monotonic()
            if not procs.terminate(pid, row["worker_started_at"], grace=TERMINATE_GRACE_SECONDS):
                continue  # it ended by itself just now: the next tick records how
            self.report["timed_out"].append(row["id"])
            # terminate() only reports success; a stop that took the whole grace needed SIGKILL
            sigkill = time.monotonic() - began >= TERMINATE_GRACE_SECONDS
            self.workers.forget(pid)
            elapsed = round(self.now() - row["run_started_at"], 3)
            self.fail_run(row["id"], row["current_run_id"], "timed_out",
                          f"exceeded max runtime of {limit}s (ran {elapsed:.0f}s); "
                          f"stopped with {'SIGKILL' if sigkill else 'SIGTERM'}",
                          {"pid": pid, "elapsed_seconds": elapsed, "limit_seconds": limit, "sigkill": sigkill})
            self.keepalive()

    # 4. recompute ready
    def promote(self) -> None:
        if self.dry_run:
            self.report["promoted"] = db.read(self.conn, transitions.promotable)
            return
        self.report["promoted"] = transitions.recompute_ready(self.conn, now=self.fixed_now)

    # 5. claim and spawn, highest priority first, oldest first, within the caps
    def claim_and_spawn(self, max_spawn: int | None) -> None:
        ready, live, per_profile = db.read(self.conn, lambda c: _spawn_candidates(c, self.host_id))
        cap = self.config.dispatch.max_workers
        now = self.now()
        served_elsewhere: Callable[[str], bool] | None = None
        for task in ready:
            assignee = task["assignee"]
            if assignee is None:
                self.report["skipped_unassigned"].append(task["id"])
                continue
            command = self.config.command_for(assignee)
            if command is None:
                served_elsewhere = served_elsewhere or self.served_elsewhere()
                if not served_elsewhere(assignee):  # another host's to spawn, else nobody's
                    self.report["skipped_nonspawnable"].append(task["id"])
                continue
            if self.wait_for_retries and task["retry_after"] is not None and task["retry_after"] > now:
                continue
            profile = self.config.profile(assignee)
            profile_cap = profile.max_workers if profile else None
            if live >= cap or (max_spawn is not None and len(self.report["spawned"]) >= max_spawn):
                continue
            if profile_cap is not None and per_profile.get(assignee, 0) >= profile_cap:
                continue
            workspace = str(spawn.workspace_path(self.paths, task)) if self.dry_run \
                else self.spawn_one(task["id"], profile_cap)
            if workspace is None:
                continue
            live += 1
            per_profile[assignee] = per_profile.get(assignee, 0) + 1
            self.report["spawned"].append({"task_id": task["id"], "assignee": assignee, "workspace": workspace})
        if not self.dry_run:
            self.note_nonspawnable()

    # 4b. run folders of runs that ended (however they ended) go
    def run_folders(self) -> None:
        open_runs = db.read(self.conn, lambda c: {row[0] for row in c.execute(
            "SELECT current_run_id FROM tasks WHERE status = 'running'")})
        run_folder.sweep(self.paths, open_runs)

    def note_nonspawnable(self) -> None:
        transitions.note_nonspawnable(self.conn, self.report["skipped_nonspawnable"], now=self.fixed_now)

    def served_elsewhere(self) -> Callable[[str], bool]:
        """Whether another live host spawns an assignee this host cannot (read once per tick)."""
        others = [host for host in hosts.live(self.conn) if host["host_id"] != self.host_id]
        return lambda assignee: hosts.serving(others, assignee)

    def spawn_one(self, task_id: str, profile_cap: int | None) -> str | None:
        """claim -> workspace -> invocation + run folder -> exec -> record; the workspace, or None
        if not started."""
        settings = self.config.dispatch
        try:
            claimed = transitions.claim(self.conn, task_id, ttl=settings.claim_ttl_seconds,
                                        max_workers=settings.max_workers, profile_max_workers=profile_cap,
                                        claimer=self.holder, role=self._role(task_id), host=self.host_id,
                                        fenced=self.fenced, now=self.fixed_now)
        except (Refused, NotFound):  # the state moved on, or another claimer filled the cap
            return None
        run_id = claimed["run_id"]
        task = db.read(self.conn, lambda c: c.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone())
        try:
            workspace, managed = spawn.resolve_workspace(self.paths, dict(task))
            planned = invocation.plan(self.config, self.paths, task_id=task_id, assignee=task["assignee"],
                                      tenant=task["tenant"], skills=json.loads(task["skills"]), run_id=run_id,
                                      claim_lock=claimed["claim_lock"], workspace=workspace, base_env=os.environ)
            run_folder.write(self.paths, run_id, planned.server, planned.files)
            proc = spawn.spawn(planned.argv, planned.env, workspace, self.paths.log_for(task_id))
        except (SpawnError, OSError) as exc:
            run_folder.remove(self.paths, run_id)
            self.fail_run(task_id, run_id, "spawn_failed", str(exc), {})
            self.report["spawn_failed"].append(task_id)
            return None
        self.workers.add_child(proc)
        try:
            transitions.record_spawn(self.conn, task_id, run_id, pid=proc.pid,
                                     started_at=procs.start_time(proc.pid), workspace=str(workspace),
                                     managed=managed, now=self.fixed_now)
        except Refused:  # an operator ended the run meanwhile: the worker never runs
            spawn.cancel(proc)
            return None
        except BaseException:  # the record failed (a full disk): the worker never runs; the
            spawn.cancel(proc)  # claim is an orphan that the next tick ends at once
            raise
        spawn.release(proc)
        self.keepalive()
        return str(workspace)

    def _role(self, task_id: str) -> str:
        assignee = db.read(self.conn, lambda c: c.execute("SELECT assignee FROM tasks WHERE id = ?",
                                                          (task_id,)).fetchone()[0])
        profile = self.config.profile(assignee)
        return profile.role if profile else "worker"


def _spawn_candidates(c: Conn, host_id: str) -> tuple[list[sqlite3.Row], int, dict[str, int]]:
    """Ready tasks in spawn order, and this host's open runs: in all and per profile."""
    ready = c.execute("SELECT id, assignee, retry_after, workspace_kind, workspace_path FROM tasks "
                      "WHERE status = 'ready' ORDER BY priority DESC, created_at ASC, id").fetchall()
    per_profile = dict(c.execute("SELECT profile, count(*) FROM task_runs WHERE status = 'running' "
                                 "AND host_id = ? GROUP BY profile", (host_id,)).fetchall())
    return ready, sum(per_profile.values()), per_profile


def _crash_error(pid: int, ended: WorkerExit, log_path) -> str:
    if ended.signal:
        how = f"process {pid} killed by {signal.Signals(ended.signal).name}"
    elif ended.known:
        how = f"process {pid} exited with code {ended.exit_code}"
    else:
        how = f"process {pid} gone"
    last = _last_log_line(log_path)
    return f"{last} ({how})" if last else how


def _log_tail(log_path, size: int) -> str | None:
    try:
        with open(log_path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def _last_log_line(log_path) -> str | None:
    """The worker's last words: often the reason it died (an OOM note, a traceback's last line)."""
    lines = [line.strip() for line in (_log_tail(log_path, LOG_TAIL_BYTES) or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


def next_deadline(conn: Conn, now: float | None = None) -> float | None:
    """The earliest future moment a tick has timed work: a retry, a lease expiry, a runtime limit."""
    now = time.time() if now is None else now
    return db.read(conn, lambda c: c.execute(
        "SELECT min(x) FROM ("
        "  SELECT retry_after AS x FROM tasks WHERE status = 'ready' AND retry_after > :now"
        "  UNION ALL SELECT claim_expires FROM tasks WHERE status = 'running' AND claim_expires > :now"
        "  UNION ALL SELECT r.started_at + t.max_runtime_seconds FROM tasks t "
        "    JOIN task_runs r ON r.id = t.current_run_id WHERE t.status = 'running' "
        "    AND t.max_runtime_seconds IS NOT NULL AND r.started_at + t.max_runtime_seconds > :now) AS due",
        {"now": now}).fetchone()[0])


def live_workers(conn: Conn, host_id: str | None = None) -> int:
    """Open runs on `host_id` (default this host)."""
    return db.read(conn, lambda c: c.execute(
        "SELECT count(*) FROM task_runs WHERE status = 'running' AND host_id = ?",
        (host_id or local_host_id(),)).fetchone()[0])
