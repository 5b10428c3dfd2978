"""Flagged tasks above the board: one line each, click to jump, dismissible.

Items are `queries.attention` dicts {task_id, title, reason, detail}. The strip hides itself
when nothing is left to show.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.events import Click
from textual.message import Message
from textual.widgets import Button, Static

from kanban_tui.text import inline

SHOWN = 3  # lines at most (app.tcss may clip to fewer on short terminals)
SEVERE = ("completion_blocked_hallucination", "gave_up", "ghost_running")


def item_line(item: dict) -> Content:
    mark = ("✖ ", "bold $text-error") if item["reason"] in SEVERE else ("⚠ ", "bold $text-warning")
    return Content.assemble(mark, (item["task_id"], "bold"), " ", inline(item["detail"]),
                            (" · " + inline(item["title"]), "dim"))


class _Lines(Static):
    def __init__(self, strip: AttentionStrip):
        super().__init__(id="attention-lines")
        self.strip = strip

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y < min(SHOWN, len(self.strip.items)):
            self.post_message(AttentionStrip.Jump(self.strip.items[offset.y]["task_id"]))


class AttentionStrip(Horizontal):
    class Jump(Message):
        """Go to this flagged task."""

        def __init__(self, task_id: str):
            super().__init__()
            self.task_id = task_id

    class Dismissed(Message):
        """The operator dismissed the items shown."""

    def __init__(self):
        super().__init__(id="attention")
        self.display = False
        self.items: list[dict] = []
        self.lines = _Lines(self)
        self.dismiss = Button("", id="attention-dismiss", compact=True)

    def compose(self) -> ComposeResult:
        yield self.lines
        yield self.dismiss

    def show_items(self, items: list[dict]) -> None:
        if items == self.items:
            return
        self.items = items
        self.display = bool(items)
        self.lines.update(Content("\n").join(item_line(item) for item in items[:SHOWN]))
        self.dismiss.label = f"{len(items)} flagged · g next · x dismiss"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Dismissed())
