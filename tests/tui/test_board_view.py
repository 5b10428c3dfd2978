"""What the board shows and how it keeps up: card lines, inert text, live updates, layouts, paging,
attention, keymap, palette, dispatcher status, and the bridge on its own."""

from __future__ import annotations

import threading
import time

import pytest
from board_pilot import NOW, make_app, profiles_config, settle, until
from textual.widgets import Tabs

from kanban_tui.bridge import Bridge
from kanban_tui.config import Config, DispatchSettings
from kanban_tui.kernel import db, hosts, lease, queries, transitions
from kanban_tui.screens.board import PAGE, BoardCommands, move_refusal
from kanban_tui.screens.help import HelpScreen
from kanban_tui.widgets.card import CardContext, card_height, card_lines, is_stale

pytestmark = pytest.mark.anyio

CONFIG = profiles_config("backend-dev")




def create(conn, title: str, **fields) -> str:
    return transitions.create(conn, title, now=fields.pop("now", NOW - 600), **fields)["task_id"]


def card(**fields) -> dict:
    base = {"id": "t_0000abcd", "title": "a card", "assignee": "backend-dev", "status": "ready", "priority": 0,
            "tenant": None, "created_at": NOW - 7200, "updated_at": NOW - 7200, "started_at": None,
            "claim_expires": None, "last_heartbeat_at": None, "worker_pid": None, "consecutive_failures": 0,
            "last_failure_error": None, "child_total": 0, "child_done": 0, "comment_count": 0,
            "latest_outcome": None, "latest_summary": None, "warning": None, "gave_up": False,
            "claim_expired": False, "stale_heartbeat": False, "retry_after": None}
    return {**base, **fields}


def text(lines: list) -> list[str]:
    return ["".join(piece for piece, _ in line) for line in lines]


def shown_lines(card_list) -> list[str]:
    return [card_list.render_line(y).text for y in range(card_list.size.height)]


CONTEXT = CardContext(NOW, frozenset({"backend-dev"}), default_command=False)


# ---------------------------------------------------------------- one card

def test_card_lines_show_id_priority_age_title_assignee_tenant_children_comments_summary():
    lines = text(card_lines(card(priority=2, tenant="auth-project", child_total=3, child_done=1, comment_count=2,
                                 latest_summary="did it\nall"), CONTEXT, 40))
    assert lines[0].startswith("t_0000abcd p2") and lines[0].endswith("2h") and len(lines[0]) == 40
    assert lines[1:] == ["a card", "@backend-dev · auth-project · ↳1/3 · ✎2", "→ did it all"]
    assert card_height(card(latest_summary="x")) == 4 and card_height(card()) == 3


def test_card_lines_name_who_cannot_run_it():
    assert text(card_lines(card(assignee=None), CONTEXT, 40))[2] == "needs assignee"
    assert text(card_lines(card(assignee="ghost"), CONTEXT, 40))[2] == "@ghost unknown profile"
    anyone = CardContext(NOW, frozenset(), default_command=True)
    assert text(card_lines(card(assignee="ghost"), anyone, 40))[2] == "@ghost"


@pytest.mark.parametrize("fields, badge", [
    ({"warning": "completion_blocked_hallucination"}, "⚠ phantom cards"),
    ({"warning": "suspected_hallucinated_references"}, "⚠ phantom refs"),
    ({"status": "blocked", "gave_up": True}, "✖ gave up"),
    ({"status": "running", "claim_expired": True}, "⚠ lease expired"),
    ({"consecutive_failures": 2}, "✖ 2 failed"),
    ({"status": "running", "stale_heartbeat": True}, "⚠ stale heartbeat"),
])
def test_card_badges(fields, badge):
    assert badge in text(card_lines(card(**fields), CONTEXT, 60))[0]


def test_a_failed_ready_card_counts_down_to_its_retry():
    waiting = card(consecutive_failures=1, retry_after=NOW + 3.2)
    assert text(card_lines(waiting, CONTEXT, 60))[2] == "@backend-dev · retry in 4s"
    assert "retry" not in text(card_lines(card(consecutive_failures=1, retry_after=NOW - 1), CONTEXT, 60))[2]
    assert "retry" not in text(card_lines(card(status="running", retry_after=NOW + 3), CONTEXT, 60))[2]


def test_worker_text_is_inert():
    hostile = card(title="[bold]x[/bold] \x1b[31mred\x07", latest_summary="\x1b]0;pwned\x07 [link=x]y[/link]")
    lines = text(card_lines(hostile, CONTEXT, 80))
    assert lines[1] == "[bold]x[/bold] \\x1b[31mred\\x07"
    assert lines[3] == "→ \\x1b]0;pwned\\x07 [link=x]y[/link]"


def test_staleness_and_failures():
    assert is_stale(card(status="running", started_at=NOW - 3600, last_heartbeat_at=NOW - 1200), NOW)
    assert not is_stale(card(status="running", started_at=NOW - 3600, last_heartbeat_at=NOW - 30), NOW)
    assert is_stale(card(status="running", claim_expired=True), NOW)
    failing = card(last_failure_error="spawn failed: no such file", latest_summary="older")
    assert text(card_lines(failing, CONTEXT, 60))[3] == "! spawn failed: no such file"


def test_move_refusals_name_the_worker():
    running = card(status="running", worker_pid=4242)
    assert move_refusal(running, -1) == "t_0000abcd is running (worker pid 4242 as @backend-dev): press R to reclaim it first"
    assert "nothing reopens" in move_refusal(card(status="done"), -1)
    assert move_refusal(card(status="ready"), 1) is None


# ---------------------------------------------------------------- the board as it runs

async def test_inert_text_on_screen(home, conn):
    create(conn, "[b]x[/b] \x1b[2J")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert any("[b]x[/b] \\x1b[2J" in line for line in shown_lines(app.board.lists["ready"]))


@pytest.mark.both_stores  # the board's gateway and bridge on PostgreSQL too
async def test_a_change_from_another_process_appears_within_half_a_second(home, conn):
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        started = time.monotonic()
        task = create(conn, "made by the CLI")
        await until(pilot, lambda: app.board.lists["ready"].index_of(task) is not None, timeout=2)
        assert time.monotonic() - started < 0.5
        assert app.board.titles["ready"].count == 1


@pytest.mark.postgres_only
async def test_the_board_resyncs_after_the_server_drops_its_sessions(home, conn):
    """pg_terminate_backend on every session of the board but the test's own: the next change
    still shows (the bridge and its LISTEN session reconnect and read from the event cursor)."""
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        first = create(conn, "before the drop")
        await until(pilot, lambda: app.board.lists["ready"].index_of(first) is not None, timeout=2)
        dropped = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert dropped >= 2  # the bridge's reads and its LISTEN session at least
        started = time.monotonic()
        second = create(conn, "after the drop")
        await until(pilot, lambda: app.board.lists["ready"].index_of(second) is not None, timeout=5)
        assert time.monotonic() - started < 1.0


async def test_the_top_bar_counts_the_fleet_and_lost_hosts(home, conn):
    now = time.time()
    for host_id, cap in (("gpu-1", 2), ("gpu-2", 3), ("mac-1", 4)):
        hosts.register(conn, host_id, f"{host_id}:1", profiles=None, max_workers=cap, lease_seconds=60)
    hosts.register(conn, "gone", "gone:1", profiles=None, max_workers=9, lease_seconds=15, now=now - 60)
    lease.try_acquire(conn, "gpu-1:1", now=now)
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: "3 hosts · 0/9 workers · 1 lost" in app.board.top_bar.status.shown.plain)


async def test_cursor_focus_and_scroll_survive_refreshes(home, conn):
    tasks = [create(conn, f"card {n}", now=NOW - 600 + n) for n in range(30)]
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        ready = app.board.lists["ready"]
        await pilot.press("pagedown", "pagedown", "j")
        chosen, scroll = ready.current["id"], ready.scroll_y
        assert scroll > 0
        transitions.edit(conn, tasks[0], title="renamed")
        transitions.comment(conn, tasks[-1], "noise")
        await until(pilot, lambda: any(c["title"] == "renamed" for c in ready.cards))
        assert app.focused is ready and ready.current["id"] == chosen and ready.scroll_y == scroll


async def test_layout_six_columns_then_one_with_tabs_when_narrow(home, conn):
    create(conn, "ready one")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        board = app.board
        assert all(card_list.display for card_list in board.lists.values())
        assert not board.tabs.display
        await pilot.resize_terminal(70, 24)
        await settle(pilot)
        assert board.has_class("-narrow") and board.query_one(Tabs).display
        assert [status for status, card_list in board.lists.items() if card_list.display] == ["ready"]
        await pilot.press("l")
        assert [status for status, card_list in board.lists.items() if card_list.display] == ["running"]
        assert board.tabs.active == "tab-running"
        assert str(board.tabs.query_one("#tab-ready").label) == "Ready 1"


async def test_columns_page_in_more_cards_on_scroll(home, conn):
    for n in range(PAGE + 30):
        create(conn, f"bulk {n}", now=NOW - 900 + n)
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        ready = app.board.lists["ready"]
        assert len(ready.cards) == PAGE and ready.total == PAGE + 30
        assert ready._rows[-1].label == "+30 more ↓"  # the column's last row says what is not loaded yet
        await pilot.press("3", "end")
        await until(pilot, lambda: len(ready.cards) == PAGE + 30)


async def test_attention_strip_flags_jumps_and_dismisses(home, conn):
    broken = create(conn, "Deploy to staging (missing creds)", assignee="deploy-bot", tenant="ops")
    for attempt in range(3):
        run = transitions.claim(conn, broken, now=NOW - 500 + attempt)["run_id"]
        transitions.end_run_failed(conn, broken, run, "spawn_failed", error="missing creds", now=NOW - 499 + attempt)
    create(conn, "unrelated")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        strip = app.board.attention
        assert strip.display and strip.items[0]["task_id"] == broken and strip.items[0]["reason"] == "gave_up"
        await pilot.press("3", "g")
        assert app.board.current == "blocked" and app.board.card["id"] == broken
        await pilot.press("3")
        await pilot.click("#attention-lines", offset=(2, 0))
        assert app.board.card["id"] == broken
        await pilot.press("x")
        assert not strip.display


async def test_an_empty_board_says_what_to_do_next_until_a_card_exists(home, conn):
    app = make_app(home, CONFIG)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        hint = app.board.empty_hint
        await until(pilot, lambda: hint.display)
        shown = str(hint.content)
        assert "create a card" in shown and "kanban-tui demo" in shown and str(home.config) in shown
        assert "every key" in shown and "Workers" in shown
        create(conn, "the first card")
        await until(pilot, lambda: not hint.display)


async def test_a_filter_that_hides_every_card_says_so_inert_and_esc_clears_it(home, conn):
    create(conn, "a card")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        hint = app.board.empty_hint
        assert not hint.display
        await pilot.press("/", *"[b]zz", "enter")
        await until(pilot, lambda: hint.display)
        assert str(hint.content) == 'No cards match "[b]zz" — esc clears'
        await pilot.press("escape")
        await until(pilot, lambda: not hint.display)
        assert app.board.card["title"] == "a card"


async def test_keymap_remaps_keys_help_shows_them_and_typos_are_reported(home, conn):
    config = Config(profiles=CONFIG.profiles, keymap={"nudge": "N", "drawer.unlink": "u",
                                                     "no_such_binding": "z"})
    app = make_app(home, config)
    notes: list[str] = []
    app.notify = lambda message, **kwargs: notes.append(message)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert [note for note in notes if "keymap" in note] == ["config keymap: no binding named no_such_binding"]
        await pilot.press("N")
        await settle(pilot)
        assert conn.execute("SELECT value FROM settings WHERE key = 'nudge'").fetchone()[0] == "1"
        await pilot.press("?")
        assert isinstance(app.screen, HelpScreen)
        rows = dict((description, keys) for _, rows in app.screen.sections for keys, description, _ in rows)
        assert rows["Nudge dispatcher"] == "N" and rows["Complete"] == "c"
        assert rows["Nudge the dispatcher: spawn ready work now"] == "N"  # "Start here" too


async def test_palette_offers_board_actions_that_apply(home, conn):
    create(conn, "something ready")
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        provider = BoardCommands(app.board)
        names = [hit.text for hit in [hit async for hit in provider.discover()]]
        assert "Complete" in names and "Unblock" not in names
        [hit] = [hit async for hit in provider.search("Lanes")]
        await hit.command()
        assert not app.board.lanes


async def test_dispatcher_status_observer_of_another_leader(home, conn):
    lease.try_acquire(conn, "otherhost:4242", now=time.time())
    app = make_app(home, CONFIG)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: "observer of otherhost:4242" in app.board.top_bar.status.shown.plain)


@pytest.mark.both_stores  # the board's gateway and bridge on PostgreSQL too
async def test_in_process_dispatcher_leads_and_releases_on_quit(home, conn):
    config = Config(profiles=CONFIG.profiles, dispatch=DispatchSettings(interval_seconds=60, max_workers=2))
    app = make_app(home, config, start_dispatcher=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: (app.board.top_bar.status.shown or "") != "" and
                    app.board.top_bar.status.shown.plain.startswith("● leader"), timeout=5)
        assert "0/2 workers" in app.board.top_bar.status.shown.plain
    assert lease.status(conn) is None


# ---------------------------------------------------------------- the bridge alone

@pytest.mark.both_stores  # the board's gateway and bridge on PostgreSQL too
def test_bridge_posts_new_events_with_cursor_and_task_ids(home):
    writer = db.connect(home.db)
    received = []
    arrived = threading.Event()

    class Target:
        def post_message(self, message) -> bool:
            received.append(message)
            arrived.set()
            return True

    first = create(writer, "before the bridge")
    bridge = Bridge(home.db, Target(), poll_seconds=0.01)
    bridge.start()
    try:
        time.sleep(0.1)
        assert received == []  # what happened before it started is not news
        second = create(writer, "after")
        transitions.comment(writer, first, "hello")
        assert arrived.wait(2)
        time.sleep(0.05)
        events = [event for message in received for event in message.events]
        assert [event["kind"] for event in events] == ["created", "commented"]
        assert received[-1].cursor == queries.max_event_id(writer)
        assert set().union(*(message.task_ids for message in received)) == {first, second}
    finally:
        bridge.stop()
        writer.close()
