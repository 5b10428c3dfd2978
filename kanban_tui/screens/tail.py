"""A live event tail for one task or the whole board.

Events arrive through the bridge's `BoardChanged`; the tail re-reads everything after its own
cursor in a thread (so nothing between two notices is lost) and appends the batch in one
write. The buffer is bounded: the newest `BUFFER` events are kept and shown.
"""

from __future__ import annotations

import re
from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from kanban_tui.kernel import queries
from kanban_tui.kernel.models import EVENT_KINDS
from kanban_tui.messages import BoardChanged
from kanban_tui.widgets.event_log import EventLog

BUFFER = 2000


def read_events(gateway, task_id: str | None, cursor: int) -> list[dict]:
    """Events after `cursor` (at most the newest BUFFER), each with its task's current assignee."""
    conn = gateway.conn()
    if task_id is None:
        after = max(cursor, queries.max_event_id(conn) - BUFFER)
        return queries.watch_events(conn, after=after, limit=None)
    assignee = queries.get_task(conn, task_id)["assignee"]
    return [{**event, "assignee": assignee} for event in queries.events(conn, task_id, after=cursor)[-BUFFER:]]


def parse_kinds(text: str) -> tuple[frozenset[str], list[str]]:
    """A comma/space separated kind filter -> (kinds, unknown names); empty means every kind."""
    names = [name for name in re.split(r"[\s,]+", text.strip().lower()) if name]
    return frozenset(names), [name for name in names if name not in EVENT_KINDS]


class EventTail(ModalScreen[None]):
    """`[HH:MM:SS] t_xxxx kind (@assignee) payload`, newest at the bottom; `esc` or `q` closes."""

    DEFAULT_CSS = """
    EventTail {
        background: $background;
    }
    EventTail #tail-status {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    EventTail #tail-filter {
        dock: bottom;
    }
    EventTail EventLog {
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="tail.close"),
        Binding("f,space", "toggle_follow", "Follow/pause", id="tail.follow"),
        Binding("slash", "focus('#tail-filter')", "Filter kinds", id="tail.filter"),
    ]

    def __init__(self, task_id: str | None = None):
        super().__init__()
        self.task_id = task_id
        self.cursor = 0
        self.buffer: deque[dict] = deque(maxlen=BUFFER)
        self.kinds: frozenset[str] = frozenset()
        self.following = True

    def compose(self) -> ComposeResult:
        yield Static(id="tail-status")
        yield EventLog(max_lines=BUFFER, show_task=self.task_id is None, id="tail-log")
        yield Input(placeholder="kinds to show, e.g. completed,gave_up (empty: all) — / to edit",
                    suggester=SuggestFromList(EVENT_KINDS), id="tail-filter", compact=True)

    def on_mount(self) -> None:
        self.query_one(EventLog).focus()
        self._show_status()
        self.refresh_events()

    def on_board_changed(self, message: BoardChanged) -> None:
        if self.task_id is None or self.task_id in message.task_ids:
            self.refresh_events()

    def refresh_events(self) -> None:
        gateway, task_id, cursor = self.app.gateway, self.task_id, self.cursor
        self.run_worker(lambda: read_events(gateway, task_id, cursor), name="events", exclusive=True,
                        thread=True, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.state is WorkerState.SUCCESS:
            self.append_events(event.worker.result)
        elif event.worker.state is WorkerState.ERROR:
            self.notify(str(event.worker.error), severity="error", markup=False)

    def append_events(self, events: list[dict]) -> None:
        """Add events newer than the cursor to the buffer and the log (one write per batch)."""
        fresh = [event for event in events if event["id"] > self.cursor]
        if not fresh:
            return
        self.cursor = fresh[-1]["id"]
        self.buffer.extend(fresh)
        self.query_one(EventLog).add_events(event for event in fresh if self._shown(event))
        self._show_status()

    def _shown(self, event: dict) -> bool:
        return not self.kinds or event["kind"] in self.kinds

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        kinds, unknown = parse_kinds(event.value)
        if unknown:
            self.notify(f"unknown event kinds: {', '.join(unknown)}", severity="warning", markup=False)
        self.kinds = kinds
        log = self.query_one(EventLog)
        log.clear()
        log.add_events(event for event in self.buffer if self._shown(event))
        log.focus()
        self._show_status()

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        log = self.query_one(EventLog)
        log.auto_scroll = self.following
        if self.following:
            log.scroll_end(animate=False)
        self._show_status()

    def action_close(self) -> None:
        self.dismiss(None)

    def _show_status(self) -> None:
        scope = f"events of {self.task_id}" if self.task_id else "board events"
        text = Text(f"{scope} · ", style="bold")
        text.append("following" if self.following else "paused", style="green" if self.following else "yellow")
        text.append(f" · {len(self.buffer)} buffered")
        if self.kinds:
            text.append(f" · kinds: {', '.join(sorted(self.kinds))}")
        text.append("   f/space follow·pause  / filter  esc/q close", style="dim")
        # one line of fixed height: a new text needs no layout pass (each batch updates it)
        self.query_one("#tail-status", Static).update(text, layout=False)
