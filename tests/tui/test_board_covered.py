"""Under the event tail (an opaque screen) the board is not woken by changes: it re-reads once the
tail closes. The tail itself keeps up."""

from __future__ import annotations

import pytest
from board_pilot import NOW, make_app, until

from kanban_tui.kernel import transitions
from kanban_tui.screens.board import BoardScreen
from kanban_tui.screens.tail import EventTail

pytestmark = pytest.mark.anyio




async def test_the_board_under_the_tail_waits_then_catches_up_when_it_closes(home, conn):
    first = transitions.create(conn, "first", now=NOW - 600)["task_id"]
    app = make_app(home)
    async with app.run_test(size=(120, 40)) as pilot:
        board = app.board
        await until(pilot, lambda: board.lists["ready"].index_of(first) is not None)
        reloads = []
        reload = board.reload
        board.reload = lambda **kwargs: (reloads.append(kwargs), reload(**kwargs))
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, EventTail))
        tail = app.screen
        second = transitions.create(conn, "second", now=NOW - 300)["task_id"]
        await until(pilot, lambda: any(event["task_id"] == second for event in tail.buffer))
        await pilot.pause(0.3)
        assert reloads == [] and board.lists["ready"].index_of(second) is None
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, BoardScreen))
        await until(pilot, lambda: board.lists["ready"].index_of(second) is not None)
        assert len(reloads) == 1
