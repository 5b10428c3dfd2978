"""PostgreSQL store benchmarks (issue 8): claims against a raw SKIP LOCKED loop, 4 claiming
processes, board snapshots and the event tail, each beside a same-run baseline on the same server.

Needs a server: KANBAN_TEST_PG_DSN (a role that may create databases); `make bench` and
`python -m bench postgres` start a throwaway one through scripts/with_postgres.sh when unset.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import median_seconds, percentile, result
from kanban_tui.kernel import db, queries
from kanban_tui.kernel import transitions as T

CLAIMS = 2000
CONTENDED = 3000
_names = itertools.count(1)


def _server() -> str:
    dsn = os.environ.get("KANBAN_TEST_PG_DSN")
    if not dsn:
        raise SystemExit("bench postgres needs a server: run it as `make bench` or set KANBAN_TEST_PG_DSN")
    return dsn


def _board() -> str:
    """A fresh, migrated board database on the server (dropped at exit)."""
    import psycopg

    name = f"kanban_bench_{os.getpid()}_{next(_names)}"
    with psycopg.connect(_server(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    atexit.register(_drop, name)
    url = urlunsplit(urlsplit(_server())._replace(path="/" + name))
    db.connect(url).close()
    return url


def _drop(name: str) -> None:
    import psycopg

    with psycopg.connect(_server(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _ready_ids(conn, count: int) -> list[str]:
    ids = [f"t_{n:08x}" for n in range(count)]
    now = time.time()
    db.write(conn, lambda c: c.executemany(
        "INSERT INTO tasks (id, title, status, created_at, updated_at) VALUES (?, ?, 'ready', ?, ?)",
        [(task_id, "bench", now - n, now - n) for n, task_id in enumerate(ids)]))
    conn.execute("ANALYZE")
    return ids


def _finish(conn, task_id: str) -> None:
    """Untimed, identical for both loops: the claimed task leaves running, as when a worker ends."""
    def tx(c):
        c.execute("UPDATE task_runs SET status = 'ended', outcome = 'completed', ended_at = 0 "
                  "WHERE task_id = ? AND status = 'running'", (task_id,))
        c.execute("UPDATE tasks SET status = 'done', claim_lock = NULL, claim_expires = NULL, "
                  "current_run_id = NULL WHERE id = ?", (task_id,))
    db.write(conn, tx)


RAW_CLAIM = ("UPDATE tasks SET status = 'running', claim_lock = ?, claim_expires = ?, current_run_id = 0 "
             "WHERE id = (SELECT id FROM tasks WHERE status = 'ready' ORDER BY priority DESC, created_at, id "
             "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id")


def bench_claims() -> dict:
    raw_conn = db.connect(_board())
    _ready_ids(raw_conn, CLAIMS)
    raw_elapsed = 0.0
    for _ in range(CLAIMS):
        started = time.perf_counter()
        # one statement in autocommit: its own short transaction
        (task_id,) = raw_conn.execute(RAW_CLAIM, (secrets.token_hex(8), time.time() + 900)).fetchone()
        raw_elapsed += time.perf_counter() - started
        _finish(raw_conn, task_id)

    conn = db.connect(_board())
    elapsed = 0.0
    for task_id in _ready_ids(conn, CLAIMS):
        started = time.perf_counter()
        T.claim(conn, task_id, max_workers=4, profile_max_workers=4)
        elapsed += time.perf_counter() - started
        _finish(conn, task_id)
    rate, raw_rate = CLAIMS / elapsed, CLAIMS / raw_elapsed
    return result("kernel claims/s on PostgreSQL (1 process)", rate, "claims/s",
                  "raw UPDATE ... SKIP LOCKED RETURNING loop", raw_rate, "≥ 0.33x raw", rate >= 0.33 * raw_rate)


CONTENDER = textwrap.dedent("""
    import json, sys, time
    from kanban_tui.errors import KanbanError, Refused
    from kanban_tui.kernel import db, transitions as T
    conn = db.connect(sys.argv[1])
    claimed, latencies, errors = [], [], 0
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
            except KanbanError:
                errors += 1
            latencies.append(time.perf_counter() - started)
    print(json.dumps({"claimed": claimed, "latencies": latencies, "errors": errors}))
""")


def bench_contention() -> list[dict]:
    url = _board()
    conn = db.connect(url)
    _ready_ids(conn, CONTENDED)
    root = str(Path(__file__).resolve().parent.parent)
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, url], stdout=subprocess.PIPE, text=True,
                              cwd=root) for _ in range(4)]
    outputs = [json.loads(p.communicate()[0]) for p in procs]
    claimed = [t for out in outputs for t in out["claimed"]]
    latencies = [lat for out in outputs for lat in out["latencies"]]
    errors = sum(out["errors"] for out in outputs)
    duplicates = len(claimed) - len(set(claimed))
    p99 = percentile(latencies, 99) * 1000
    baseline = median_seconds(lambda: conn.execute("SELECT 1").fetchone(), 200) * 1000
    return [
        result(f"4 processes claiming {CONTENDED // 1000}k: p99 claim", p99, "ms", "one round trip (SELECT 1)",
               baseline, "≤ 20 ms", p99 <= 20),
        result("4 processes claiming: duplicate claims", duplicates, "claims", "claims made", len(claimed), "0",
               duplicates == 0 and len(set(claimed)) == CONTENDED),
        result("4 processes claiming: errors surfaced", errors, "errors", "claim attempts", len(latencies), "0",
               errors == 0),
    ]


def _seed(url: str, count: int) -> None:
    """`count` live tasks, one `created` event each (not timed), as bench.common.seed_tasks."""
    now = time.time()
    statuses = ("triage", "todo", "ready", "blocked", "done")
    rows = [(f"t_{n:08x}", f"seeded task {n}", f"body of task {n}", f"profile-{n % 7}", statuses[n % 5],
             n % 5, f"tenant-{n % 3}", now - n, now - n) for n in range(count)]
    events = [(row[0], "created", json.dumps({"status": row[4]}), row[7]) for row in rows]
    conn = db.connect(url)

    def tx(c):
        c.executemany("INSERT INTO tasks (id, title, body, assignee, status, priority, tenant, created_at, "
                      "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        c.executemany("INSERT INTO task_events (task_id, kind, payload, created_at) VALUES (?, ?, ?, ?)", events)
    db.write(conn, tx)
    conn.execute("ANALYZE")
    conn.close()


def bench_snapshot(count: int, target_ms: float) -> dict:
    url = _board()
    _seed(url, count)
    conn = db.connect(url)
    queries.board_snapshot(conn)
    value = median_seconds(lambda: queries.board_snapshot(conn), 30) * 1000
    baseline = median_seconds(
        lambda: conn.execute("SELECT status, count(*) FROM tasks GROUP BY status").fetchall(), 30) * 1000
    return result(f"board snapshot at {count // 1000}k tasks on PostgreSQL", value, "ms",
                  "raw GROUP BY status count", baseline, f"≤ {target_ms:g} ms", value <= target_ms)


def bench_event_tail() -> dict:
    url = _board()
    _seed(url, 10_000)
    conn = db.connect(url)
    cursor = queries.max_event_id(conn) - 500
    value = median_seconds(lambda: queries.events_since(conn, cursor, limit=500), 50) * 1000
    baseline = median_seconds(lambda: conn.execute(
        "SELECT * FROM task_events WHERE id > ? ORDER BY id LIMIT 500", (cursor,)).fetchall(), 50) * 1000
    return result("event tail, 500 new events, on PostgreSQL", value, "ms", "raw SELECT of 500 events",
                  baseline, "≤ 2x raw", value <= 2 * baseline)


def run() -> list[dict]:
    _server()
    return [bench_claims(), *bench_contention(), bench_snapshot(10_000, 10), bench_snapshot(100_000, 25),
            bench_event_tail()]
