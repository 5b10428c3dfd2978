"""The demo played for real: seeded board, headless dispatcher, scripted worker processes.

One run of the whole demo (module fixture) until every card is done or blocked, then one
test per story reads the board.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kanban_tui.demo import home as demo_home
from kanban_tui.demo import stories
from kanban_tui.kernel import db, queries

pytestmark = pytest.mark.slow

SETTLE_TIMEOUT_SECONDS = 60
UNSETTLED = ("triage", "todo", "ready", "running")
FOLLOW_UP_COUNT = len(stories.FOLLOW_UPS)


def kanban(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kanban_tui", *args], capture_output=True, text=True,
                          **kwargs)


def settled(conn) -> bool:
    tasks = queries.list_tasks(conn)
    return (len(tasks) == len(stories.SEEDED) + FOLLOW_UP_COUNT
            and not any(task["status"] in UNSETTLED for task in tasks))


@dataclass
class Played:
    home: Path
    conn: object
    seconds: float


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """The demo home after the stories settled."""
    home = tmp_path_factory.mktemp("demo") / "home"
    env = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_")}
    seeded = kanban("demo", "--home", str(home), "--no-open", env=env)
    assert seeded.returncode == 0, seeded.stderr
    dispatcher_log = home.parent / "dispatcher.log"
    started = time.monotonic()
    with open(dispatcher_log, "w") as log:
        dispatcher = subprocess.Popen([sys.executable, "-m", "kanban_tui", "--home", str(home), "--dispatch-only"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT)
    conn = db.connect(home / "kanban.db")
    try:
        while not settled(conn):
            assert dispatcher.poll() is None, dispatcher_log.read_text()
            assert time.monotonic() - started < SETTLE_TIMEOUT_SECONDS, \
                [(t["title"], t["status"]) for t in queries.list_tasks(conn) if t["status"] in UNSETTLED]
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        print(f"\ndemo stories settled in {elapsed:.1f}s")
        yield Played(home, conn, elapsed)
    finally:
        dispatcher.send_signal(signal.SIGINT)
        dispatcher.wait(timeout=15)
        conn.close()
        demo_home.stop_leftover_workers(demo_home.demo_paths(str(home)))


def task(board, title: str) -> dict:
    return next(t for t in queries.list_tasks(board.conn) if t["title"] == title)


def runs(board, title: str) -> list[dict]:
    return queries.runs(board.conn, task(board, title)["id"])


def outcomes(board, title: str) -> list[str]:
    return [run["outcome"] for run in runs(board, title)]


def worker_log(board, title: str) -> str:
    return (board.home / "logs" / f"{task(board, title)['id']}.log").read_text()


def latest_run(board, title: str) -> dict:
    return runs(board, title)[-1]


def test_settles_within_a_minute(board):
    assert board.seconds < SETTLE_TIMEOUT_SECONDS


def test_solo_pipeline_hands_off_down_the_chain(board):
    design, api, tests = (card.title for card in stories.SOLO)
    assert [task(board, t)["status"] for t in (design, api, tests)] == ["done"] * 3
    assert outcomes(board, design) == ["completed"]
    assert latest_run(board, design)["summary"] == stories.SOLO[0].summary
    assert latest_run(board, design)["metadata"] == stories.SOLO[0].metadata
    child_saw = worker_log(board, api)
    assert "## Parent task results" in child_saw
    assert stories.SOLO[0].summary in child_saw
    assert "migrations/001_users.sql" in child_saw
    beats = [e["payload"]["note"] for e in queries.events(board.conn, task(board, design)["id"])
             if e["kind"] == "heartbeat"]
    assert "schema drafted, writing migrations now" in beats


def test_fleet_drains_all_three_pools(board):
    fleet = [t for t in queries.list_tasks(board.conn, tenant="content-ops")]
    assert len(fleet) == 12 and all(t["status"] == "done" for t in fleet)
    translated = latest_run(board, "Translate homepage to Spanish")
    assert translated["summary"] == "translated 4 pages, style matched existing marketing voice"
    assert translated["metadata"] == {"duration_seconds": 720, "tokens_used": 2100}


def test_role_pipeline_blocks_once_then_completes(board):
    spec, impl, review = (card.title for card in stories.ROLE_PIPELINE)
    assert outcomes(board, spec) == ["completed"]
    assert outcomes(board, impl) == ["blocked", "completed"]
    first, second = runs(board, impl)
    assert first["summary"] == stories.REVIEW_BLOCK
    assert second["metadata"] == stories.ROLE_PIPELINE[1].metadata
    assert stories.REVIEW_BLOCK in worker_log(board, impl)  # run 2 saw run 1 under prior attempts
    assert "auth/reset.py" in worker_log(board, review)
    assert task(board, review)["status"] == "done"
    operator = task(board, stories.DEMO_OPERATOR.title)
    assert operator["status"] == "done"
    authors = [c["author"] for c in queries.comments(board.conn, task(board, impl)["id"])]
    assert "demo-operator" in authors and "reviewer" in authors


def test_circuit_breaker_gives_up_after_three_spawn_failures(board):
    deploy = task(board, "Deploy to staging (missing creds)")
    assert deploy["status"] == "blocked"
    assert outcomes(board, deploy["title"]) == ["spawn_failed", "spawn_failed", "gave_up"]
    kinds = [e["kind"] for e in queries.events(board.conn, deploy["id"])]
    assert kinds == ["created", "claimed", "spawn_failed", "claimed", "spawn_failed", "claimed", "gave_up"]


def test_crashed_migration_is_retried_and_completes(board):
    title = "Backfill accounts.region (2.4M rows)"
    crashed, retried = runs(board, title)
    assert (crashed["outcome"], retried["outcome"]) == ("crashed", "completed")
    assert crashed["error"]  # how the worker died
    assert retried["metadata"] == {"strategy": "chunked with LIMIT + WHERE id > last_id"}
    beats = [e["payload"]["note"] for e in queries.events(board.conn, task(board, title)["id"])
             if e["kind"] == "heartbeat"]
    assert "scanned 2.3M rows" in beats
    assert "Attempt 1: crashed" in worker_log(board, title)  # the retry saw the crash in its context


def test_hanging_worker_times_out_then_the_retry_completes(board):
    assert outcomes(board, "Rebuild search index") == ["timed_out", "completed"]


def test_orchestrator_fans_out_follow_ups(board):
    follow_ups = [task(board, card.title) for card in stories.FOLLOW_UPS.values()]
    assert all(t["created_by"] == "techlead" and t["status"] == "done" for t in follow_ups)
    assert follow_ups[1]["parents"] == [follow_ups[0]["id"]]
    summary = latest_run(board, "Plan auth hardening follow-ups")["summary"]
    assert all(t["id"] in summary for t in follow_ups)


def test_board_is_sound_afterwards(board):
    checked = kanban("--home", str(board.home), "doctor")
    assert checked.returncode == 0, checked.stdout + checked.stderr
