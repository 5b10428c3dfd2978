"""Dispatcher benchmarks: wake-up latencies and spawn throughput, each beside a same-run baseline.

- nudged ready -> the worker's first statement, vs a bare Popen -> the same first statement
- ready made by another process (no nudge) -> `spawned` committed, vs the data_version poll period
- own worker SIGKILLed -> `crashed` committed, vs kill -> waitpid returning
- adopted (not our child) worker SIGKILLed -> `crashed` committed, vs a pidfd waking on its death
- a burst of 200 ready tasks -> spawns per second, vs Popen of the same command in a loop
- a spawn that writes the run folder (mcp.json + a preset's settings file), vs the same spawn without it
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

from bench.common import percentile, result, scratch_home
from kanban_tui import paths as paths_module
from kanban_tui.config import Config, Profile, load_config
from kanban_tui.kernel import db, invocation, queries, run_folder, spawn, transitions
from kanban_tui.kernel.dispatcher import WAKE_POLL_SECONDS, Dispatcher

# The worker's first statement stamps the time into its cwd (the task's workspace).
FIRST_STATEMENT = "import time; stamp = time.time(); open('first', 'w').write(repr(stamp))"
HANG = FIRST_STATEMENT + "; time.sleep(3600)"
SAMPLES = 40
DEATH_SAMPLES = 30
ADOPTED_SAMPLES = 12
BURST = 200
FOLDER_SAMPLES = 100

CREATOR = """
import sys, time
from kanban_tui.kernel import db, transitions
conn = db.connect(sys.argv[1])
for line in sys.stdin:
    task_id = transitions.create(conn, line.strip(), assignee="bench")["task_id"]
    print(task_id, repr(time.time()), flush=True)
"""


class Board:
    """A scratch home whose one profile `bench` runs `python -c <code>`."""

    def __init__(self, label: str, code: str, *, max_workers: int = 4):
        self.paths = paths_module.resolve(home=scratch_home(label))
        paths_module.ensure_home(self.paths)
        self.paths.config.write_text(json.dumps({
            "dispatch": {"interval_seconds": 3600, "max_workers": max_workers},
            "profiles": {"bench": {"command": [sys.executable, "-c", code]}}}))
        self.config = load_config(self.paths.config)
        self.conn = db.connect(self.paths.db)

    def create(self, title: str) -> str:
        return transitions.create(self.conn, title, assignee="bench")["task_id"]

    def leader(self) -> Dispatcher:
        runner = Dispatcher(self.paths, self.config)
        runner.start()
        wait_for(lambda: runner.status()["role"] == "leader")
        return runner

    def first_statement(self, task_id: str) -> float:
        stamp = self.paths.workspaces / task_id / "first"
        return float(wait_for(lambda: stamp.exists() and stamp.read_text()))

    def event_time(self, task_id: str, kind: str) -> float:
        def find():
            row = self.conn.execute("SELECT created_at FROM task_events WHERE task_id = ? AND kind = ?",
                                    (task_id, kind)).fetchone()
            return row and row[0]
        return wait_for(find)

    def settled(self, task_id: str) -> None:
        """Wait until the dispatcher has ended the task's run (so samples do not overlap)."""
        wait_for(lambda: queries.get_task(self.conn, task_id)["status"] != "running")


def wait_for(predicate, timeout: float = 30.0, step: float = 0.0005):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition never came true")
        time.sleep(step)


def _raw_first_statement() -> float:
    workdir = scratch_home("raw")
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-c", FIRST_STATEMENT], cwd=workdir, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    stamp = float(wait_for(lambda: (workdir / "first").exists() and (workdir / "first").read_text()))
    proc.wait()
    return stamp - started


def bench_nudged_first_statement() -> dict:
    baseline = percentile([_raw_first_statement() for _ in range(SAMPLES)], 95)
    board = Board("nudge", FIRST_STATEMENT)
    runner = board.leader()
    samples = []
    try:
        for n in range(SAMPLES):
            task_id = board.create(f"nudged {n}")
            started = time.time()
            runner.nudge()
            samples.append(board.first_statement(task_id) - started)
            board.settled(task_id)
    finally:
        runner.stop()
    value = percentile(samples, 95)
    return result("nudged ready -> worker first statement p95", value * 1000, "ms",
                  "Popen -> first statement p95", baseline * 1000, "<= baseline + 20 ms",
                  value <= baseline + 0.020)


def bench_foreign_ready_to_spawned() -> dict:
    board = Board("foreign", FIRST_STATEMENT)
    runner = board.leader()
    creator = subprocess.Popen([sys.executable, "-c", CREATOR, str(board.paths.db)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    samples = []
    try:
        for n in range(SAMPLES):
            creator.stdin.write(f"foreign {n}\n")
            creator.stdin.flush()
            task_id, committed = creator.stdout.readline().split()
            samples.append(board.event_time(task_id, "spawned") - float(committed))
            board.settled(task_id)
    finally:
        creator.stdin.close()
        creator.wait()
        runner.stop()
    value = percentile(samples, 95)
    return result("other process makes ready -> spawned p95 (no nudge)", value * 1000, "ms",
                  "data_version poll period", WAKE_POLL_SECONDS * 1000, "<= 100 ms", value <= 0.100)


def _raw_kill_to_waitpid() -> float:
    proc = subprocess.Popen(["sleep", "60"])
    time.sleep(0.005)
    started = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return time.time() - started


def bench_own_worker_death() -> dict:
    baseline = percentile([_raw_kill_to_waitpid() for _ in range(DEATH_SAMPLES)], 95)
    board = Board("own-death", HANG)
    runner = board.leader()
    samples = []
    try:
        for n in range(DEATH_SAMPLES):
            task_id = board.create(f"doomed {n}")
            runner.nudge()
            board.first_statement(task_id)
            pid = queries.get_task(board.conn, task_id)["worker_pid"]
            started = time.time()
            os.kill(pid, signal.SIGKILL)
            samples.append(board.event_time(task_id, "crashed") - started)
    finally:
        runner.stop()
    value = percentile(samples, 95)
    return result("own worker SIGKILLed -> crashed committed p95", value * 1000, "ms",
                  "kill -> waitpid p95", baseline * 1000, "<= 20 ms", value <= 0.020)


def _raw_pidfd_wake() -> float:
    """A pidfd on a process that is not our child, woken by its death."""
    shell = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!"], stdout=subprocess.PIPE, text=True)
    pid = int(shell.stdout.readline())
    shell.wait()
    fd = os.pidfd_open(pid)
    try:
        started = time.time()
        os.kill(pid, signal.SIGKILL)
        select.select([fd], [], [], 5)
        return time.time() - started
    finally:
        os.close(fd)


def bench_adopted_worker_death() -> dict:
    baseline = percentile([_raw_pidfd_wake() for _ in range(ADOPTED_SAMPLES)], 95)
    board = Board("adopted", HANG, max_workers=ADOPTED_SAMPLES)
    tasks = [board.create(f"adopted {n}") for n in range(ADOPTED_SAMPLES)]
    # A one-shot dispatch in its own process spawns them and exits: they are nobody's children here.
    subprocess.run([sys.executable, "-m", "kanban_tui", "--home", str(board.paths.home), "dispatch"],
                   check=True, stdout=subprocess.DEVNULL)
    for task_id in tasks:
        board.first_statement(task_id)
    runner = board.leader()
    samples = []
    try:
        wait_for(lambda: runner.status()["last_tick_at"])
        for task_id in tasks:
            started = time.time()
            os.kill(queries.get_task(board.conn, task_id)["worker_pid"], signal.SIGKILL)
            samples.append(board.event_time(task_id, "crashed") - started)
    finally:
        runner.stop()
    value = percentile(samples, 95)
    return result("adopted worker SIGKILLed -> crashed committed p95", value * 1000, "ms",
                  "pidfd wake on a non-child's death p95", baseline * 1000, "<= 1000 ms", value <= 1.0)


def _raw_spawn_rate(code: str) -> float:
    workdir = scratch_home("burst-raw")
    with open(workdir / "log", "ab") as log:
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", code], cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True) for _ in range(BURST)]
        elapsed = time.perf_counter() - started
    for proc in procs:
        proc.wait()
    return BURST / elapsed


def bench_burst_spawn_rate() -> dict:
    code = "pass"
    baseline = _raw_spawn_rate(code)
    board = Board("burst", code, max_workers=BURST + 50)
    for n in range(BURST):
        board.create(f"burst {n}")
    runner = board.leader()
    try:
        wait_for(lambda: board.conn.execute(
            "SELECT count(*) FROM task_events WHERE kind = 'spawned'").fetchone()[0] == BURST)
        first, last = board.conn.execute(
            "SELECT min(created_at), max(created_at) FROM task_events WHERE kind IN ('claimed', 'spawned')"
        ).fetchone()
        wait_for(lambda: board.conn.execute(
            "SELECT count(*) FROM tasks WHERE status = 'running'").fetchone()[0] == 0)
    finally:
        runner.stop()
    rate = BURST / (last - first)
    return result(f"burst of {BURST} ready tasks: spawns per second", rate, "spawn/s",
                  "Popen loop of the same command", baseline, ">= 50% of baseline", rate >= 0.5 * baseline)


def bench_run_folder_spawn() -> dict:
    """The dispatcher's spawn step (plan, exec) with and without writing the run folder, the two
    interleaved: the gemini preset writes mcp.json and its settings file, like most presets."""
    paths = paths_module.resolve(home=scratch_home("run-folder"))
    paths_module.ensure_home(paths)
    profile = Profile(name="bench", preset="gemini", command=[sys.executable, "-c", "pass"])
    config = Config(profiles={"bench": profile})
    with_folder, without = [], []
    for n in range(FOLDER_SAMPLES):
        for samples, write in ((without, False), (with_folder, True)):
            run_id = 2 * n + write + 1
            started = time.perf_counter()
            planned = invocation.plan(config, paths, task_id="t_0000beef", assignee="bench", tenant=None,
                                      skills=[], run_id=run_id, claim_lock=os.urandom(16).hex(),
                                      workspace=paths.workspaces, base_env=os.environ)
            if write:
                run_folder.write(paths, run_id, planned.server, planned.files)
            proc = spawn.spawn(planned.argv, planned.env, paths.workspaces, paths.log_for("t_0000beef"))
            samples.append(time.perf_counter() - started)
            spawn.release(proc)  # held at the spawn gate until then, as the dispatcher's are
            proc.wait()
            run_folder.remove(paths, run_id)
    value, baseline = percentile(with_folder, 95), percentile(without, 95)
    return result("spawn step writing the run folder p95", value * 1000, "ms",
                  "the same spawn without the run folder p95", baseline * 1000, "<= baseline + 5 ms",
                  value <= baseline + 0.005)


def run() -> list[dict]:
    return [bench_nudged_first_statement(), bench_foreign_ready_to_spawned(), bench_own_worker_death(),
            bench_adopted_worker_death(), bench_burst_spawn_rate(), bench_run_folder_spawn()]


if __name__ == "__main__":
    for row in run():
        print(row)
