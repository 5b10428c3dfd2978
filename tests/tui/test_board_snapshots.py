"""SVG snapshots of the board: a seeded board, a fixed clock, deterministic ids, no dispatcher.

Update after an intended change with `pytest tests/tui/test_board_snapshots.py --snapshot-update`
and look at the SVGs under __snapshots__/ before committing them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from kanban_tui.app import KanbanApp
from kanban_tui.config import Config, Profile
from kanban_tui.gateway import Gateway
from kanban_tui.kernel import transitions
from kanban_tui.kernel.caller import Caller
from kanban_tui.paths import Paths

NOW = 1_700_000_000.0
PROFILES = ("backend-dev", "qa-dev", "pm", "reviewer", "translator", "transcriber")
CONFIG = Config(profiles={name: Profile(name=name, command=["true"]) for name in PROFILES})
# The home the board shows (help and the empty board name its config.yaml): the same on every run.
SHOWN_HOME = Path("/home/operator/.local/share/kanban-tui")


@pytest.fixture(autouse=True)
def fixed_ids(monkeypatch):
    serial = itertools.count(1)
    monkeypatch.setattr(transitions, "new_task_id", lambda: f"t_{next(serial):04x}cafe")


def seed(conn) -> None:
    """The four stories, caught mid-flight."""
    def create(title, at, **fields):
        return transitions.create(conn, title, now=NOW - at, **fields)["task_id"]

    schema = create("Design auth schema", 7200, assignee="backend-dev", tenant="auth-project", priority=2)
    api = create("Implement auth API endpoints", 7100, assignee="backend-dev", tenant="auth-project",
                 priority=2, parents=[schema])
    create("Write auth integration tests", 7000, assignee="qa-dev", tenant="auth-project", parents=[api])
    create("Raw idea: dark mode for the board", 5000, triage=True)
    run = transitions.claim(conn, schema, lock="l1", now=NOW - 900)["run_id"]
    transitions.heartbeat(conn, schema, note="writing migrations", caller=Caller.worker(schema, run, "l1"),
                          now=NOW - 60)
    for n, language in enumerate(("Spanish", "French")):
        task = create(f"Translate homepage to {language}", 3000 - n, assignee="translator", tenant="content-ops")
        run = transitions.claim(conn, task, lock=f"t{n}", now=NOW - 1500 + n)["run_id"]
        transitions.heartbeat(conn, task, caller=Caller.worker(task, run, f"t{n}"), now=NOW - 30 - 900 * n)  # French has gone quiet
    call = create("Transcribe Q3 customer call #1", 2900, assignee="transcriber", tenant="content-ops")
    transitions.claim(conn, call, lock="c1", now=NOW - 2400)  # never heard from since: stale
    create("Transcribe Q3 customer call #2", 2800, assignee="transcriber", tenant="content-ops")
    create("Generate product description: SKU-1001", 2700, assignee="copywriter", tenant="content-ops")
    deploy = create("Deploy to staging (missing creds)", 2600, assignee="deploy-bot", tenant="ops")
    for attempt in range(3):
        run = transitions.claim(conn, deploy, lock=f"d{attempt}", now=NOW - 2500 + attempt * 10)["run_id"]
        transitions.end_run_failed(conn, deploy, run, "spawn_failed", error="missing creds",
                                   now=NOW - 2495 + attempt * 10)
    spec = create("Spec: password reset flow", 2000, assignee="pm", tenant="auth-project")
    transitions.complete(conn, spec, summary="spec approved; POST /forgot-password sends email",
                         now=NOW - 1800)
    reset = create("Implement password reset flow", 1900, assignee="backend-dev", tenant="auth-project",
                   parents=[spec])
    run = transitions.claim(conn, reset, lock="r1", now=NOW - 1700)["run_id"]
    transitions.block(conn, reset, reason="Review: reset link isn't single-use", caller=Caller.worker(reset, run, "r1"),
                      now=NOW - 1200)
    transitions.comment(conn, reset, "[bold]markup[/bold] and \x1b[31mescapes\x1b[0m stay inert", now=NOW - 1100)
    sku = create("Generate product description: SKU-1002", 1600, assignee="copywriter", tenant="content-ops")
    transitions.complete(conn, sku, summary="wrote 120 words; see t_deadbeef for the style guide",
                         now=NOW - 1000)


def board_app(home, conn, *, seeded: bool = True) -> KanbanApp:
    if seeded:
        seed(conn)
    return KanbanApp(Gateway(Paths(SHOWN_HOME, home.db), CONFIG), start_dispatcher=False, clock=lambda: NOW)


async def loaded(pilot) -> None:
    app = pilot.app
    while not app.board.loaded:
        await pilot.pause(0.02)
    await app.workers.wait_for_complete()
    await pilot.pause()


def press_after_load(*keys: str):
    async def run(pilot) -> None:
        await loaded(pilot)
        await pilot.press(*keys)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    return run


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_board(snap_compare, home, conn, size):
    assert snap_compare(board_app(home, conn), terminal_size=size, run_before=press_after_load("4"))


def test_board_lanes_off(snap_compare, home, conn):
    assert snap_compare(board_app(home, conn), terminal_size=(160, 48), run_before=press_after_load("4", "="))


def test_board_selection_and_search(snap_compare, home, conn):
    assert snap_compare(board_app(home, conn), terminal_size=(160, 48),
                        run_before=press_after_load("/", *"auth", "enter", "2", "space", "j", "space"))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_help(snap_compare, home, conn, size):
    assert snap_compare(board_app(home, conn), terminal_size=size, run_before=press_after_load("?"))


def test_empty_board_says_what_to_do_next(snap_compare, home, conn):
    assert snap_compare(board_app(home, conn, seeded=False), terminal_size=(80, 24), run_before=press_after_load())


def test_narrow_board_is_one_column_with_tabs(snap_compare, home, conn):
    assert snap_compare(board_app(home, conn), terminal_size=(70, 24), run_before=press_after_load("5"))
