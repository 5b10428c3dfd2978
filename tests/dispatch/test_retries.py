"""Failed runs retry within seconds; a live silent worker keeps its claim (real processes)."""

from __future__ import annotations

import json
import subprocess
import time

from harness import PYTHON, complete

from kanban_tui.kernel import queries


def test_a_worker_that_crashes_once_is_done_within_10s_with_a_60s_interval(board):
    board.configure(interval=60)
    task = board.create("flaky", [{"do": "exit", "code": 3}], complete("second time lucky"), assignee="dev")
    board.start()
    board.wait_for(lambda: "crashed" in board.kinds(task), what="the crash")
    crashed_at = next(e["created_at"] for e in board.events(task) if e["kind"] == "crashed")
    board.wait_for(lambda: board.status(task) == "done", timeout=15, what="the retry to complete")
    done_at = next(e["created_at"] for e in board.events(task) if e["kind"] == "completed")
    assert done_at - crashed_at < 10
    assert board.outcomes(task) == ["crashed", "completed"]


def test_exit_75_is_rate_limited_waits_the_cooldown_and_is_not_counted(board):
    """Two rate limits under failure_limit 2 would give up if the breaker counted them."""
    board.configure(interval=60, failure_limit=2, rate_limit_cooldown_seconds=2)
    task = board.create("busy provider", [{"do": "exit", "code": 75}], [{"do": "exit", "code": 75}],
                        complete("got through"), assignee="dev")
    board.start()
    board.wait_for(lambda: "rate_limited" in board.kinds(task), what="the rate limit")
    board.wait_for(lambda: board.status(task) == "done", timeout=20, what="the card to finish")
    assert board.outcomes(task) == ["rate_limited", "rate_limited", "completed"]
    events = board.events(task)
    limited = [e for e in events if e["kind"] == "rate_limited"]
    claims = [e["created_at"] for e in events if e["kind"] == "claimed"]
    assert limited[0]["payload"]["exit_code"] == 75
    assert claims[1] - limited[0]["created_at"] >= 1.9  # it waited out the cool-down
    assert claims[2] - limited[1]["created_at"] >= 1.9
    assert board.task(task)["consecutive_failures"] == 0


def test_live_workers_past_short_leases_are_never_reclaimed(board):
    """3 s leases, 6 s workers that never heartbeat: every card finishes, nothing is reclaimed."""
    board.configure(claim_ttl=3, max_workers=4)
    tasks = [board.create(f"slow {n}", [{"do": "sleep", "seconds": 6}, *complete("took my time")],
                          assignee="dev") for n in range(6)]
    board.start()
    board.wait_for(lambda: all(board.status(t) == "done" for t in tasks), timeout=30, what="every card")
    for task in tasks:
        assert board.outcomes(task) == ["completed"]
        assert "reclaimed" not in board.kinds(task)


def test_a_silent_live_worker_shows_a_stale_heartbeat(board):
    board.configure(claim_ttl=1)
    task = board.create("quiet", [{"do": "hang"}], assignee="dev")
    board.start()
    board.wait_for(lambda: queries.cards(board.conn, [task])[0]["stale_heartbeat"], what="the stale badge")
    assert board.status(task) == "running" and board.kinds(task) == ["created", "claimed"]


def test_one_shot_dispatch_ignores_retry_times(board):
    """`dispatch --failure-limit 2` twice in a row: spawn_failed, then gave_up."""
    board.configure({"deploy-bot": {"command": ["/nonexistent/deploy-agent"]}}, interval=60)
    task = board.create("deploy", assignee="deploy-bot")
    argv = [PYTHON, "-m", "kanban_tui", "--home", str(board.paths.home), "dispatch", "--failure-limit", "2",
            "--json"]
    first = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert first["spawn_failed"] == [task] and board.task(task)["retry_at"] > time.time()
    second = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert second["auto_blocked"] == [task]
    assert board.kinds(task, skip=()) == ["created", "claimed", "spawn_failed", "claimed", "gave_up"]


def test_spawned_precedes_the_end_of_a_run_that_ends_at_once(board):
    tasks = [board.create(f"instant {n}", complete("done before you blinked"), assignee="dev") for n in range(8)]
    board.start()
    board.wait_for(lambda: all(board.status(t) == "done" for t in tasks), timeout=30, what="every card")
    for task in tasks:
        assert board.kinds(task, skip=("heartbeat", "commented")) == ["created", "claimed", "spawned", "completed"]
