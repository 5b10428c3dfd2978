"""The `:` command line: CLI verbs run in-process against the app's board."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from kanban_tui import cli
from kanban_tui.config import Config
from kanban_tui.gateway import Gateway
from kanban_tui.kernel import queries, transitions
from kanban_tui.screens.command_line import CommandLine, refusal

pytestmark = pytest.mark.anyio


class Host(App):
    """Pushes the command line and records its exit code and the notifications."""

    def __init__(self, paths):
        super().__init__()
        self.gateway = Gateway(paths, Config())
        self.run_verb = cli.run  # as the entry point hands it in
        self.results: list = []
        self.notes: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static("the board")

    def on_mount(self) -> None:
        self.push_screen(CommandLine(), self.results.append)

    def on_unmount(self) -> None:
        self.gateway.close()

    def notify(self, message, *, severity="information", **kwargs) -> None:
        self.notes.append((message, severity))
        super().notify(message, severity=severity, **kwargs)


async def run(pilot, line: str) -> None:
    pilot.app.screen.query_one(Input).value = line
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_command_line_never_swaps_the_process_streams(home):
    """Its output is captured for its own thread: sys.stdout, sys.stderr and sys.stdin stay put."""
    import sys

    app = Host(home)
    async with app.run_test(size=(80, 24)) as pilot:
        before = (sys.stdout, sys.stderr, sys.stdin)  # Textual's own while it runs
        seen: list = []
        original = cli.run

        def watching(argv):
            seen.append((sys.stdout, sys.stderr, sys.stdin))
            return original(argv)

        app.run_verb = watching
        await run(pilot, ":list --json")
        assert app.results == [0] and seen == [before]
        assert (sys.stdout, sys.stderr, sys.stdin) == before


def message(app: App) -> str:
    return app.screen.query_one("#command-message", Static).content.plain


async def test_create_runs_the_cli_verb_against_the_apps_board(home, conn):
    app = Host(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await run(pilot, ':create "Design auth schema" --assignee backend-dev --priority 2')
        assert app.results == [0]
    [task] = queries.list_tasks(conn)
    assert (task["title"], task["assignee"], task["priority"]) == ("Design auth schema", "backend-dev", 2)
    output, severity = app.notes[0]
    assert severity == "information" and f"Created {task['id']} (ready, assignee=backend-dev)" in output


async def test_block_with_a_prefix_and_a_free_text_reason(home, conn):
    task = transitions.create(conn, "Deploy to staging")["task_id"]
    app = Host(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await run(pilot, f"block {task[:6]} waiting for creds")
        assert app.results == [0]
    assert queries.get_task(conn, task)["status"] == "blocked"
    assert queries.comments(conn, task)[-1]["body"] == "BLOCKED: waiting for creds"


async def test_a_refused_verb_reports_the_one_line_error_and_exit_code(home, conn):
    app = Host(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await run(pilot, "unblock t_0bad")
        assert app.results == [1]
    assert app.notes == [("kanban-tui: no task t_0bad (exit 1)", "error")]


async def test_usage_errors_exit_2(home):
    app = Host(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await run(pilot, "create --priority high x")
        assert app.results == [2]
    assert app.notes[0][1] == "error" and app.notes[0][0].endswith("(exit 2)")


@pytest.mark.parametrize("line", ["tail t_ab12", "watch", "mcp", "--dispatch-only", "", 'create "unclosed'])
async def test_unsafe_or_malformed_lines_are_refused_inline(home, line):
    app = Host(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await run(pilot, line)
        assert message(app)
        assert app.results == [] and app.notes == []
        await pilot.press("escape")
        assert app.results == [None]


def test_refusal_explains_where_to_go_instead():
    assert "press t" in refusal(["tail", "t_ab12"])
    assert "press T" in refusal(["watch"])
    assert refusal(["list", "--json"]) is None
    assert refusal(["--help"]) is None
