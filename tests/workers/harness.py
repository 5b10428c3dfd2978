"""A board on tmp_path whose profiles run the scripted worker, for tests with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psutil

from kanban_tui import paths as paths_module
from kanban_tui.config import Config, load_config
from kanban_tui.kernel import db, procs, queries, transitions
from kanban_tui.kernel.dispatcher import Dispatcher

WORKER = Path(__file__).with_name("scripted.py")
PYTHON = sys.executable


def complete(summary: str, **extra) -> list[dict]:
    return [{"do": "complete", "summary": summary, **extra}]


class Board:
    def __init__(self, root: Path):
        self.root = root
        self.paths = paths_module.resolve(home=root / "home")
        paths_module.ensure_home(self.paths)
        self.plan_file = root / "plan.json"
        self.trace_file = root / "trace.jsonl"
        self.plan: dict[str, list] = {}
        self.conn = db.connect(self.paths.db)
        self._dispatchers: list[Dispatcher] = []
        self._headless: list[subprocess.Popen] = []
        self.config = self.configure()

    # -- set-up -------------------------------------------------------------------------

    def configure(self, profiles: dict[str, dict] | tuple[str, ...] = ("dev",), *, interval: float = 0.2,
                  max_workers: int = 4, failure_limit: int = 3, claim_ttl: int = 900,
                  default_command: list[str] | None = None, notify_command: list[str] | None = None,
                  home: Path | None = None, **dispatch_keys) -> Config:
        """Write config.yaml (JSON is YAML) of this board's home, or of another `home` sharing its
        database (another host); every profile runs the scripted worker unless told;
        `dispatch_keys` are further `dispatch:` settings."""
        if not isinstance(profiles, dict):
            profiles = {name: {} for name in profiles}
        worker_env = {"WORKER_PLAN": str(self.plan_file), "WORKER_TRACE": str(self.trace_file)}
        config = {
            "dispatch": {"interval_seconds": interval, "max_workers": max_workers,
                         "failure_limit": failure_limit, "claim_ttl_seconds": claim_ttl, **dispatch_keys},
            "default_command": default_command,
            "profiles": {name: {"command": [PYTHON, str(WORKER)], **spec,
                                "env": {**worker_env, **spec.get("env", {})}}
                         for name, spec in profiles.items()},
            "notify": {"command": notify_command},
        }
        path = self.paths.config if home is None else home / "config.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=1))
        loaded = load_config(path)
        if home is None:
            self.config = loaded
        return loaded

    def script(self, title: str, *attempts: list[dict]) -> None:
        self.plan[title] = list(attempts)
        # atomically: workers already running read the plan while more cards are scripted
        staged = self.plan_file.with_suffix(".tmp")
        staged.write_text(json.dumps(self.plan))
        os.replace(staged, self.plan_file)

    def create(self, title: str, *attempts: list[dict], **fields) -> str:
        if attempts:
            self.script(title, *attempts)
        return transitions.create(self.conn, title, **fields)["task_id"]

    # -- dispatchers --------------------------------------------------------------------

    def start(self, **options) -> Dispatcher:
        runner = Dispatcher(self.paths, self.config, **options)
        self._dispatchers.append(runner)
        runner.start()
        return runner

    def headless(self, name: str = "headless", *, host_id: str | None = None, home: Path | None = None) -> subprocess.Popen:
        """`kanban-tui --dispatch-only` in its own process (of another `home` on this board's
        database, as host `host_id`: another host); its log is <root>/<name>.log."""
        log = open(self.root / f"{name}.log", "ab")
        argv = [PYTHON, "-m", "kanban_tui", "--home", str(home or self.paths.home), "--db", str(self.paths.db)]
        if host_id is not None:
            argv += ["--host-id", host_id]
        proc = subprocess.Popen([*argv, "--dispatch-only"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self._headless.append(proc)
        return proc

    def headless_log(self, name: str = "headless") -> str:
        return (self.root / f"{name}.log").read_text()

    # -- observing ----------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.01)

    def status(self, task_id: str) -> str:
        return queries.get_task(self.conn, task_id)["status"]

    def task(self, task_id: str) -> dict:
        return queries.get_task(self.conn, task_id)

    def events(self, task_id: str) -> list[dict]:
        return queries.events(self.conn, task_id)

    def kinds(self, task_id: str, *, skip: tuple[str, ...] = ("spawned", "heartbeat", "commented")) -> list[str]:
        return [e["kind"] for e in self.events(task_id) if e["kind"] not in skip]

    def runs(self, task_id: str) -> list[dict]:
        return queries.runs(self.conn, task_id)

    def outcomes(self, task_id: str) -> list[str | None]:
        return [run["outcome"] for run in self.runs(task_id)]

    def trace(self) -> list[dict]:
        if not self.trace_file.exists():
            return []
        return [json.loads(line) for line in self.trace_file.read_text().splitlines() if line.strip()]

    def context(self, task_id: str, run_id: int) -> str:
        return (self.paths.workspaces / task_id / f"context-{run_id}.md").read_text()

    def live_worker_pids(self) -> list[int]:
        """Workers this board started and that still run: those that wrote a trace line, and
        those on a run, identified by their recorded start time (a worker killed before it
        wrote its trace, or still between fork and exec, has no telling command line yet)."""
        recorded = self.conn.execute(
            "SELECT worker_pid, worker_started_at FROM task_runs WHERE worker_pid IS NOT NULL").fetchall()
        pids = {pid for pid, started in recorded if procs.is_alive(pid, started)}
        for pid in {entry["pid"] for entry in self.trace()} - pids:
            try:
                if str(WORKER) in psutil.Process(pid).cmdline():
                    pids.add(pid)
            except psutil.Error:
                continue
        return sorted(pids)

    # -- tear-down ----------------------------------------------------------------------

    def close(self) -> None:
        for runner in self._dispatchers:
            runner.stop()
        for proc in self._headless:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for pid in self.live_worker_pids():
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        self.conn.close()
