"""Modal forms: inline validation and the values they dismiss with."""

from __future__ import annotations

import itertools

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, OptionList, Static, TextArea

from kanban_tui.config import Config, Profile
from kanban_tui.gateway import Gateway
from kanban_tui.kernel import transitions
from kanban_tui.screens.forms import ConfirmScreen, ProfilePicker, TaskForm, TextPrompt

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000.0


class Host(App):
    """A bare app with a gateway that pushes one screen and records what it dismisses with."""

    def __init__(self, paths, screen, config: Config | None = None):
        super().__init__()
        self.gateway = Gateway(paths, config or Config())
        self.screen_under_test = screen
        self.results: list = []

    def compose(self) -> ComposeResult:
        yield Static("the board")

    def on_mount(self) -> None:
        self.push_screen(self.screen_under_test, self.results.append)

    def on_unmount(self) -> None:
        self.gateway.close()


@pytest.fixture(autouse=True)
def fixed_ids(monkeypatch):
    serial = itertools.count(1)
    monkeypatch.setattr(transitions, "new_task_id", lambda: f"t_{next(serial):04x}0000")


def profiles_config() -> Config:
    return Config(profiles={name: Profile(name=name) for name in ("backend-dev", "qa-dev", "reviewer")})


def error_text(app: App, selector: str) -> str | None:
    """The inline error's text, or None while it is hidden."""
    error = app.screen.query_one(selector, Static)
    return error.content.plain if error.has_class("-shown") else None


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_task_form_refuses_an_empty_title_inline(home):
    app = Host(home, TaskForm(column="todo"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        assert error_text(app, "#form-title-error") == "title must not be empty"
        assert app.results == []
        await pilot.press(*"Design auth schema", "enter")
        await settle(pilot)
        assert app.results == [{"title": "Design auth schema", "body": "", "assignee": None, "priority": 0,
                                "tenant": None, "parents": []}]


async def test_task_form_returns_every_field_with_parents_resolved(home, conn):
    parent = transitions.create(conn, "Design auth schema", now=NOW)["task_id"]
    app = Host(home, TaskForm(), profiles_config())
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        screen.query_one("#form-title", Input).value = "Implement auth API endpoints"
        screen.query_one("#form-body", TextArea).text = "POST /register\nPOST /login"
        screen.query_one("#form-assignee", Input).value = "backend-dev"
        screen.query_one("#form-priority", Input).value = "2"
        screen.query_one("#form-tenant", Input).value = "auth-project"
        screen.query_one("#form-parents", Input).value = parent[:6]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.results == [{"title": "Implement auth API endpoints", "body": "POST /register\nPOST /login",
                                "assignee": "backend-dev", "priority": 2, "tenant": "auth-project",
                                "parents": [parent]}]


async def test_task_form_reports_an_unknown_parent_and_stays_open(home, conn):
    app = Host(home, TaskForm())
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#form-title", Input).value = "Orphan"
        app.screen.query_one("#form-parents", Input).value = "t_beef"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert error_text(app, "#form-error") == "parents: no task t_beef"
        assert app.results == []
        await pilot.press("escape")
        assert app.results == [None]


async def test_task_form_edit_mode_keeps_assignee_and_tenant(home):
    app = Host(home, TaskForm("Old title", "old body", mode="edit", assignee="qa-dev", priority=1,
                              tenant="ops"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert not app.screen.query("#form-assignee, #form-tenant, #form-parents")
        app.screen.query_one("#form-title", Input).value = "New title"
        await pilot.press("ctrl+s")
        assert app.results == [{"title": "New title", "body": "old body", "assignee": "qa-dev", "priority": 1,
                                "tenant": "ops", "parents": []}]


async def test_text_prompt_requires_text_unless_optional(home):
    app = Host(home, TextPrompt("Block reason", "why?"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        assert error_text(app, "#prompt-error") == "Block reason: this cannot be empty"
        await pilot.press(*"need creds", "enter")
        assert app.results == ["need creds"]

    app = Host(home, TextPrompt("Summary", required=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        assert app.results == [""]


@pytest.mark.parametrize(("keys", "answer"), [("y", True), ("enter", True), ("n", False), ("escape", False)])
async def test_confirm_screen_answers(home, keys, answer):
    app = Host(home, ConfirmScreen("Archive t_00010000?"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(keys)
        assert app.results == [answer]


async def test_profile_picker_picks_types_or_unassigns(home):
    profiles = ["backend-dev", "qa-dev", "reviewer"]
    app = Host(home, ProfilePicker(profiles, "qa-dev"))
    async with app.run_test(size=(80, 24)) as pilot:
        picker = app.screen.query_one(OptionList)
        assert picker.highlighted_option.id == "qa-dev"
        await pilot.press("down", "down", "enter")
        assert app.results == ["reviewer"]

    app = Host(home, ProfilePicker(profiles, "qa-dev"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"rev")
        assert [option.id for option in app.screen.query_one(OptionList).options] == ["reviewer"]
        await pilot.press(*"iewer-2", "enter")
        assert app.results == ["reviewer-2"]

    app = Host(home, ProfilePicker(profiles, None))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.query_one(OptionList).highlighted_option.id == "none"
        await pilot.press("down", "enter")
        assert app.results == ["none"]


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_create_form_snapshot(snap_compare, home, size):
    app = Host(home, TaskForm("Write auth integration tests", "happy path, wrong password, expired token",
                              column="todo", assignee="qa-dev", priority=2, tenant="auth-project"),
               profiles_config())

    async def invalid_priority(pilot) -> None:
        app.screen.query_one("#form-priority", Input).value = "-"
        await pilot.press("ctrl+s")

    assert snap_compare(app, terminal_size=size, run_before=invalid_priority)


@pytest.mark.parametrize("priority, message", [
    ("high", "priority must be an integer, got 'high'"),
    (str(2**63), f"priority must be from {-(2**63)} to {2**63 - 1}, got {2**63}"),
])
async def test_task_form_refuses_a_priority_the_board_cannot_store(home, priority, message):
    app = Host(home, TaskForm())
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#form-title", Input).value = "Urgent"
        app.screen.query_one("#form-priority", Input).value = priority
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert error_text(app, "#form-error") == message
        assert app.results == []
