"""Every board key, pressed in a running app on a real board file; the kernel state is checked after."""

from __future__ import annotations

import pytest
from board_pilot import NOW, make_app, profiles_config, settle, until
from textual.widgets import Input

from kanban_tui.app import KanbanApp
from kanban_tui.kernel import queries, transitions
from kanban_tui.screens.command_line import CommandLine
from kanban_tui.screens.drawer import TaskDrawer
from kanban_tui.screens.forms import ConfirmScreen, ProfilePicker, TaskForm, TextPrompt
from kanban_tui.screens.help import HelpScreen
from kanban_tui.screens.tail import EventTail
from kanban_tui.widgets.column import CardList

pytestmark = pytest.mark.anyio

CONFIG = profiles_config("backend-dev", "qa-dev")




async def answer(pilot, text: str) -> None:
    """Type into the focused input of a form or prompt and press enter."""
    pilot.app.focused.value = text
    await pilot.press("enter")


def status(conn, task_id: str) -> str:
    return queries.get_task(conn, task_id)["status"]


def create(conn, title: str, **fields) -> str:
    return transitions.create(conn, title, now=fields.pop("now", NOW - 600), **fields)["task_id"]


def focus_card(app: KanbanApp, task_id: str) -> None:
    assert app.board.focus_task(task_id), f"{task_id} is not on the board"


async def focus_in(pilot, column: str, task_id: str) -> None:
    """Wait until the board shows the task in that column, then put the cursor on it."""
    board = pilot.app.board
    await until(pilot, lambda: board.lists[column].index_of(task_id) is not None)
    focus_card(pilot.app, task_id)
    await pilot.pause()


# ---------------------------------------------------------------- navigation and drawer

async def test_keys_move_between_columns_and_cards(home, conn):
    first = create(conn, "first ready", priority=2)
    second = create(conn, "second ready", priority=1)
    blocked = create(conn, "blocked one")
    transitions.block(conn, blocked, reason="waiting")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.board.current == "ready" and app.board.card["id"] == first
        await pilot.press("j")
        assert app.board.card["id"] == second
        await pilot.press("k", "l", "l")
        assert app.board.current == "blocked" and app.board.card["id"] == blocked
        await pilot.press("h", "h", "h")
        assert app.board.current == "todo" and app.board.card is None
        await pilot.press("6")
        assert app.board.current == "done"
        await pilot.press("3", "down")
        assert app.board.card["id"] == second
        await pilot.press("left", "right", "up")
        assert app.board.card["id"] == first


async def test_enter_and_click_open_the_drawer(home, conn):
    task = create(conn, "open me")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, TaskDrawer) and app.screen.task_id == task
        await pilot.press("escape")
        assert app.screen is app.board
        await pilot.click("#cards-ready", offset=(4, 1))
        assert isinstance(app.screen, TaskDrawer) and app.screen.task_id == task


# ---------------------------------------------------------------- create, edit, assign, priority

async def test_new_card_in_triage_is_a_triage_card(home, conn):
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("1", "n")
        assert isinstance(app.screen, TaskForm) and app.screen.column == "triage"
        await answer(pilot, "Raw idea: dark mode")
        await settle(pilot)
        [task] = queries.list_tasks(conn)
        assert (task["title"], task["status"], task["created_by"]) == ("Raw idea: dark mode", "triage", "operator")


async def test_new_card_in_todo_is_held_in_todo_and_elsewhere_the_kernel_decides(home, conn):
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("2", "n")
        await answer(pilot, "held back")
        await settle(pilot)
        await pilot.press("5", "n")
        await answer(pilot, "plain new card")
        await settle(pilot)
        by_title = {task["title"]: task["status"] for task in queries.list_tasks(conn)}
        assert by_title == {"held back": "todo", "plain new card": "ready"}


async def test_edit_changes_title_body_and_priority(home, conn):
    task = create(conn, "old title", body="old body")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, TaskForm) and form.mode == "edit"
        assert form.query_one("#form-title", Input).value == "old title"
        form.query_one("#form-priority", Input).value = "5"
        await answer(pilot, "new title")
        await settle(pilot)
        edited = queries.get_task(conn, task)
        assert (edited["title"], edited["body"], edited["priority"]) == ("new title", "old body", 5)


async def test_assign_picks_a_profile_and_none_unassigns(home, conn):
    task = create(conn, "needs someone")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, ProfilePicker)
        assert {"backend-dev", "qa-dev"} <= set(app.screen.profiles)
        await answer(pilot, "qa-dev")
        await settle(pilot)
        assert queries.get_task(conn, task)["assignee"] == "qa-dev"
        await pilot.press("a")
        await answer(pilot, "none")
        await settle(pilot)
        assert queries.get_task(conn, task)["assignee"] is None


async def test_priority_keys_raise_and_lower(home, conn):
    task = create(conn, "prioritise me", priority=1)
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert queries.get_task(conn, task)["priority"] == 3
        await pilot.press("P")
        await settle(pilot)
        assert queries.get_task(conn, task)["priority"] == 2


# ---------------------------------------------------------------- moving cards (H/L)

async def test_move_right_walks_triage_todo_ready_running_blocked_done(home, conn):
    task = create(conn, "travel", triage=True, assignee="backend-dev")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for column, expected in (("triage", "todo"), ("todo", "ready"), ("ready", "running")):
            await focus_in(pilot, column, task)
            await pilot.press("L")
            await settle(pilot)
            assert status(conn, task) == expected
        assert queries.runs(conn, task)[-1]["outcome"] is None  # the claim opened a run
        await focus_in(pilot, "running", task)
        await pilot.press("L")
        assert isinstance(app.screen, TextPrompt)
        await answer(pilot, "needs a human")
        await settle(pilot)
        assert status(conn, task) == "blocked"
        await focus_in(pilot, "blocked", task)
        await pilot.press("L")
        await settle(pilot)
        assert status(conn, task) == "done"


async def test_move_left_walks_back_and_blocked_unblocks(home, conn):
    task = create(conn, "back again")
    transitions.block(conn, task, reason="hold")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for column, expected in (("blocked", "ready"), ("ready", "todo"), ("todo", "triage")):
            await focus_in(pilot, column, task)
            await pilot.press("H")
            await settle(pilot)
            assert status(conn, task) == expected


async def test_refused_moves_explain_themselves(home, conn):
    parent = create(conn, "the parent")
    child = create(conn, "the child", parents=[parent])
    running = create(conn, "in flight", assignee="backend-dev")
    transitions.claim(conn, running)
    app = make_app(home, CONFIG)
    notes: list[str] = []
    app.notify = lambda message, **kwargs: notes.append(message)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await focus_in(pilot, "todo", child)
        await pilot.press("L")
        await settle(pilot)
        assert status(conn, child) == "todo"
        assert any("open parents" in note and parent in note for note in notes)
        await focus_in(pilot, "running", running)
        await pilot.press("H")
        assert status(conn, running) == "running"
        assert any("is running" in note and "R to reclaim" in note for note in notes)


# ---------------------------------------------------------------- block, unblock, complete, comment, reclaim, archive

async def test_block_with_a_reason_then_unblock(home, conn):
    task = create(conn, "blockable")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await answer(pilot, "waiting for creds")
        await settle(pilot)
        assert status(conn, task) == "blocked"
        assert queries.comments(conn, task)[-1]["body"] == "BLOCKED: waiting for creds"
        await focus_in(pilot, "blocked", task)
        await pilot.press("U")
        await settle(pilot)
        assert status(conn, task) == "ready"


async def test_complete_with_a_summary(home, conn):
    task = create(conn, "finish me")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await answer(pilot, "did the thing")
        await settle(pilot)
        assert status(conn, task) == "done"
        assert queries.runs(conn, task)[-1]["summary"] == "did the thing"


async def test_comment_as_operator(home, conn):
    task = create(conn, "talk about me")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await answer(pilot, "looks good")
        await settle(pilot)
        assert [(c["author"], c["body"]) for c in queries.comments(conn, task)] == [("operator", "looks good")]


async def test_reclaim_asks_then_puts_the_task_back(home, conn):
    task = create(conn, "stuck", assignee="backend-dev")
    transitions.claim(conn, task)
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await focus_in(pilot, "running", task)
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert status(conn, task) == "ready"
        assert queries.runs(conn, task)[-1]["outcome"] == "reclaimed"


async def test_archive_asks_and_n_keeps_the_card(home, conn):
    task = create(conn, "old news")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert status(conn, task) == "ready"
        await pilot.press("A", "y")
        await settle(pilot)
        assert status(conn, task) == "archived"


# ---------------------------------------------------------------- selection and bulk operations

async def test_bulk_complete_reports_per_card(home, conn):
    done_ok = [create(conn, f"bulk {n}", now=NOW - 600 + n) for n in range(3)]
    idea = create(conn, "just an idea", triage=True)
    app = make_app(home, CONFIG)
    notes: list[str] = []
    app.notify = lambda message, **kwargs: notes.append(message)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("3", "space", "j", "j", "v")
        await focus_in(pilot, "triage", idea)
        await pilot.press("space")
        assert app.board.selected == {*done_ok, idea}
        await pilot.press("c")
        await settle(pilot)
        assert [status(conn, task) for task in done_ok] == ["done"] * 3
        assert status(conn, idea) == "triage"
        assert any("3 of 4 done" in note and idea in note for note in notes)
        assert app.board.selected == {*done_ok, idea}


async def test_bulk_archive_block_unblock_assign_and_priority(home, conn):
    tasks = [create(conn, f"many {n}", now=NOW - 600 + n) for n in range(3)]
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)

        async def select_all(column: str) -> None:
            for task in tasks:
                await focus_in(pilot, column, task)
                await pilot.press("space")

        await select_all("ready")
        await pilot.press("p")
        await settle(pilot)
        assert [queries.get_task(conn, t)["priority"] for t in tasks] == [1, 1, 1]
        await pilot.press("a")
        await answer(pilot, "backend-dev")
        await settle(pilot)
        assert {queries.get_task(conn, t)["assignee"] for t in tasks} == {"backend-dev"}
        await pilot.press("b")
        await answer(pilot, "")
        await settle(pilot)
        assert {status(conn, t) for t in tasks} == {"blocked"}
        await pilot.press("U")
        await settle(pilot)
        assert {status(conn, t) for t in tasks} == {"ready"}
        await pilot.press("A", "y")
        await settle(pilot)
        assert {status(conn, t) for t in tasks} == {"archived"}
        assert not app.board.selected


async def test_escape_clears_the_selection_then_the_filters(home, conn):
    create(conn, "Transcribe call")
    create(conn, "Translate page")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("/")
        await pilot.press(*"Transcribe")
        await pilot.press("enter")
        await until(pilot, lambda: [c["title"] for c in app.board.lists["ready"].cards] == ["Transcribe call"])
        await pilot.press("space")
        await pilot.press("escape")
        assert not app.board.selected and app.board.filters.search == "Transcribe"
        await pilot.press("escape")
        await until(pilot, lambda: len(app.board.lists["ready"].cards) == 2)


# ---------------------------------------------------------------- filters, lanes, nudge, tails, command line

async def test_tenant_and_assignee_filters(home, conn):
    create(conn, "ops thing", tenant="ops", assignee="backend-dev")
    create(conn, "content thing", tenant="content-ops", assignee="qa-dev")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        ready = app.board.lists["ready"]
        app.board.top_bar.filters["tenant"].value = "ops"
        await until(pilot, lambda: [c["title"] for c in ready.cards] == ["ops thing"])
        app.board.top_bar.filters["tenant"].clear()
        app.board.top_bar.filters["assignee"].value = "qa-dev"
        await until(pilot, lambda: [c["title"] for c in ready.cards] == ["content thing"])
        await pilot.press("f")
        assert app.board.top_bar.filters["tenant"].expanded


async def test_lanes_toggle_groups_in_progress_by_profile(home, conn):
    for n, profile in enumerate(("qa-dev", "backend-dev", "qa-dev")):
        task = create(conn, f"run {n}", assignee=profile)
        transitions.claim(conn, task, now=NOW - 300 + n)
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        running = app.board.lists["running"]
        assert [c["title"] for c in running.cards] == ["run 1", "run 0", "run 2"]
        await pilot.press("=")
        assert [c["title"] for c in running.cards] == ["run 0", "run 1", "run 2"]
        assert app.board.top_bar.lanes.label.plain == "lanes = off"


async def test_nudge_without_an_in_process_dispatcher_wakes_the_leader(home, conn):
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("D")
        await settle(pilot)
        assert conn.execute("SELECT value FROM settings WHERE key = 'nudge'").fetchone()[0] == "1"


async def test_tails_and_command_line_open(home, conn):
    task = create(conn, "tail me")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        assert isinstance(app.screen, EventTail) and app.screen.task_id == task
        await pilot.press("escape", "T")
        assert isinstance(app.screen, EventTail) and app.screen.task_id is None
        await pilot.press("escape", ":")
        assert isinstance(app.screen, CommandLine)


async def test_help_and_quit(home, conn):
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("?")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        app.dispatcher_status = {"role": "leader", "live_workers": 2}
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen) and "2 worker(s)" in app.screen.question
        await pilot.press("n")
        assert app.screen is app.board and app.is_running
        app.dispatcher_status = {"role": "observer", "live_workers": 2}
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_help_opens_over_any_screen_and_q_closes_a_drawer_or_tail(home, conn):
    create(conn, "a card")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for key, screen_type in (("enter", TaskDrawer), ("t", EventTail), ("T", EventTail)):
            await pilot.press(key)
            modal = app.screen
            assert isinstance(modal, screen_type)
            await pilot.press("?")
            assert isinstance(app.screen, HelpScreen)
            (title, rows), anywhere = app.screen.sections
            assert title == screen_type.__name__ and ("q", "Close", True) in rows
            await pilot.press("?")  # pressed again, it closes help
            assert app.screen is modal
            await pilot.press("q")
            assert app.screen is app.board and app.is_running
        await pilot.press("A", "?")  # over a dialog too; esc returns to it
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is app.board


async def test_help_and_q_are_typing_inside_a_text_field(home, conn):
    create(conn, "a card")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("enter", "C", "q", "?")
        assert isinstance(app.screen, TaskDrawer) and app.focused.value == "q?"
        await pilot.press("escape", ":", "?")
        assert isinstance(app.screen, CommandLine) and app.focused.value == "?"


async def test_keys_that_do_not_apply_are_hidden(home, conn):
    create(conn, "only ready")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        shown = {active.binding.action for active in app.screen.active_bindings.values()}
        assert {"complete", "block", "open_drawer"} <= shown and not {"unblock", "reclaim"} & shown
        await pilot.press("1")
        shown = {active.binding.action for active in app.screen.active_bindings.values()}
        assert not {"complete", "open_drawer", "edit_card"} & shown
        await pilot.press("c", "e", "enter")
        assert app.screen is app.board and isinstance(app.focused, CardList)


# ---------------------------------------------------------------- stopping a real worker from the board

@pytest.mark.slow
@pytest.mark.parametrize("verb", ["block", "reclaim", "archive"])
async def test_the_in_process_dispatcher_stops_the_worker_the_board_ended(board, verb):
    import asyncio
    import time

    from kanban_tui.gateway import Gateway
    from kanban_tui.kernel import procs
    from kanban_tui.kernel.stopping import STOP_GRACE_SECONDS

    # It ignores SIGTERM, so stopping it takes the whole grace: had any stop run on the UI's
    # loop or in the board's write thread, they would be held up at least that long.
    task = board.create("long job", [{"do": "ignore_term"}, {"do": "print", "text": "deaf"}, {"do": "hang"}],
                        assignee="dev")
    app = KanbanApp(Gateway(board.paths, board.config), start_dispatcher=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: board.task(task)["worker_pid"] is not None, timeout=20)
        await until(pilot, lambda: "deaf" in board.paths.log_for(task).read_text(), timeout=10)
        pid = board.task(task)["worker_pid"]
        started_at = board.conn.execute("SELECT worker_started_at FROM tasks WHERE id = ?", (task,)).fetchone()[0]
        await focus_in(pilot, "running", task)
        stalls = [0.0]

        async def watch_the_loop() -> None:  # the longest the UI's event loop went unserved
            while True:
                tick = time.monotonic()
                await asyncio.sleep(0.01)
                stalls.append(time.monotonic() - tick)

        watcher = asyncio.create_task(watch_the_loop())
        if verb == "block":
            await pilot.press("b")
            await answer(pilot, "hold on")
        else:
            await pilot.press("R" if verb == "reclaim" else "A", "y")
        committed = time.monotonic()
        await app.workers.wait_for_complete()
        assert time.monotonic() - committed < STOP_GRACE_SECONDS  # the write thread never waits for the worker
        await until(pilot, lambda: not procs.is_alive(pid, started_at), timeout=2.0)
        assert time.monotonic() - committed < 2.0
        await until(pilot, lambda: any(e["kind"] == "worker_stopped" for e in board.events(task)), timeout=2.0)
        watcher.cancel()
        assert max(stalls) < STOP_GRACE_SECONDS
    outcome = {"block": "blocked"}.get(verb, "reclaimed")
    assert board.outcomes(task)[0] == outcome
    assert [e["payload"] for e in board.events(task) if e["kind"] == "worker_stopped"] == [
        {"pid": pid, "signal": "SIGKILL"}]
