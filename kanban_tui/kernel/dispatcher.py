"""The dispatcher (README "Running the dispatcher", "Several machines"): `tick()` does one pass
over the board for one host; `Dispatcher` runs ticks on a thread while it holds its host's lease.

A tick, in order: expired leases, dead workers, max runtime, recompute ready, then claim and
spawn ready assigned tasks by priority and age within the caps (which `transitions.claim`
enforces inside its transaction). Workers are processes of one machine, so every step that
looks at a worker only looks at runs of this host; the board-wide chores (hosts lost, claims
by hand whose lease ran out, notifications) are done by the one dispatcher that holds the
housekeeping lease. Every board change goes through `transitions`; this module only decides
what to call and starts processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Callable

from kanban_tui.config import Config
from kanban_tui.errors import KanbanError, NotFound, Refused, SpawnError
from kanban_tui.kernel import db, hosts, invocation, lease, notify, procs, run_folder, spawn, transitions
from kanban_tui.kernel.models import local_host_id
from kanban_tui.kernel.stopping import Stopper
from kanban_tui.kernel.workers import WorkerExit, Workers
from kanban_tui.paths import Paths
from kanban_tui.presets import PRESETS, RESULT_CHECKS

if TYPE_CHECKING:
    from kanban_tui.kernel.listen import Listener

TERMINATE_GRACE_SECONDS = 5.0
WAKE_POLL_SECONDS = 0.05       # how often the leader looks at db.data_version
LISTEN_FALLBACK_SECONDS = 1.0  # on PostgreSQL, how often a look happens without a notification
OBSERVER_POLL_SECONDS = 0.5    # how often an observer tries to take the lease
FENCE_FRACTION = 2 / 3         # of the host lease without a renewal: stop the workers, stop claiming
FENCE_STOP_GRACE_SECONDS = 1.0
HOST_LOSS_SLACK_SECONDS = 0.05  # after another host's lease runs out, before looking (clock rounding)
ADOPTED_SWEEP_SECONDS = 0.5    # fingerprint checks when pidfd_open is unavailable
ERROR_BACKOFF_SECONDS = 1.0  # after a failed step (a full disk, say), doubling up to
ERROR_BACKOFF_MAX_SECONDS = 8.0  # this while the failures go on
ERROR_REPEAT_SECONDS = 60.0  # an error identical to the last one is reported once per this
CHECKPOINT_IDLE_SECONDS = 0.5  # the leader checkpoints the WAL once the board was quiet this long,
CHECKPOINT_EVERY_SECONDS = 10.0  # and at least this often while it keeps changing
LOG_TAIL_BYTES = 4096
RESULT_TAIL_BYTES = 65536      # where an agent CLI's final result line is looked for
EX_TEMPFAIL = 75               # sysexits.h: rate limited / try later; the card waits out a cool-down
EX_CONFIG = 78                 # sysexits.h: the worker cannot run as configured; retrying is futile

Conn = sqlite3.Connection
Report = dict
log = logging.getLogger(__name__)


def empty_report() -> Report:
    """The shape of `dispatch --json`: task ids per outcome, plus what was spawned where
    (`host_lost`: cards put back because the host running them was lost)."""
    return {"reclaimed": [], "host_lost": [], "crashed": [], "protocol_violations": [], "timed_out": [],
            "spawn_failed": [], "rate_limited": [], "auto_blocked": [], "promoted": [], "spawned": [],
            "skipped_unassigned": [], "skipped_nonspawnable": []}


def did_work(report: Report) -> bool:
    return any(report[key] for key in ("reclaimed", "host_lost", "crashed", "protocol_violations", "timed_out",
                                       "spawn_failed", "rate_limited", "auto_blocked", "promoted", "spawned"))


class LeaseLost(Exception):
    """This dispatcher's host lease is no longer its own (taken over, or run out)."""


# ---------------------------------------------------------------- one tick

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


# ---------------------------------------------------------------- the dispatcher thread

class Dispatcher:
    """The dispatcher on a thread (inside the TUI, or headless): serves its host while it holds
    the host's lease (registered in `dispatchers`), observes otherwise. The one that also holds
    the housekeeping lease does the board-wide chores. Start it once; stop() releases the
    leases and leaves workers running for a restart to adopt.

    It ticks on the interval and also at once when another connection commits (on SQLite
    db.data_version, polled every 50 ms; on PostgreSQL a LISTEN wake-up, polled every second
    as the fallback), when one of its workers ends (a pidfd per worker), when a timed deadline
    arrives (retry, lease expiry, max runtime) and when nudged. All database work happens on
    the thread, on its own connection, so its own writes never wake it.

    Fencing: the host lease is renewed every third of `dispatch.host_lease_seconds`. When two
    thirds of it have passed without a renewal (the database unreachable, the process stopped),
    it stops its workers and claims nothing until it registers again; by then other hosts may
    have reclaimed its runs, and a claim is refused inside the database to a holder without a
    live lease.
    """

    def __init__(self, paths: Paths, config: Config, *, on_tick: Callable[[Report], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None, holder: str | None = None,
                 host_id: str | None = None):
        self.paths = paths
        self.config = config
        self.holder = holder or hosts.local_holder()
        self.host_id = host_id or local_host_id()
        self.lease_seconds = float(config.dispatch.host_lease_seconds)
        self.on_tick = on_tick
        self.on_error = on_error
        self._repeats = _Repeats(ERROR_REPEAT_SECONDS)
        self._workers = Workers(wakeups=True)
        self._stopper = Stopper()
        self._stopping = threading.Event()
        self._nudged = threading.Event()
        self._pipe_lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._thread: threading.Thread | None = None
        self._status_lock = threading.Lock()
        self._status = {"role": "observer", "leader": None, "last_tick_at": None, "live_workers": 0,
                        "max_workers": config.dispatch.max_workers, "host_id": self.host_id, "hosts": []}
        # loop state, touched only by the thread (times are monotonic)
        self._leading = False        # holds the host lease: spawns and watches this host's workers
        self._housekeeping = False   # holds the board-wide lease too
        self._renewed_at = 0.0       # when the last host-lease renewal that succeeded began
        self._board_lease_at = 0.0
        self._next_tick_at = 0.0
        self._next_lease_try = 0.0
        self._deadline: float | None = None
        self._version: object = None
        self._woken = False
        self._registered: dict[int, int] = {}
        self._listener: Listener | None = None  # PostgreSQL only
        self._polled_at = 0.0
        self._listening_fd: int | None = None
        self._changed_at: float | None = None  # the board changed since the last checkpoint
        self._checkpointed_at = 0.0

    # -- public surface ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a Dispatcher is started once")
        self._thread = threading.Thread(target=self._run, name="kanban-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Release the leases and end the thread; True when it ended within `timeout`."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        stopped = self._thread is None or not self._thread.is_alive()
        if stopped:
            with self._pipe_lock:
                if self._wake_write is not None:
                    os.close(self._wake_read)
                    os.close(self._wake_write)
                    self._wake_write = None
        return stopped

    def nudge(self) -> None:
        """Tick now when leading; otherwise wake whichever process leads (every host's)."""
        self._nudged.set()
        self._wake()

    def status(self) -> dict:
        """{role: 'leader'|'observer', leader, last_tick_at, live_workers, max_workers, host_id,
        hosts}: this host's figures, and every registered host (`hosts --json` rows)."""
        with self._status_lock:
            return dict(self._status)

    # -- the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = db.connect(self.paths.db)
        except KanbanError as exc:
            self._error(exc)
            return
        if db.is_postgres(conn):
            from kanban_tui.kernel.listen import Listener  # psycopg: only for a PostgreSQL board

            self._listener = Listener(conn.url)
        selector = selectors.DefaultSelector()
        selector.register(self._wake_read, selectors.EVENT_READ)
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    self._fence_if_overdue()
                    timeout = self._step(conn)
                    failures = 0
                except LeaseLost:
                    self._fence("its host lease was taken over or ran out")
                    timeout = 0.0
                except Exception as exc:  # keep dispatching: report, back off, try again
                    failures += 1
                    self._error(exc)
                    # not self._wait: a dead worker's pidfd stays readable until a tick records it,
                    # so waiting on it would retry (and log) in a tight loop; but wake in time to fence
                    backoff = min(ERROR_BACKOFF_MAX_SECONDS, ERROR_BACKOFF_SECONDS * 2 ** (failures - 1))
                    if self._leading:
                        backoff = min(backoff, max(0.0, self._fence_at() - time.monotonic()))
                    self._stopping.wait(backoff)
                    continue
                self._wait(selector, timeout)
        finally:
            self._shutdown(conn, selector)

    def _step(self, conn: Conn) -> float:
        """One turn: lead or observe; returns how long to wait for a wake-up."""
        now = time.monotonic()
        if not self._leading and not self._try_lead(conn, now):
            return self._observe(conn)
        return self._lead(conn, now)

    def _try_lead(self, conn: Conn, now: float) -> bool:
        if now < self._next_lease_try:
            return False
        self._next_lease_try = now + OBSERVER_POLL_SECONDS
        began = time.monotonic()
        registered, _ = hosts.register(conn, self.host_id, self.holder, profiles=hosts.served_profiles(self.config),
                                       max_workers=self.config.dispatch.max_workers,
                                       lease_seconds=self.lease_seconds)
        if not registered:
            return False
        self._leading = True
        self._renewed_at = began
        self._board_lease_at = 0.0  # try for the housekeeping lease at once
        self._version = None  # tick at once: the first tick adopts running workers
        self._set_status(role="leader", leader=self.holder)
        return True

    def _observe(self, conn: Conn) -> float:
        if self._nudged.is_set():
            self._nudged.clear()
            lease.nudge(conn)
        self._workers.reap_exited()
        listing = hosts.listing(conn)
        mine = next((host for host in listing if host["host_id"] == self.host_id and host["alive"]), None)
        self._set_status(role="observer", leader=mine["holder"] if mine else None,
                         last_tick_at=mine["last_tick_at"] if mine else None,
                         live_workers=mine["live_workers"] if mine else live_workers(conn, self.host_id),
                         max_workers=mine["max_workers"] if mine else self.config.dispatch.max_workers,
                         hosts=listing)
        return max(0.0, self._next_lease_try - time.monotonic())

    def _lead(self, conn: Conn, now: float) -> float:
        self._keepalive(conn)
        version = db.data_version(conn) if self._board_may_have_changed(now) else self._version
        if version != self._version:
            self._version = version
            self._woken = True
            self._changed_at = now
        if self._nudged.is_set():
            self._nudged.clear()
            self._woken = True
        if not self._workers.has_wakeups and self._workers.child_exited():
            self._woken = True
        due = now >= self._next_tick_at or (self._deadline is not None and now >= self._deadline)
        if self._woken or due:
            self._woken = False
            self._tick(conn)
            now = time.monotonic()
            self._changed_at = now  # a tick writes (at least its lease row)
        elif self._stopper.pending:
            self._stopper.poll(conn)
        waits = [self._poll_seconds(), self._next_tick_at - now, self._renewed_at + self._renew_seconds() - now,
                 self._board_lease_at + self._board_renew_seconds() - now]
        for deadline in (self._deadline, self._stopper.next_check()):
            if deadline is not None:
                waits.append(deadline - now)
        self._checkpoint(conn, now)
        return max(0.0, min(waits))

    def _poll_seconds(self) -> float:
        return WAKE_POLL_SECONDS if self._listener is None else LISTEN_FALLBACK_SECONDS

    def _board_may_have_changed(self, now: float) -> bool:
        """On SQLite data_version is nearly free: always look. On PostgreSQL look when a
        notification (or a lost session) woke us, and on the fallback poll."""
        if self._listener is None:
            return True
        if self._listener.woken():
            self._polled_at = now
            return True
        if now - self._polled_at >= LISTEN_FALLBACK_SECONDS:
            self._polled_at = now
            return True
        return False

    def _checkpoint(self, conn: Conn, now: float) -> None:
        """Move acknowledged writes from the WAL into the database file when the board goes quiet
        (or every few seconds while it is busy), so they survive the loss of the WAL."""
        if self._changed_at is None:
            return
        if now - self._changed_at >= CHECKPOINT_IDLE_SECONDS or now - self._checkpointed_at >= CHECKPOINT_EVERY_SECONDS:
            db.checkpoint(conn)
            self._changed_at = None
            self._checkpointed_at = now

    def _tick(self, conn: Conn) -> None:
        settings = self.config.dispatch
        report = tick(conn, self.paths, self.config, workers=self._workers, holder=self.holder,
                      keepalive=lambda: self._keepalive(conn), stopper=self._stopper, host_id=self.host_id,
                      housekeeper=self._housekeeping, fenced=True)
        ticked_at = time.time()
        live = live_workers(conn, self.host_id)
        began = time.monotonic()
        if not hosts.renew(conn, self.host_id, self.holder, lease_seconds=self.lease_seconds,
                           live_workers=live, ticked=True):
            raise LeaseLost(self.holder)
        self._renewed_at = began
        if self._housekeeping:
            lease.record_tick(conn, self.holder, live_workers=live, max_workers=settings.max_workers, now=ticked_at)
        self._next_tick_at = time.monotonic() + settings.interval_seconds
        self._deadline = self._next_deadline(conn)
        self._set_status(role="leader", leader=self.holder, last_tick_at=ticked_at, live_workers=live,
                         max_workers=settings.max_workers, hosts=hosts.listing(conn))
        if self.on_tick is not None:
            self.on_tick(report)

    def _next_deadline(self, conn: Conn) -> float | None:
        now = time.monotonic()
        candidates = []
        board = next_deadline(conn)
        if board is not None:
            candidates.append(now + (board - time.time()))
        if self._workers.unwatched_adopted():
            candidates.append(now + ADOPTED_SWEEP_SECONDS)
        if self._housekeeping:  # a host that stops renewing is lost when its lease runs out: be there
            loss = hosts.next_loss_in(conn, self.host_id)
            if loss is not None:
                candidates.append(now + loss + HOST_LOSS_SLACK_SECONDS)
        return min(candidates, default=None)

    def _renew_seconds(self) -> float:
        return self.lease_seconds / 3

    def _board_renew_seconds(self) -> float:
        return min(lease.RENEW_SECONDS, self.lease_seconds / 3)

    def _fence_at(self) -> float:
        return self._renewed_at + self.lease_seconds * FENCE_FRACTION

    def _keepalive(self, conn: Conn) -> None:
        """Renew the host lease when due (raises LeaseLost when it is no longer ours) and keep
        trying for, or renewing, the housekeeping lease."""
        self._fence_if_overdue()
        now = time.monotonic()
        if now - self._renewed_at >= self._renew_seconds():
            if not hosts.renew(conn, self.host_id, self.holder, lease_seconds=self.lease_seconds):
                raise LeaseLost(self.holder)
            self._renewed_at = now
            self._set_status(hosts=hosts.listing(conn))  # other hosts come and go between ticks
        if now - self._board_lease_at >= self._board_renew_seconds():
            self._board_lease_at = now
            # as long as a host lease: a lost housekeeper is replaced by the time its runs are lost
            housekeeping = lease.try_acquire(conn, self.holder, ttl=self.lease_seconds)
            if housekeeping and not self._housekeeping:
                self._woken = True  # a new housekeeper looks for lost hosts at once
            self._housekeeping = housekeeping

    def _fence_if_overdue(self) -> None:
        if self._leading and time.monotonic() >= self._fence_at():
            raise LeaseLost(self.holder)

    def _fence(self, why: str) -> None:
        """Lost the host lease: stop this host's workers (their runs are, or are about to be,
        reclaimed elsewhere) and claim nothing until registered again."""
        if not self._leading:
            return
        silent = time.monotonic() - self._renewed_at
        self._leading = self._housekeeping = False
        stopped = self._workers.stop_all(FENCE_STOP_GRACE_SECONDS)
        self._next_lease_try = time.monotonic()
        self._set_status(role="observer", leader=None)
        self._error(KanbanError(
            f"host {self.host_id}: {why} ({silent:.1f}s since the last renewal, lease {self.lease_seconds:g}s): "
            f"stopped {stopped} worker(s); claiming nothing until registered again"))

    def _wait(self, selector: selectors.BaseSelector, timeout: float) -> None:
        self._sync_pidfds(selector)
        self._sync_listener(selector)
        for key, _ in selector.select(timeout):
            if key.fd == self._wake_read:
                self._drain()
            self._woken = True

    def _sync_listener(self, selector: selectors.BaseSelector) -> None:
        """Keep the LISTEN session's socket registered (it changes when the session reconnects)."""
        fd = self._listener.fileno() if self._listener is not None else None
        if fd == self._listening_fd:
            return
        if self._listening_fd is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                selector.unregister(self._listening_fd)
        self._listening_fd = fd
        if fd is not None:
            selector.register(fd, selectors.EVENT_READ)

    def _sync_pidfds(self, selector: selectors.BaseSelector) -> None:
        """Register the workers' pidfds; a closed fd's number may be reused by a new pidfd."""
        current = self._workers.pidfds()
        for fd, pid in list(self._registered.items()):
            if current.get(fd) != pid:
                selector.unregister(fd)
                del self._registered[fd]
        for fd, pid in current.items():
            if fd not in self._registered:
                selector.register(fd, selectors.EVENT_READ)
                self._registered[fd] = pid

    def _shutdown(self, conn: Conn, selector: selectors.BaseSelector) -> None:
        if self._leading:
            try:
                hosts.release(conn, self.host_id, self.holder, live_workers=live_workers(conn, self.host_id))
                lease.release(conn, self.holder)
            except Exception as exc:  # the leases then simply expire
                self._error(exc)
        self._leading = self._housekeeping = False
        self._set_status(role="observer", leader=None)
        self._workers.close()
        selector.close()
        if self._listener is not None:
            self._listener.close()
        conn.close()

    # -- helpers ----------------------------------------------------------------------

    def _wake(self) -> None:
        with self._pipe_lock:
            if self._wake_write is None:
                return
            try:
                os.write(self._wake_write, b"\0")
            except BlockingIOError:  # the pipe is full: a wake-up is already pending
                pass

    def _drain(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _set_status(self, **fields) -> None:
        with self._status_lock:
            self._status.update(fields)

    def _error(self, exc: BaseException) -> None:
        text = self._repeats.admit(str(exc), time.monotonic())
        if text is None:
            return
        if text != str(exc):
            exc = KanbanError(text)
        if self.on_error is not None:
            self.on_error(exc)
            return
        log.error("dispatcher: %s", exc, exc_info=not isinstance(exc, KanbanError))


class _Repeats:
    """Lets an error identical to the previous one through once per window, then says how often
    it recurred meanwhile (a dispatcher on a full disk fails the same way many times a second)."""

    def __init__(self, window: float):
        self.window = window
        self.last: str | None = None
        self.since = 0.0
        self.count = 0

    def admit(self, message: str, now: float) -> str | None:
        if message == self.last and now - self.since < self.window:
            self.count += 1
            return None
        note = (f" (repeated {self.count} more times in {now - self.since:.0f}s)"
                if message == self.last and self.count else "")
        self.last, self.since, self.count = message, now, 0
        return message + note
