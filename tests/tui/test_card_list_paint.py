"""A card list repaints what changed and no more: every line whose text changed is inside a region
it asked to repaint, and a change out of view (a count, a card below) repaints nothing."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region

from kanban_tui.widgets.card import CardContext
from kanban_tui.widgets.column import CardList

NOW = 1_700_000_000.0
CONTEXT = CardContext(NOW, frozenset({"backend-dev"}), default_command=False)
pytestmark = pytest.mark.anyio


def card(n: int, **fields) -> dict:
    base = {"id": f"t_{n:08x}", "title": f"card {n}", "assignee": "backend-dev", "status": "ready",
            "priority": 0, "tenant": None, "created_at": NOW - 7200 - n, "updated_at": NOW - 7200,
            "started_at": None, "claim_expires": None, "last_heartbeat_at": None, "worker_pid": None,
            "consecutive_failures": 0, "last_failure_error": None, "child_total": 0, "child_done": 0,
            "comment_count": 0, "latest_outcome": None, "latest_summary": None, "warning": None,
            "gave_up": False, "claim_expired": False}
    return {**base, **fields}


class OneList(App):
    def compose(self) -> ComposeResult:
        yield CardList("ready")


def view(card_list: CardList) -> list:
    """The lines in view as text and styles (the cursor is a style)."""
    width, height = card_list.size
    return [list(strip) for strip in card_list.render_lines(Region(0, 0, width, height))]


class Repaints:
    """The regions a card list asks to repaint (None: the whole list)."""

    def __init__(self, card_list: CardList):
        self.calls: list[tuple[Region, ...]] = []
        refresh = card_list.refresh

        def spy(*regions, **kwargs):
            self.calls.append(regions)
            return refresh(*regions, **kwargs)

        card_list.refresh = spy

    def lines(self, height: int) -> set[int]:
        covered: set[int] = set()
        for regions in self.calls:
            if not regions:
                return set(range(height))
            for region in regions:
                covered.update(range(max(0, region.y), min(height, region.bottom)))
        return covered


async def shown(pilot, cards: list[dict], total: int) -> CardList:
    card_list = pilot.app.query_one(CardList)
    card_list.set_context(CONTEXT)
    card_list.focus()
    card_list.show(cards, total=total, lanes=False)
    await pilot.pause()
    return card_list


@pytest.mark.parametrize("change", ["count in view", "count out of view", "one title", "card out of view",
                                    "cursor down", "order"])
async def test_every_changed_line_is_repainted_and_nothing_out_of_view(change):
    async with OneList().run_test(size=(40, 30)) as pilot:
        cards = [card(n) for n in range(3 if change == "count in view" else 20)]
        card_list = await shown(pilot, cards, total=60)
        before = view(card_list)
        repaints = Repaints(card_list)
        if change in ("count in view", "count out of view"):
            card_list.show(cards, total=61, lanes=False)
        elif change == "one title":
            card_list.show([*cards[:1], {**cards[1], "title": "renamed"}, *cards[2:]], total=60, lanes=False)
        elif change == "card out of view":
            card_list.show([*cards[:-1], {**cards[-1], "comment_count": 3}], total=60, lanes=False)
        elif change == "cursor down":
            card_list.action_cursor_down()
        else:
            card_list.show([cards[1], cards[0], *cards[2:]], total=60, lanes=False)
        after = view(card_list)
        height = card_list.size.height
        changed = {y for y in range(height) if before[y] != after[y]}
        covered = repaints.lines(height)
        assert changed <= covered
        if change in ("count out of view", "card out of view"):
            assert not changed and not repaints.calls
        if change in ("count in view", "one title", "cursor down"):
            assert changed and len(covered) < height // 2
