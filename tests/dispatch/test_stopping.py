"""Only a dispatcher stops workers (or the CLI of a host where none leads), and never the caller:
real scripted workers, real `kanban-tui` processes, real signals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from kanban_tui.kernel import lease, procs, queries

pytestmark = pytest.mark.slow

HANG = [{"do": "hang"}]


def kt(board, *argv: str) -> subprocess.CompletedProcess:
    # no worker identity; the board's database (the store under test) is kept
    env = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_") or key == "KANBAN_DB"}
    return subprocess.run([sys.executable, "-m", "kanban_tui", "--home", str(board.paths.home), *argv], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def running_worker(board, task_id: str) -> tuple[int, float]:
    """Wait for the task's worker to be recorded; its pid and start time."""
    task = board.wait_for(lambda: (lambda t: t if t["worker_pid"] else None)(board.task(task_id)),
                          timeout=20, what="the worker to start")
    row = board.conn.execute("SELECT worker_started_at FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return task["worker_pid"], row[0]


def stopped_events(board, task_id: str) -> list[dict]:
    return [e["payload"] for e in board.events(task_id) if e["kind"] == "worker_stopped"]


def wait_gone(board, pid: int, started_at: float, within: float) -> None:
    board.wait_for(lambda: not procs.is_alive(pid, started_at), timeout=within, what=f"worker {pid} to be gone")


# ---------------------------------------------------------------- a worker ending its own card

SELF_COMPLETE = {
    "cli-without-run-id": {"do": "run", "argv": ["complete", "{task}", "--summary", "self"],
                           "drop_env": ["KANBAN_RUN_ID"]},
    "cli-with-run-id": {"do": "run", "argv": ["complete", "{task}", "--summary", "self"]},
    "cli-block-without-run-id": {"do": "run", "argv": ["block", "{task}", "need", "a", "human"],
                                 "drop_env": ["KANBAN_RUN_ID"]},
    "tool-without-run-id": {"do": "run", "argv": ["tool", "kanban_complete", '{"summary": "self"}'],
                            "drop_env": ["KANBAN_RUN_ID"]},
    "mcp-without-run-id": {"do": "mcp", "tool": "kanban_complete", "args": {"summary": "self"},
                           "drop_env": ["KANBAN_RUN_ID"]},
    "mcp-with-run-id": {"do": "mcp", "tool": "kanban_complete", "args": {"summary": "self"}},
}


@pytest.mark.parametrize("step", SELF_COMPLETE.values(), ids=SELF_COMPLETE.keys())
def test_a_worker_ending_its_own_card_just_finishes(board, step):
    task_id = board.create("ends itself", [step, {"do": "sleep", "seconds": 0.5}], assignee="dev")
    board.start()
    board.wait_for(lambda: any(entry["event"] == "end" for entry in board.trace()), timeout=30,
                   what="the worker to reach its end")
    ran, = [entry for entry in board.trace() if entry["event"] == "ran"]
    assert ran.get("code", 0) == 0 and ran.get("result", {"ok": True})["ok"] is True, ran
    expected = "blocked" if step.get("argv", [""])[0] == "block" else "done"
    assert board.status(task_id) == expected
    assert board.outcomes(task_id) == ["completed" if expected == "done" else "blocked"]
    assert "crashed" not in board.kinds(task_id) and stopped_events(board, task_id) == []


# ---------------------------------------------------------------- an operator ending a running card

VERBS = {
    "block": (["block", "{id}", "hold", "on"], "blocked", "blocked"),
    "reclaim": (["reclaim", "{id}", "--reason", "operator"], "reclaimed", None),
    "archive": (["archive", "{id}"], "reclaimed", "archived"),
}


@pytest.mark.parametrize("leader", ["in-process", "dispatch-only"])
@pytest.mark.parametrize("verb", VERBS)
def test_an_operator_verb_commits_and_the_leader_stops_the_worker(board, leader, verb):
    argv, outcome, status = VERBS[verb]
    task_id = board.create("long job", HANG, assignee="dev")
    if leader == "in-process":
        board.start()
    else:
        board.headless()
    pid, started_at = running_worker(board, task_id)
    assert lease.status(board.conn) is not None

    done = kt(board, *[arg.replace("{id}", task_id) for arg in argv])
    returned = time.monotonic()

    assert done.returncode == 0, done.stderr
    wait_gone(board, pid, started_at, within=2.0)
    assert time.monotonic() - returned < 2.0
    assert board.outcomes(task_id)[0] == outcome
    if status is not None:
        assert board.status(task_id) == status
    board.wait_for(lambda: stopped_events(board, task_id), timeout=2.0, what="worker_stopped")
    assert stopped_events(board, task_id) == [{"pid": pid, "signal": "SIGTERM"}]


def test_a_worker_that_ignores_term_is_killed(board):
    task_id = board.create("stubborn", [{"do": "ignore_term"}, {"do": "print", "text": "deaf"}, {"do": "hang"}],
                           assignee="dev")
    board.start()
    pid, started_at = running_worker(board, task_id)
    board.wait_for(lambda: "deaf" in board.paths.log_for(task_id).read_text(), timeout=10, what="its handler")
    assert kt(board, "reclaim", task_id).returncode == 0
    returned = time.monotonic()
    wait_gone(board, pid, started_at, within=2.5)
    assert time.monotonic() - returned < 2.5
    board.wait_for(lambda: stopped_events(board, task_id), timeout=2.0, what="worker_stopped")
    assert stopped_events(board, task_id)[0] == {"pid": pid, "signal": "SIGKILL"}


def test_without_a_dispatcher_the_cli_stops_the_worker_after_committing(board):
    task_id = board.create("orphaned", HANG, assignee="dev")
    spawned = kt(board, "dispatch", "--json")  # one-shot: spawns, then leaves the worker running
    assert spawned.returncode == 0 and json.loads(spawned.stdout)["spawned"], spawned.stderr
    pid, started_at = running_worker(board, task_id)
    assert lease.status(board.conn) is None

    started = time.monotonic()
    done = kt(board, "block", task_id, "stop", "please")

    assert done.returncode == 0, done.stderr
    assert not procs.is_alive(pid, started_at) and time.monotonic() - started < 4
    assert board.outcomes(task_id) == ["blocked"]
    assert stopped_events(board, task_id) == [{"pid": pid, "signal": "SIGTERM"}]
    assert queries.comments(board.conn, task_id)[-1]["body"] == "BLOCKED: stop please"


# ---------------------------------------------------------------- inside a worker

@pytest.mark.parametrize("argv", [
    ["unblock", "{other}"], ["assign", "{other}", "qa"], ["edit", "{other}", "--title", "mine"],
    ["claim", "{other}"], ["reassign", "{other}", "qa"], ["reclaim", "{other}"], ["archive", "{other}"],
    ["complete", "{other}"], ["block", "{other}", "x"],
])
def test_inside_a_worker_the_cli_refuses_to_change_other_cards(board, argv):
    mine = board.create("mine", HANG, assignee="dev")
    other = board.create("other")
    board.start()
    running_worker(board, mine)
    lock = board.conn.execute("SELECT claim_lock FROM tasks WHERE id = ?", (mine,)).fetchone()[0]
    before = (board.task(other), board.events(other))
    # no worker identity; the board's database (the store under test) is kept
    env = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_") or key == "KANBAN_DB"}
    env.update(KANBAN_TASK=mine, KANBAN_CLAIM_LOCK=lock, KANBAN_TUI_HOME=str(board.paths.home))
    done = subprocess.run([sys.executable, "-m", "kanban_tui", *[a.replace("{other}", other) for a in argv]],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == f"kanban-tui: worker is scoped to task {mine}; refusing to mutate {other}\n"
    assert (board.task(other), board.events(other)) == before
