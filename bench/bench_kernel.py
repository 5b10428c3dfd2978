"""Kernel benchmarks (issue: foundation): claims, contention, board snapshot, event tail, CLI list."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
import time

from bench.common import (cli_env, median_seconds, percentile, python_pass_seconds, result, scratch_home,
                          seed_tasks, wall_time)
from kanban_tui.kernel import db, queries
from kanban_tui.kernel import transitions as T

CLAIMS = 3000


def _ready_ids(conn, count: int) -> list[str]:
    ids = [f"t_{n:08x}" for n in range(count)]
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO tasks (id, title, status, created_at, updated_at) VALUES (?, ?, 'ready', ?, ?)",
                     [(task_id, "bench", now, now) for task_id in ids])
    conn.execute("COMMIT")
    return ids


def _finish(conn, task_id: str) -> None:
    """Untimed, identical for both loops: the claimed task leaves running, as when a worker ends.

    Keeps the number of running tasks realistic (the cap check counts them up to the cap).
    """
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE task_runs SET status = 'ended', outcome = 'completed', ended_at = 0 "
                 "WHERE task_id = ? AND status = 'running'", (task_id,))
    conn.execute("UPDATE tasks SET status = 'done', claim_lock = NULL, claim_expires = NULL, "
                 "current_run_id = NULL WHERE id = ?", (task_id,))
    conn.execute("COMMIT")


def bench_claims() -> list[dict]:
    raw_conn = db.connect(scratch_home("raw") / "kanban.db")
    raw_latencies = []
    for task_id in _ready_ids(raw_conn, CLAIMS):
        started = time.perf_counter()
        raw_conn.execute("BEGIN IMMEDIATE")
        raw_conn.execute("UPDATE tasks SET status = 'running', claim_lock = ?, claim_expires = ?, current_run_id = 0 "
                         "WHERE id = ? AND status = 'ready' AND claim_lock IS NULL",
                         (secrets.token_hex(8), time.time() + 900, task_id))
        raw_conn.execute("COMMIT")
        raw_latencies.append(time.perf_counter() - started)
        _finish(raw_conn, task_id)

    conn = db.connect(scratch_home("claims") / "kanban.db")
    latencies = []
    for task_id in _ready_ids(conn, CLAIMS):
        started = time.perf_counter()
        T.claim(conn, task_id, max_workers=4, profile_max_workers=4)
        latencies.append(time.perf_counter() - started)
        _finish(conn, task_id)
    rate, raw_rate = CLAIMS / sum(latencies), CLAIMS / sum(raw_latencies)
    p99, raw_p99 = percentile(latencies, 99) * 1000, percentile(raw_latencies, 99) * 1000
    return [result("kernel claims/s (1 process)", rate, "claims/s", "raw BEGIN IMMEDIATE CAS loop", raw_rate,
                   "≥ 0.33x raw", rate >= 0.33 * raw_rate),
            result("kernel claim p99 latency (1 process)", p99, "ms", "raw CAS loop p99", raw_p99,
                   "≤ 1.5 ms", p99 <= 1.5)]


CONTENDER = textwrap.dedent("""
    import json, sqlite3, sys, time
    from kanban_tui.errors import Refused
    from kanban_tui.kernel import db, transitions as T
    conn = db.connect(sys.argv[1])
    claimed, latencies, lock_errors = [], [], 0
    while True:
        ready = [r[0] for r in conn.execute("SELECT id FROM tasks WHERE status = 'ready' LIMIT 16")]
        if not ready:
            break
        for task_id in ready:
            started = time.perf_counter()
            try:
                T.claim(conn, task_id)
                claimed.append(task_id)
            except Refused:
                pass
            except sqlite3.OperationalError:
                lock_errors += 1
            latencies.append(time.perf_counter() - started)
    print(json.dumps({"claimed": claimed, "latencies": latencies, "lock_errors": lock_errors}))
""")


def bench_contention() -> list[dict]:
    home = scratch_home("contention")
    conn = db.connect(home / "kanban.db")
    _ready_ids(conn, CLAIMS)
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(home / "kanban.db")],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [json.loads(p.communicate()[0]) for p in procs]
    claimed = [t for out in outputs for t in out["claimed"]]
    latencies = [lat for out in outputs for lat in out["latencies"]]
    lock_errors = sum(out["lock_errors"] for out in outputs)
    duplicates = len(claimed) - len(set(claimed))
    p99 = percentile(latencies, 99) * 1000
    baseline = _raw_claim_latency_ms()
    return [
        result("4-process claim p99 latency", p99, "ms", "raw single-process CAS latency", baseline,
               "≤ 10 ms", p99 <= 10),
        result("4-process duplicate claims", duplicates, "claims", "claims made", len(claimed), "0",
               duplicates == 0 and len(set(claimed)) == CLAIMS),
        result("4-process lock errors surfaced", lock_errors, "errors", "claim attempts", len(latencies), "0",
               lock_errors == 0),
    ]


def _raw_claim_latency_ms() -> float:
    conn = db.connect(scratch_home("rawlat") / "kanban.db")
    ids = iter(_ready_ids(conn, 500))

    def once():
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE tasks SET status = 'running', claim_lock = 'x', current_run_id = 0 "
                     "WHERE id = ? AND status = 'ready'", (next(ids),))
        conn.execute("COMMIT")
    return median_seconds(once, 400) * 1000


def bench_snapshot(count: int, target_ms: float) -> dict:
    home = scratch_home(f"snap{count}")
    seed_tasks(home / "kanban.db", count)
    conn = db.connect(home / "kanban.db")
    queries.board_snapshot(conn)
    value = median_seconds(lambda: queries.board_snapshot(conn), 30) * 1000
    baseline = median_seconds(
        lambda: conn.execute("SELECT status, count(*) FROM tasks GROUP BY status").fetchall(), 30) * 1000
    return result(f"board snapshot at {count // 1000}k tasks", value, "ms", "raw GROUP BY status count",
                  baseline, f"≤ {target_ms:g} ms", value <= target_ms)


def bench_event_tail() -> dict:
    home = scratch_home("tail")
    seed_tasks(home / "kanban.db", 10_000)
    conn = db.connect(home / "kanban.db")
    cursor = queries.max_event_id(conn) - 500
    value = median_seconds(lambda: queries.events_since(conn, cursor, limit=500), 50) * 1000
    baseline = median_seconds(lambda: conn.execute(
        "SELECT * FROM task_events WHERE id > ? ORDER BY id LIMIT 500", (cursor,)).fetchall(), 50) * 1000
    return result("event tail, 500 new events", value, "ms", "raw SELECT of 500 events", baseline,
                  "≤ 1 ms", value <= 1.0)


def bench_cli_list() -> dict:
    home = scratch_home("cli")
    seed_tasks(home / "kanban.db", 1000)
    argv = [sys.executable, "-m", "kanban_tui", "list", "--json"]
    value = wall_time(argv, env=cli_env(home))
    baseline = python_pass_seconds()
    return result("`kanban-tui list --json` on 1k tasks", value * 1000, "ms", "python -c pass",
                  baseline * 1000, "≤ 6x", value <= 6 * baseline)


def run() -> list[dict]:
    return [*bench_claims(), *bench_contention(), bench_snapshot(10_000, 5), bench_snapshot(100_000, 15),
            bench_event_tail(), bench_cli_list()]
