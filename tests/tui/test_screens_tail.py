"""The live event tail: line format, live appends, kind filter, follow/pause, append speed."""

from __future__ import annotations

import itertools
import statistics
import time

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from kanban_tui.config import Config
from kanban_tui.gateway import Gateway
from kanban_tui.kernel import queries, transitions
from kanban_tui.messages import BoardChanged
from kanban_tui.screens.tail import BUFFER, EventTail, parse_kinds
from kanban_tui.widgets.event_log import EventLog

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000.0
APPEND_BUDGET_SECONDS = 0.010


class Host(App):
    def __init__(self, paths, screen):
        super().__init__()
        self.gateway = Gateway(paths, Config())
        self.screen_under_test = screen

    def compose(self) -> ComposeResult:
        yield Static("the board")

    def on_mount(self) -> None:
        self.push_screen(self.screen_under_test)

    def on_unmount(self) -> None:
        self.gateway.close()


@pytest.fixture(autouse=True)
def fixed_ids_and_utc(monkeypatch):
    serial = itertools.count(1)
    monkeypatch.setattr(transitions, "new_task_id", lambda: f"t_{next(serial):04x}0000")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def log_lines(app: App) -> list[str]:
    return ["".join(text for text, _ in line.pieces) for line in app.screen.query_one(EventLog).lines]


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def changed(conn, *task_ids: str) -> BoardChanged:
    return BoardChanged([], queries.max_event_id(conn), frozenset(task_ids))


async def test_board_tail_shows_history_and_appends_live(home, conn):
    task = transitions.create(conn, "Translate homepage to Spanish", assignee="translator", now=NOW)["task_id"]
    transitions.claim(conn, task, lock="lock-1", now=NOW + 61)
    app = Host(home, EventTail())
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        assert log_lines(app) == [
            '[22:13:20] t_00010000 created (@translator) {"status": "ready", "assignee": "translator", "parents": []}',
            '[22:14:21] t_00010000 claimed (@translator) {"run_id": 1, "expires": 1700000961.0}',
        ]
        other = transitions.create(conn, "Transcribe call #1", now=NOW + 62)["task_id"]
        transitions.complete(conn, task, summary="translated 4 pages", now=NOW + 63)
        app.screen.post_message(changed(conn, task, other))
        await settle(pilot)
        assert [line.split(" ")[2] for line in log_lines(app)] == ["created", "claimed", "created", "completed"]
        app.screen.post_message(changed(conn, task))
        await settle(pilot)
        assert len(log_lines(app)) == 4


async def test_task_tail_ignores_other_tasks(home, conn):
    task = transitions.create(conn, "Deploy to staging", assignee="deploy-bot", now=NOW)["task_id"]
    other = transitions.create(conn, "Something else", now=NOW)["task_id"]
    app = Host(home, EventTail(task))
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        transitions.comment(conn, other, "not here", now=NOW + 1)
        app.screen.post_message(changed(conn, other))
        transitions.block(conn, task, reason="missing creds", now=NOW + 2)
        app.screen.post_message(changed(conn, task))
        await settle(pilot)
        assert log_lines(app) == [
            '[22:13:20] created (@deploy-bot) {"status": "ready", "assignee": "deploy-bot", "parents": []}',
            '[22:13:22] blocked (@deploy-bot) {"reason": "missing creds"}',
        ]


async def test_kind_filter_and_follow_toggle(home, conn):
    task = transitions.create(conn, "A", now=NOW)["task_id"]
    transitions.comment(conn, task, "one", now=NOW + 1)
    transitions.block(conn, task, reason="r", now=NOW + 2)
    app = Host(home, EventTail())
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        filter_input = app.screen.query_one(Input)
        assert app.focused is filter_input
        filter_input.value = "blocked, commented"
        await pilot.press("enter")
        assert [line.split(" ")[2] for line in log_lines(app)] == ["commented", "blocked"]
        log = app.screen.query_one(EventLog)
        assert app.focused is log and log.auto_scroll
        await pilot.press("space")
        assert not log.auto_scroll and "paused" in app.screen.query_one("#tail-status", Static).content.plain
        await pilot.press("f")
        assert log.auto_scroll


def test_parse_kinds_reports_unknown_names():
    assert parse_kinds(" completed,gave_up  bogus ") == (frozenset({"completed", "gave_up", "bogus"}), ["bogus"])
    assert parse_kinds("") == (frozenset(), [])


async def test_appending_100_events_is_fast_and_the_buffer_is_bounded(home, conn):
    events = [{"id": n, "task_id": f"t_{n:08x}", "run_id": None, "kind": "heartbeat",
               "payload": {"note": f"step {n} of a long job"}, "created_at": NOW + n, "assignee": "backend-dev"}
              for n in range(1, BUFFER + 501)]
    app = Host(home, EventTail())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        timings = []
        for start in range(0, 1000, 100):
            began = time.perf_counter()
            screen.append_events(events[start:start + 100])
            timings.append(time.perf_counter() - began)
        assert statistics.median(timings) <= APPEND_BUDGET_SECONDS, timings
        screen.append_events(events[1000:])
        assert len(screen.buffer) == BUFFER and screen.buffer[0]["id"] == 501
        assert len(screen.query_one(EventLog).lines) == BUFFER
