"""PostgreSQL store benchmarks (issue 8): claims against a raw SKIP LOCKED loop, 4 claiming
processes, board snapshots and the event tail; across hosts: another host's ready card to a spawn
(against NOTIFY's own delivery), a killed host's runs reclaimed (against the lease) and another
host's commit painted on a board (against the same on SQLite); each beside a same-run baseline.

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
from kanban_tui.paths import Paths

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
            bench_event_tail(), bench_other_host_ready_to_spawned(), bench_host_loss(), bench_tui_other_host_commit()]


# ---------------------------------------------------------------- several hosts

CREATOR = textwrap.dedent("""
    import sys, time
    from kanban_tui.kernel import db, transitions
    conn = db.connect(sys.argv[1])
    for line in sys.stdin:
        task_id = transitions.create(conn, line.strip(), assignee="bench")["task_id"]
        print(task_id, repr(time.time()), flush=True)
""")
LISTENER = textwrap.dedent("""
    import select, sys, time, psycopg
    conn = psycopg.connect(sys.argv[1], autocommit=True)
    conn.execute("LISTEN bench_probe")
    print("ready", flush=True)
    while True:
        select.select([conn.pgconn.socket], [], [])
        conn.pgconn.consume_input()
        while (note := conn.pgconn.notifies()) is not None:
            print(repr(time.time()), flush=True)
""")
HOST_SAMPLES = 30
LEASE_SECONDS = 3


def _host_home(label: str, url: str, code: str, **dispatch) -> Paths:
    from kanban_tui import paths as paths_module

    from bench.common import scratch_home

    paths = paths_module.resolve(home=scratch_home(label), db=url)
    paths_module.ensure_home(paths)
    paths.config.write_text(json.dumps({
        "dispatch": {"interval_seconds": 3600, "max_workers": 4, **dispatch},
        "profiles": {"bench": {"command": [sys.executable, "-c", code]}}}))
    return paths


def _wait(predicate, timeout: float = 30.0, step: float = 0.001):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition never came true")
        time.sleep(step)
    return value


def _event_time(conn, task_id: str, kind: str) -> float:
    return _wait(lambda: (row := conn.execute("SELECT created_at FROM task_events WHERE task_id = ? AND kind = ?",
                                              (task_id, kind)).fetchone()) and row[0])


def _notify_round_trip_p95(url: str) -> float:
    """The server's own NOTIFY -> LISTEN delivery to another process: the floor of a wake-up."""
    root = str(Path(__file__).resolve().parent.parent)
    listener = subprocess.Popen([sys.executable, "-c", LISTENER, url], stdout=subprocess.PIPE, text=True, cwd=root)
    listener.stdout.readline()
    conn = db.connect(url)
    samples = []
    for _ in range(HOST_SAMPLES):
        sent = time.time()
        conn.execute("NOTIFY bench_probe")
        samples.append(float(listener.stdout.readline()) - sent)
    listener.kill()
    listener.wait()
    return percentile(samples, 95)


def bench_other_host_ready_to_spawned() -> dict:
    from kanban_tui.config import load_config
    from kanban_tui.kernel.dispatcher import Dispatcher

    url = _board()
    baseline = _notify_round_trip_p95(url)
    paths = _host_home("host-a", url, "import time; time.sleep(0.05)")
    runner = Dispatcher(paths, load_config(paths.config), host_id="bench-a")
    runner.start()
    _wait(lambda: runner.status()["role"] == "leader")
    root = str(Path(__file__).resolve().parent.parent)
    creator = subprocess.Popen([sys.executable, "-c", CREATOR, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=root)
    conn = db.connect(url)
    samples = []
    try:
        for n in range(HOST_SAMPLES):
            creator.stdin.write(f"from another host {n}\n")
            creator.stdin.flush()
            task_id, committed = creator.stdout.readline().split()
            samples.append(_event_time(conn, task_id, "spawned") - float(committed))
            _wait(lambda: queries.get_task(conn, task_id)["status"] != "running")
    finally:
        creator.stdin.close()
        creator.wait()
        runner.stop()
    value = percentile(samples, 95)
    return result("other host makes ready -> spawned p95 (no nudge)", value * 1000, "ms",
                  "NOTIFY -> LISTEN delivery p95", baseline * 1000, "≤ 150 ms", value <= 0.150)


def bench_host_loss() -> dict:
    """A host's dispatcher and workers SIGKILLed mid-run -> its runs reclaimed by the other host."""
    url = _board()
    hang = "import time; time.sleep(3600)"
    homes = [_host_home(f"host-{name}", url, hang, host_lease_seconds=LEASE_SECONDS) for name in ("doomed", "live")]
    root = str(Path(__file__).resolve().parent.parent)

    def headless(paths, host_id: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "kanban_tui", "--home", str(paths.home), "--db", url,
                                 "--host-id", host_id, "--dispatch-only"], cwd=root, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=open(f"/tmp/bench-{host_id}.log", "w"))

    conn = db.connect(url)
    doomed = headless(homes[0], "doomed")
    tasks = [T.create(conn, f"on the doomed host {n}", assignee="bench")["task_id"] for n in range(4)]
    pids = [_wait(lambda t=t: queries.get_task(conn, t)["worker_pid"]) for t in tasks]
    live = headless(homes[1], "live")
    _wait(lambda: conn.execute("SELECT 1 FROM dispatchers WHERE host_id = 'live'").fetchone())
    doomed.kill()
    for pid in pids:
        os.killpg(pid, 9)
    killed = time.time()
    reclaimed = max(_event_time(conn, task_id, "reclaimed") for task_id in tasks)
    live.kill()
    doomed.wait()
    live.wait()
    for task_id in tasks:  # the live host's retries of them
        pid = queries.get_task(conn, task_id)["worker_pid"]
        if pid:
            os.killpg(pid, 9)
    value = reclaimed - killed
    return result(f"host SIGKILLed -> its {len(tasks)} runs reclaimed", value, "s",
                  "dispatch.host_lease_seconds", LEASE_SECONDS, "≤ lease + 3 s", value <= LEASE_SECONDS + 3)


def _commit_to_paint(url: str | None) -> float:
    """Median: another process creates a card -> the board's next frame after it shows it."""
    import asyncio
    import statistics

    from kanban_tui import paths as paths_module
    from kanban_tui.app import KanbanApp
    from kanban_tui.config import Config
    from kanban_tui.gateway import Gateway

    from bench.common import scratch_home

    paths = paths_module.resolve(home=scratch_home("tui-pg" if url else "tui-sqlite"), db=url)
    paths_module.ensure_home(paths)
    db.connect(paths.db).close()
    app = KanbanApp(Gateway(paths, Config()), start_dispatcher=False)
    root = str(Path(__file__).resolve().parent.parent)
    creator = subprocess.Popen([sys.executable, "-c", CREATOR, str(paths.db)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=root)
    samples: list[float] = []

    async def measure() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause(0.5)
            ready = app.board.lists["ready"]
            for n in range(HOST_SAMPLES):
                creator.stdin.write(f"painted {n}\n")
                creator.stdin.flush()
                task_id, committed = (await asyncio.to_thread(creator.stdout.readline)).split()
                while ready.index_of(task_id) is None:
                    await asyncio.sleep(0.001)
                shown = asyncio.Event()
                app.call_after_refresh(shown.set)  # the frame holding it has been painted
                await shown.wait()
                samples.append(time.time() - float(committed))
                await asyncio.sleep(0.05)

    asyncio.run(measure())
    creator.stdin.close()
    creator.wait()
    return statistics.median(samples)


def bench_tui_other_host_commit() -> dict:
    baseline = _commit_to_paint(None)
    value = _commit_to_paint(_board())
    return result("another host's commit -> painted on PostgreSQL (median)", value * 1000, "ms",
                  "same on SQLite", baseline * 1000, "≤ 250 ms", value <= 0.250)
