"""Real processes against one SQLite file: contention and crashes never corrupt the board."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kanban_tui.kernel import db, doctor
from kanban_tui.kernel import transitions as T

CLAIMER = textwrap.dedent("""
    import json, sys
    from kanban_tui.errors import Refused
    from kanban_tui.kernel import db, transitions as T
    conn = db.connect(sys.argv[1])
    claimed = []
    while True:
        ready = [r[0] for r in conn.execute("SELECT id FROM tasks WHERE status = 'ready' LIMIT 8")]
        if not ready:
            break
        for task_id in ready:
            try:
                T.claim(conn, task_id)
                claimed.append(task_id)
            except Refused:
                pass
    print(json.dumps(claimed))
""")

CHURNER = textwrap.dedent("""
    import sys
    from kanban_tui.errors import KanbanError
    from kanban_tui.kernel import db, transitions as T
    conn = db.connect(sys.argv[1])
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        try:
            parent = T.create(conn, f"parent {n}", assignee="dev")["task_id"]
            child = T.create(conn, f"child {n}", assignee="dev", parents=[parent])["task_id"]
            T.claim(conn, parent)
            T.heartbeat(conn, parent, note="working")
            T.comment(conn, child, "waiting")
            T.complete(conn, parent, summary="done", metadata={"n": n})
            T.claim(conn, child)
            T.block(conn, child, reason="question", comment_author="operator")
            T.unblock(conn, child)
            T.archive(conn, child)
        except KanbanError:
            pass
""")


def test_four_processes_claim_each_task_exactly_once(home):
    conn = db.connect(home.db)
    ids = {T.create(conn, f"task {n}", assignee="dev")["task_id"] for n in range(400)}
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(home.db)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    claimed = [task_id for out, _ in results for task_id in json.loads(out)]
    assert sorted(claimed) == sorted(ids)  # all claimed, none twice
    assert conn.execute("SELECT count(*) FROM task_runs").fetchone()[0] == 400
    assert doctor.check(conn) == []


@pytest.mark.slow
def test_sigkill_mid_transition_100_times_leaves_board_sound(home):
    db.connect(home.db).close()
    rng = random.Random(7)
    for _ in range(100):
        proc = subprocess.Popen([sys.executable, "-c", CHURNER, str(home.db)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    conn = db.connect(home.db)
    assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] > 100
    assert doctor.check(conn) == []


CREATOR = textwrap.dedent("""
    import json, sys
    from kanban_tui.kernel import db, transitions as T
    conn = db.connect(sys.argv[1])
    print(json.dumps([T.create(conn, "deploy", idempotency_key="deploy-42")["task_id"] for _ in range(50)]))
""")


def test_concurrent_creates_with_one_idempotency_key_make_one_task(home):
    conn = db.connect(home.db)
    procs = [subprocess.Popen([sys.executable, "-c", CREATOR, str(home.db)], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    returned = {task_id for p in procs for task_id in json.loads(p.communicate(timeout=60)[0])}
    assert all(p.returncode == 0 for p in procs)
    assert len(returned) == 1
    assert conn.execute("SELECT count(*) FROM tasks WHERE idempotency_key = 'deploy-42'").fetchone()[0] == 1
    assert doctor.check(conn) == []
