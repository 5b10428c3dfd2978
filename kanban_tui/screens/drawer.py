"""The task drawer: everything about one card, its dependencies, comments, runs, events, log.

A side panel docked right when the terminal is at least 120 columns wide (the board stays
visible to the left), a full overlay when narrower. Reads and writes run in thread workers
against `app.gateway`; the drawer re-reads itself after each write and whenever the bridge
reports a change to the task or to a task linked to it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Click
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    Collapsible,
    Footer,
    Input,
    Markdown,
    Static,
)
from textual.worker import Worker, WorkerState

from kanban_tui.kernel import queries, stopping, transitions
from kanban_tui.kernel.caller import Caller
from kanban_tui.messages import BoardChanged
from kanban_tui.screens.forms import ConfirmScreen, ProfilePicker, TextPrompt
from kanban_tui.text import block
from kanban_tui.widgets import drawer_sections as sections
from kanban_tui.widgets.link_list import LinkList
from kanban_tui.widgets.run_history import RunHistory

EVENT_LIMIT = 100
LOG_TAIL_BYTES = 4096
OPERATOR = "operator"
# The board's door: whoever runs the TUI is the operator.
TUI_CALLER = Caller.operator(OPERATOR)
# Actions that only make sense in some statuses (hidden otherwise).
ACTION_STATUSES = {
    "block": ("running", "ready", "todo", "triage"),
    "unblock": ("blocked",),
    "complete": ("running", "ready", "blocked"),
    "reclaim": ("running",),
    "reassign": ("triage", "todo", "ready", "running", "blocked"),
}


def read_log_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str | None:
    """The last `limit` bytes of a worker log, starting at a line boundary; None when absent."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - limit))
            data = handle.read()
    except FileNotFoundError:
        return None
    if size > limit and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return data.decode("utf-8", errors="replace")


def read_detail(gateway, task_id: str, clock: Callable[[], float]) -> dict:
    """Everything the drawer shows, read in one go (runs in a thread)."""
    conn = gateway.conn()
    detail = queries.show(conn, task_id, event_limit=EVENT_LIMIT)
    detail["log"] = read_log_tail(gateway.paths.log_for(task_id))
    detail["profiles"] = [entry["name"] for entry in queries.assignees(conn, gateway.config.profiles)]
    detail["now"] = clock()
    return detail


def _heading(label: str) -> Static:
    return Static(label, classes="drawer-heading")


class TaskDrawer(ModalScreen[None]):
    """One task in depth. `esc` or `q` closes; dismisses None."""

    HORIZONTAL_BREAKPOINTS = [(0, "-overlay"), (120, "-side")]

    DEFAULT_CSS = """
    TaskDrawer.-side {
        background: $background 25%;
    }
    TaskDrawer #drawer {
        dock: right;
        width: 100%;
        height: 100%;
        background: $surface;
        border-left: tall $accent;
    }
    TaskDrawer.-side #drawer {
        width: 45%;
        min-width: 60;
    }
    TaskDrawer .drawer-heading {
        margin-top: 1;
        text-style: bold;
        color: $accent;
    }
    TaskDrawer #drawer-scroll {
        padding: 0 1;
    }
    TaskDrawer Markdown {
        margin: 0;
        padding: 0;
    }
    TaskDrawer LinkList {
        height: auto;
        max-height: 10;
        border: none;
        padding: 0;
    }
    TaskDrawer #drawer-link-inputs {
        height: auto;
    }
    TaskDrawer #drawer-link-inputs Input {
        width: 1fr;
    }
    TaskDrawer #drawer-link-error {
        color: $text-error;
        display: none;
    }
    TaskDrawer #drawer-link-error.-shown {
        display: block;
    }
    TaskDrawer #drawer-recovery-actions {
        height: auto;
    }
    TaskDrawer #drawer-recovery-actions Button {
        margin-right: 2;
    }
    TaskDrawer #drawer-log {
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="drawer.close"),
        Binding("C", "focus('#drawer-comment')", "Comment", id="drawer.comment"),
        Binding("<", "focus('#drawer-add-parent')", "Add parent", id="drawer.add_parent"),
        Binding(">", "focus('#drawer-add-child')", "Add child", id="drawer.add_child"),
        Binding("b", "block", "Block", id="drawer.block"),
        Binding("U", "unblock", "Unblock", id="drawer.unblock"),
        Binding("c", "complete", "Complete", id="drawer.complete"),
        Binding("R", "reclaim", "Reclaim", id="drawer.reclaim"),
        Binding("a", "reassign", "Reassign", id="drawer.reassign"),
    ]

    def __init__(self, task_id: str, *, clock: Callable[[], float] = time.time):
        super().__init__()
        self.task_id = task_id
        self.clock = clock
        self.detail: dict | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="drawer"):
            with VerticalScroll(id="drawer-scroll"):
                yield Static(Text(self.task_id), id="drawer-title")
                yield Static(id="drawer-meta")
                with Collapsible(title="Recovery", collapsed=True, id="drawer-recovery"):
                    yield Static(id="drawer-warnings")
                    with Horizontal(id="drawer-recovery-actions"):
                        yield Button("Reclaim (R)", id="drawer-reclaim", compact=True)
                        yield Button("Reassign… (a)", id="drawer-reassign", compact=True)
                    yield Checkbox("Reclaim first when a worker is running", value=True,
                                   id="drawer-reclaim-first", compact=True)
                yield _heading("Body")
                yield Markdown(id="drawer-body", open_links=False)
                yield _heading("Parents and children")
                yield LinkList(id="drawer-links")
                with Horizontal(id="drawer-link-inputs"):
                    yield Input(placeholder="add parent: id prefix (<)", id="drawer-add-parent", compact=True)
                    yield Input(placeholder="add child: id prefix (>)", id="drawer-add-child", compact=True)
                yield Static(id="drawer-link-error")
                yield _heading("Comments")
                yield Static(id="drawer-comments")
                yield Input(placeholder="comment as operator, enter posts (C)", id="drawer-comment", compact=True)
                yield _heading("Runs")
                yield RunHistory(id="drawer-runs")
                yield _heading("Events")
                yield Static(id="drawer-events")
                yield _heading("Worker log (tail)")
                yield Static(id="drawer-log")
            yield Footer(id="drawer-footer")

    # ------------------------------------------------------------ reading

    def on_screen_resume(self) -> None:
        self.reload()

    def on_board_changed(self, message: BoardChanged) -> None:
        if message.task_ids & self._watched_ids():
            self.reload()

    def _watched_ids(self) -> set[str]:
        watched = {self.task_id}
        if self.detail is not None:
            watched.update(self.detail["task"]["parents"], self.detail["task"]["children"])
        return watched

    def reload(self) -> None:
        gateway, task_id, clock = self.app.gateway, self.task_id, self.clock
        self.run_worker(lambda: read_detail(gateway, task_id, clock), name="load", group="load",
                        exclusive=True, thread=True, exit_on_error=False)

    def _show(self, detail: dict) -> None:
        if detail["task"]["id"] != self.task_id:
            return
        scroll = self.query_one("#drawer-scroll", VerticalScroll)
        scroll_y = scroll.scroll_y
        previous, self.detail = self.detail, detail
        task, now = detail["task"], detail["now"]
        self.query_one("#drawer-title", Static).update(sections.title_text(task))
        self.query_one("#drawer-meta", Static).update(sections.meta_text(task, now))
        found = sections.warnings(task, detail["runs"], detail["events"], now)
        self.query_one("#drawer-warnings", Static).update(sections.warnings_text(found))
        if found:
            self.query_one("#drawer-recovery", Collapsible).collapsed = False
        if previous is None or previous["task"]["body"] != task["body"]:
            self.query_one("#drawer-body", Markdown).update(block(task["body"]) or "*No body.*")
        self.query_one("#drawer-links", LinkList).show_links(detail["parents"], detail["children"])
        self.query_one("#drawer-comments", Static).update(sections.comments_text(detail["comments"]))
        self.query_one("#drawer-runs", RunHistory).show_runs(detail["runs"], now)
        self.query_one("#drawer-events", Static).update(sections.events_text(detail["events"]))
        self.query_one("#drawer-log", Static).update(sections.log_text(detail["log"]))
        self.query_one("#drawer-reclaim", Button).disabled = not self.check_action("reclaim", ())
        self.query_one("#drawer-reassign", Button).disabled = not self.check_action("reassign", ())
        self.refresh_bindings()
        if previous is not None and previous["task"]["id"] == task["id"]:
            scroll.call_after_refresh(scroll.scroll_to, y=scroll_y, animate=False)

    # ------------------------------------------------------------ writing

    def _write(self, name: str, op: Callable[..., str | None], *args, **kwargs) -> None:
        """Run `op(conn, *args, **kwargs)` in a thread; a message it returns becomes a notification."""
        gateway = self.app.gateway
        self.run_worker(lambda: op(gateway.conn(), *args, **kwargs), name=name, group="write",
                        thread=True, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.state is WorkerState.ERROR:
            self.notify(str(worker.error), severity="error", markup=False)
            if worker.name == "link":
                self._link_error(str(worker.error))
        elif worker.state is WorkerState.SUCCESS and worker.name == "load":
            self._show(worker.result)
        elif worker.state is WorkerState.SUCCESS:
            if worker.name == "link":
                self._link_error(None)
                self.query_one("#drawer-add-parent", Input).clear()
                self.query_one("#drawer-add-child", Input).clear()
            elif worker.name == "comment":
                self.query_one("#drawer-comment", Input).clear()
            if worker.result:
                self.notify(worker.result, markup=False)
            self.reload()

    def _link_error(self, message: str | None) -> None:
        error = self.query_one("#drawer-link-error", Static)
        error.update(Text(message or ""))
        error.set_class(bool(message), "-shown")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        if event.input.id == "drawer-comment":
            self._write("comment", add_comment, self.task_id, text)
        elif event.input.id == "drawer-add-parent":
            self._write("link", add_link, parent=text, child=self.task_id)
        elif event.input.id == "drawer-add-child":
            self._write("link", add_link, parent=self.task_id, child=text)

    def on_link_list_unlink(self, message: LinkList.Unlink) -> None:
        if message.relation == "parent":
            self._write("link", remove_link, message.task_id, self.task_id)
        else:
            self._write("link", remove_link, self.task_id, message.task_id)

    def on_link_list_open(self, message: LinkList.Open) -> None:
        self.task_id, self.detail = message.task_id, None
        self.query_one("#drawer-scroll", VerticalScroll).scroll_home(animate=False)
        self.reload()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "drawer-reclaim":
            self.run_action("reclaim")
        elif event.button.id == "drawer-reassign":
            self.run_action("reassign")

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        statuses = ACTION_STATUSES.get(action)
        if statuses is None:
            return True
        return self.detail is not None and self.detail["task"]["status"] in statuses

    def action_close(self) -> None:
        self.dismiss(None)

    def on_click(self, event: Click) -> None:
        """A click beside the side panel (on the board) closes the drawer."""
        if event.widget is self:
            self.dismiss(None)

    def action_block(self) -> None:
        def block(reason: str | None) -> None:
            if reason is not None:
                self._write("status", block_task, self.task_id, reason)

        self.app.push_screen(TextPrompt("Block reason", "what must a person answer or do?"), block)

    def action_unblock(self) -> None:
        self._write("status", unblock_task, self.task_id)

    def action_complete(self) -> None:
        def complete(summary: str | None) -> None:
            if summary is not None:
                self._write("status", complete_task, self.task_id, summary or None)

        self.app.push_screen(TextPrompt("Completion summary", "optional handoff for the children",
                                        required=False), complete)

    def action_reclaim(self) -> None:
        def reclaim(confirmed: bool | None) -> None:
            if confirmed:
                self._write("recovery", reclaim_task, self.task_id)

        self.app.push_screen(ConfirmScreen(f"Reclaim {self.task_id}? Its worker is stopped and the "
                                           "run closes as reclaimed."), reclaim)

    def action_reassign(self) -> None:
        reclaim_first = self.query_one("#drawer-reclaim-first", Checkbox).value

        def reassign(profile: str | None) -> None:
            if profile is not None:
                self._write("recovery", reassign_task, self.task_id, profile, reclaim_first)

        self.app.push_screen(ProfilePicker(self.detail["profiles"], self.detail["task"]["assignee"]),
                             reassign)


# ---------------------------------------------------------------- kernel calls (run in threads)

def add_comment(conn: sqlite3.Connection, task_id: str, body: str) -> None:
    transitions.comment(conn, task_id, body, caller=TUI_CALLER)


def add_link(conn: sqlite3.Connection, *, parent: str, child: str) -> str:
    parent, child = queries.resolve_id(conn, parent), queries.resolve_id(conn, child)
    transitions.link(conn, parent, child)
    return f"Linked {parent} → {child}"


def remove_link(conn: sqlite3.Connection, parent: str, child: str) -> str:
    transitions.unlink(conn, parent, child)
    return f"Removed link {parent} → {child}"


def block_task(conn: sqlite3.Connection, task_id: str, reason: str) -> str:
    transitions.block(conn, task_id, reason=reason, comment=True, caller=TUI_CALLER)
    stopping.stop_unowned(conn)
    return f"Blocked {task_id}"


def unblock_task(conn: sqlite3.Connection, task_id: str) -> str:
    return f"Unblocked {task_id}: now {transitions.unblock(conn, task_id)['status']}"


def complete_task(conn: sqlite3.Connection, task_id: str, summary: str | None) -> str:
    transitions.complete(conn, task_id, summary=summary, caller=TUI_CALLER)
    stopping.stop_unowned(conn)
    return f"Completed {task_id}"


def reclaim_task(conn: sqlite3.Connection, task_id: str) -> str:
    result = transitions.reclaim(conn, task_id, reason="reclaimed by the operator", caller=TUI_CALLER)
    stopping.stop_unowned(conn)
    return f"Reclaimed {task_id}: now {result['status']}"


def reassign_task(conn: sqlite3.Connection, task_id: str, profile: str, reclaim_first: bool) -> str:
    result = transitions.reassign(conn, task_id, profile, reclaim_first=reclaim_first,
                                  reason="reassigned by the operator", caller=TUI_CALLER)
    stopping.stop_unowned(conn)
    return f"Reassigned {task_id} to {result['assignee'] or 'nobody'}"
