"""The task drawer on a real board file: history, dependency editor, comments, recovery, liveness."""

from __future__ import annotations

import html
import itertools
import time

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Collapsible, Static

from kanban_tui.cli.output import duration
from kanban_tui.config import Config
from kanban_tui.gateway import Gateway
from kanban_tui.kernel import db, queries, transitions
from kanban_tui.kernel.caller import Caller
from kanban_tui.messages import BoardChanged
from kanban_tui.screens.drawer import LOG_TAIL_BYTES, TaskDrawer, read_log_tail
from kanban_tui.widgets.link_list import LinkList

NOW = 1_700_000_000.0
pytestmark = pytest.mark.anyio

REVIEW = ("Review: password strength check missing, reset link isn't single-use "
          "(can be replayed within 30min)")


class Host(App):
    """A bare app with a gateway that pushes one screen and records results and notifications."""

    def __init__(self, paths, screen, config: Config | None = None):
        super().__init__()
        self.gateway = Gateway(paths, config or Config())
        self.screen_under_test = screen
        self.results: list = []
        self.notes: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static("the board")

    def on_mount(self) -> None:
        self.push_screen(self.screen_under_test, self.results.append)

    def on_unmount(self) -> None:
        self.gateway.close()

    def notify(self, message, *, severity="information", **kwargs) -> None:
        self.notes.append((message, severity))
        super().notify(message, severity=severity, **kwargs)


@pytest.fixture(autouse=True)
def fixed_ids(monkeypatch):
    """Ids t_00010000, t_00020000, ...: deterministic, and 4 characters tell them apart."""
    serial = itertools.count(1)
    monkeypatch.setattr(transitions, "new_task_id", lambda: f"t_{next(serial):04x}0000")


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def role_pipeline(conn) -> tuple[str, str]:
    """Story 3: the spec completes; the implementation blocks on review, is unblocked, completes."""
    spec = transitions.create(conn, "Spec: password reset flow", assignee="pm", tenant="auth-project",
                              priority=2, now=NOW)["task_id"]
    impl = transitions.create(conn, "Implement password reset flow", assignee="backend-dev",
                              parents=[spec], priority=2,
                              body="Build the flow from the **spec**:\n\n- POST /forgot-password\n- POST /reset",
                              now=NOW + 1)["task_id"]
    run = transitions.claim(conn, spec, lock="lock-spec", now=NOW + 10)["run_id"]
    transitions.complete(conn, spec, summary="spec approved", metadata={"acceptance": ["expired token returns 410"]},
                         caller=Caller.worker(spec, run, "lock-spec"), now=NOW + 70)
    run = transitions.claim(conn, impl, lock="lock-impl-1", now=NOW + 100)["run_id"]
    transitions.block(conn, impl, reason=REVIEW, caller=Caller.worker(impl, run, "lock-impl-1"), now=NOW + 400)
    transitions.unblock(conn, impl, now=NOW + 500)
    run = transitions.claim(conn, impl, lock="lock-impl-2", now=NOW + 600)["run_id"]
    transitions.complete(conn, impl, caller=Caller.worker(impl, run, "lock-impl-2"), now=NOW + 1500,
                         summary="added zxcvbn strength check, reset tokens are now single-use",
                         metadata={"tests_run": 11, "review_iteration": 2})
    return spec, impl


def plain(app: App, selector: str) -> str:
    return app.screen.query_one(selector, Static).content.plain


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def submit(pilot, text: str) -> None:
    """Put `text` in the focused input and press enter."""
    pilot.app.focused.value = text
    await pilot.press("enter")


def screen_text(app: App) -> str:
    """What the terminal shows, as plain text (from the SVG screenshot)."""
    svg = app.export_screenshot()
    return html.unescape(svg).replace("\xa0", " ")


async def test_a_run_on_another_host_says_where_it_ran(home, conn):
    _, impl = role_pipeline(conn)
    first = conn.execute("SELECT min(id) FROM task_runs WHERE task_id = ?", (impl,)).fetchone()[0]
    with conn:
        conn.execute("UPDATE task_runs SET host_id = 'gpu-7' WHERE id = ?", (first,))
    app = Host(home, TaskDrawer(impl, clock=lambda: NOW + 2000))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        first_line, *rest = [line for line in plain(app, "#drawer-runs").splitlines() if line.startswith("#")]
        assert first_line.startswith("#1 blocked") and first_line.endswith("on gpu-7")
        assert all(" on " not in line for line in rest)  # runs on this host need no label


async def test_run_history_shows_every_attempt(home, conn):
    _, impl = role_pipeline(conn)
    app = Host(home, TaskDrawer(impl, clock=lambda: NOW + 2000))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        runs = plain(app, "#drawer-runs")
        assert runs.index("#1 blocked") < runs.index("#2 completed")
        assert "→ " + REVIEW in runs
        assert f"@backend-dev  {duration(300)}" in runs and f"@backend-dev  {duration(900)}" in runs
        assert '"review_iteration": 2' in runs
        assert "Implement password reset flow" in plain(app, "#drawer-title")
        meta = plain(app, "#drawer-meta")
        assert "status done" in meta and "@backend-dev" in meta and "tenant auth-project" in meta


async def test_comment_composer_adds_an_operator_comment(home, conn):
    _, impl = role_pipeline(conn)
    app = Host(home, TaskDrawer(impl))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await pilot.press(*"ship it")
        await pilot.press("enter")
        await settle(pilot)
        assert [(c["author"], c["body"]) for c in queries.comments(conn, impl)][-1] == ("operator", "ship it")
        assert "ship it" in plain(app, "#drawer-comments")
        assert app.screen.query_one("#drawer-comment").value == ""


async def test_dependency_editor_links_unlinks_and_refuses_cycles(home, conn):
    spec, impl = role_pipeline(conn)
    other = transitions.create(conn, "Write reset docs", now=NOW)["task_id"]
    app = Host(home, TaskDrawer(impl))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(">")
        await submit(pilot, other[:6])
        await settle(pilot)
        assert queries.get_task(conn, other)["parents"] == [impl]
        assert "↓ child  " + other in str(app.screen.query_one(LinkList).get_option(f"child:{other}").prompt)

        await submit(pilot, spec[:6])
        await settle(pilot)
        refusal = plain(app, "#drawer-link-error")
        assert "cycle" in refusal and spec in refusal
        assert queries.get_task(conn, impl)["children"] == [other]
        assert any("cycle" in message and severity == "error" for message, severity in app.notes)

        links = app.screen.query_one(LinkList)
        links.focus()
        links.highlighted = links.get_option_index(f"child:{other}")
        await pilot.press("x")
        await settle(pilot)
        assert queries.get_task(conn, other)["parents"] == []
        assert queries.get_task(conn, impl)["parents"] == [spec]


async def test_enter_on_a_link_opens_that_task(home, conn):
    spec, impl = role_pipeline(conn)
    app = Host(home, TaskDrawer(impl))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(LinkList).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.task_id == spec
        assert "Spec: password reset flow" in plain(app, "#drawer-title")


def running_task(conn, *, failures: int = 0) -> str:
    task = transitions.create(conn, "Migrate 2.4M rows", assignee="migrator", now=NOW)["task_id"]
    for attempt in range(failures):
        run = transitions.claim(conn, task, now=NOW + attempt)["run_id"]
        transitions.end_run_failed(conn, task, run, "crashed", error="OOM kill at row 2.3M", now=NOW + attempt)
    transitions.claim(conn, task, now=NOW + 10)
    return task


async def test_recovery_reclaims_after_confirmation(home, conn):
    task = running_task(conn, failures=1)
    app = Host(home, TaskDrawer(task))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#drawer-recovery", Collapsible).collapsed is False
        assert "1 consecutive failures; last: OOM kill at row 2.3M" in plain(app, "#drawer-warnings")
        assert not app.screen.query_one("#drawer-reclaim").disabled
        await pilot.press("R")
        await pilot.press("y")
        await settle(pilot)
        assert queries.get_task(conn, task)["status"] == "ready"
        assert [run["outcome"] for run in queries.runs(conn, task)] == ["crashed", "reclaimed"]
        assert "reclaimed" in plain(app, "#drawer-runs")


async def test_recovery_reassigns_with_reclaim_first(home, conn):
    task = running_task(conn)
    app = Host(home, TaskDrawer(task, clock=lambda: NOW + 20))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#drawer-recovery", Collapsible).collapsed is True
        await pilot.press("a")
        await submit(pilot, "Reviewer")
        await settle(pilot)
        after = queries.get_task(conn, task)
        assert (after["status"], after["assignee"]) == ("ready", "reviewer")
        assert queries.runs(conn, task)[-1]["outcome"] == "reclaimed"


async def test_reassign_without_reclaim_first_shows_the_refusal(home, conn):
    task = running_task(conn)
    app = Host(home, TaskDrawer(task))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.screen.query_one("#drawer-reclaim-first").value = False
        await pilot.press("a")
        await submit(pilot, "reviewer")
        await settle(pilot)
        assert queries.get_task(conn, task)["status"] == "running"
        assert any("add --reclaim" in message for message, severity in app.notes if severity == "error")


async def test_hallucination_events_are_highlighted_with_phantom_ids(home, conn):
    task = transitions.create(conn, "Fan out the docs", assignee="techlead", now=NOW)["task_id"]
    transitions.complete(conn, task, summary="made t_deadbeef and t_cafef00d", now=NOW + 5)
    app = Host(home, TaskDrawer(task))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        events = app.screen.query_one("#drawer-events", Static).content
        line = next(line for line in events.split("\n") if "suspected_hallucinated_references" in line.plain)
        assert "⚠ phantom ids: t_deadbeef, t_cafef00d" in line.plain
        assert "reverse bold red" in {str(span.style) for span in line.spans}
        assert app.screen.query_one("#drawer-recovery", Collapsible).collapsed is False


async def test_board_changed_refreshes_and_keeps_scroll(home, conn):
    _, impl = role_pipeline(conn)
    app = Host(home, TaskDrawer(impl))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one("#drawer-scroll")
        panel.scroll_to(y=6, animate=False)
        await pilot.pause()
        transitions.comment(conn, impl, "late news", author="reviewer", now=NOW + 3000)
        app.screen.post_message(BoardChanged([], queries.max_event_id(conn), frozenset({"t_ffff0000"})))
        await settle(pilot)
        assert "late news" not in plain(app, "#drawer-comments")
        app.screen.post_message(BoardChanged([], queries.max_event_id(conn), frozenset({impl})))
        await settle(pilot)
        assert "late news" in plain(app, "#drawer-comments")
        assert panel.scroll_y == 6


async def test_side_panel_when_wide_overlay_when_narrow(home, conn):
    _, impl = role_pipeline(conn)
    for size, css_class, width in (((160, 48), "-side", 72), ((80, 24), "-overlay", 80)):
        app = Host(home, TaskDrawer(impl))
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            assert app.screen.has_class(css_class)
            assert app.screen.query_one("#drawer").region.width == width
            await pilot.press("escape")
            await pilot.pause()
            assert app.results == [None]


async def test_a_click_on_the_board_beside_the_panel_closes_it(home, conn):
    _, impl = role_pipeline(conn)
    app = Host(home, TaskDrawer(impl))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.click(offset=(10, 10))
        assert app.results == [None]


async def test_worker_text_renders_literally(home, conn):
    task = transitions.create(conn, "Title with [bold]markup[/bold]", assignee="dev\x1b[2J", now=NOW)["task_id"]
    transitions.complete(conn, task, summary="\x1b[31mRED\x1b[0m and [bold]not bold[/bold]", now=NOW + 1)
    transitions.comment(conn, task, "[red]plain[/red] \x1b]0;pwned\x07 text", author="worker", now=NOW + 2)
    app = Host(home, TaskDrawer(task))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        shown = screen_text(app)
        assert "Title with [bold]markup[/bold]" in shown
        assert "\\x1b[31mRED\\x1b[0m and [bold]not bold[/bold]" in shown
        assert "[red]plain[/red] \\x1b]0;pwned\\x07 text" in shown
        assert "\x1b" not in plain(app, "#drawer-runs") + plain(app, "#drawer-comments") + plain(app, "#drawer-meta")
        assert "@dev\\x1b[2j" in plain(app, "#drawer-meta")


def test_log_tail_keeps_the_last_bytes_from_a_line_start(tmp_path):
    log = tmp_path / "t.log"
    assert read_log_tail(log) is None
    log.write_bytes(b"".join(b"line %05d\n" % n for n in range(1000)))
    tail = read_log_tail(log)
    assert len(tail.encode()) <= LOG_TAIL_BYTES and tail.startswith("line ") and tail.endswith("line 00999\n")


async def test_log_tail_is_shown_escaped(home, conn):
    task = transitions.create(conn, "Noisy worker", now=NOW)["task_id"]
    home.log_for(task).write_bytes(b"starting\n\x1b[2Jcleared?\n")
    app = Host(home, TaskDrawer(task))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert plain(app, "#drawer-log") == "starting\n\\x1b[2Jcleared?\n"


async def test_block_and_unblock_from_the_drawer(home, conn):
    task = transitions.create(conn, "Deploy to staging", assignee="deploy-bot", now=NOW)["task_id"]
    app = Host(home, TaskDrawer(task))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await submit(pilot, "waiting for creds")
        await settle(pilot)
        assert queries.get_task(conn, task)["status"] == "blocked"
        assert queries.comments(conn, task)[-1]["body"] == "BLOCKED: waiting for creds"
        await pilot.press("U")
        await settle(pilot)
        assert queries.get_task(conn, task)["status"] == "ready"


# ---------------------------------------------------------------- snapshots

@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_drawer_snapshot(snap_compare, home, size):
    conn = db.connect(home.db)
    _, impl = role_pipeline(conn)
    conn.close()
    app = Host(home, TaskDrawer(impl, clock=lambda: NOW + 2000))

    async def loaded(pilot) -> None:
        await settle(pilot)
        app.screen.query_one("#drawer-scroll").scroll_to_widget(app.screen.query_one("#drawer-runs"), animate=False)
        app.screen.set_focus(None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=loaded)
