"""Shared helpers for the benchmarks: timing, percentiles, seeding, and the result row."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from kanban_tui.kernel import db


def result(name: str, value: float, unit: str, baseline_name: str, baseline_value: float,
           target: str, ok: bool) -> dict:
    """One benchmark figure with the same-run baseline it is compared against."""
    ratio = value / baseline_value if baseline_value else float("inf")
    return {"name": name, "value": value, "unit": unit, "baseline_name": baseline_name,
            "baseline_value": baseline_value, "ratio": ratio, "target": target, "ok": ok}


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def wall_time(argv: list[str], repeat: int = 15, env: dict | None = None) -> float:
    """Median wall time of a command, output discarded."""
    def once():
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       env=env)
    once()  # warm the page cache
    return median_seconds(once, repeat)


def python_pass_seconds(repeat: int = 15) -> float:
    return wall_time([sys.executable, "-c", "pass"], repeat)


def scratch_home(label: str) -> Path:
    """A temporary board folder, removed when the benchmark process exits."""
    folder = Path(tempfile.mkdtemp(prefix=f"kanban-bench-{label}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def seed_tasks(db_path: Path, count: int, *, status_cycle=("triage", "todo", "ready", "blocked", "done"),
               now: float | None = None) -> None:
    """Bulk-insert `count` live tasks (not timed): raw inserts, one `created` event each."""
    now = now or time.time()
    conn = db.connect(db_path)
    rows, events = [], []
    for n in range(count):
        task_id = f"t_{n:08x}"
        status = status_cycle[n % len(status_cycle)]
        rows.append((task_id, f"seeded task {n}", f"body of task {n}", f"profile-{n % 7}", status,
                     n % 5, f"tenant-{n % 3}", now - n, now - n))
        events.append((task_id, "created", json.dumps({"status": status}), now - n))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO tasks (id, title, body, assignee, status, priority, tenant, created_at, "
                     "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO task_events (task_id, kind, payload, created_at) VALUES (?, ?, ?, ?)", events)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def cli_env(home: Path) -> dict:
    env = dict(os.environ)
    env["KANBAN_TUI_HOME"] = str(home)
    return env
