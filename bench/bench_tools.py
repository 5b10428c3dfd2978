"""Worker tool benchmark: a `kanban-tui tool kanban_heartbeat` call against `python -c pass`.

Workers heartbeat through the shell surface every few minutes, and agents often call tools
in tight loops, so the whole process (interpreter, imports, open, one write) must stay cheap.
Run it alone with `python -m bench.bench_tools`, or with the others through `python -m bench`.
"""

from __future__ import annotations

import sys

from bench.common import cli_env, python_pass_seconds, result, scratch_home, wall_time
from kanban_tui.kernel import db, transitions

RUNS = 20
TARGET_RATIO = 6


def _worker_env() -> dict:
    """The environment the dispatcher gives a worker on a freshly claimed task."""
    home = scratch_home("tools")
    conn = db.connect(home / "kanban.db")
    task_id = transitions.create(conn, "benchmark heartbeats", assignee="bench")["task_id"]
    claimed = transitions.claim(conn, task_id)
    conn.close()
    return {**cli_env(home), "KANBAN_DB": str(home / "kanban.db"), "KANBAN_TASK": task_id,
            "KANBAN_RUN_ID": str(claimed["run_id"]), "KANBAN_CLAIM_LOCK": claimed["claim_lock"],
            "KANBAN_PROFILE": "bench"}


def bench_heartbeat() -> dict:
    argv = [sys.executable, "-m", "kanban_tui", "tool", "kanban_heartbeat", '{"note": "bench"}']
    value = wall_time(argv, repeat=RUNS, env=_worker_env())
    baseline = python_pass_seconds(RUNS)
    return result("`kanban-tui tool kanban_heartbeat`", value * 1000, "ms", "python -c pass",
                  baseline * 1000, f"≤ {TARGET_RATIO}x", value <= TARGET_RATIO * baseline)


def run() -> list[dict]:
    return [bench_heartbeat()]


if __name__ == "__main__":
    for row in run():
        print(row)
