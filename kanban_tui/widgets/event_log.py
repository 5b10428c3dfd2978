"""Event lines as inert styled pieces, and a bounded Line-API log that renders only what is visible.

Hallucination warnings stand out: the line is highlighted and the phantom ids follow it.
Stored text goes through the CLI's escaping unless it is already printable (the fast path a
live log needs: `str.isprintable()` is False for every character `inline` would escape).
"""

from __future__ import annotations

import json
import time
from collections import deque
from functools import lru_cache
from typing import Any, Iterable

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kanban_tui.kernel.models import WARNING_EVENT_KINDS
from kanban_tui.text import inline

WARNING_STYLE = "bold red"
KIND_STYLES = {
    "completed": "green",
    "blocked": "yellow",
    "gave_up": "bold red",
    "crashed": "red",
    "timed_out": "red",
    "spawn_failed": "red",
    "protocol_violation": "red",
    "rate_limited": "yellow",
    "reclaimed": "magenta",
    "claimed": "cyan",
    "spawned": "cyan",
}
Pieces = list[tuple[str, str]]


def _inert(value: Any) -> str:
    text = str(value)
    return text if text.isprintable() else inline(text)


def phantom_ids(event: dict) -> list[str]:
    """The ids a hallucination warning names (empty for any other event)."""
    payload = event.get("payload") or {}
    if event["kind"] == "completion_blocked_hallucination":
        return list(payload.get("phantom_cards") or [])
    if event["kind"] == "suspected_hallucinated_references":
        return list(payload.get("phantom_refs") or [])
    return []


def event_pieces(event: dict, *, time_format: str = "%H:%M:%S", show_task: bool = True) -> Pieces:
    """`[time] t_xxxx kind (@assignee) payload` as (text, style) pieces; task and assignee optional."""
    kind = event["kind"]
    pieces = [(f"[{time.strftime(time_format, time.localtime(event['created_at']))}] ", "dim")]
    if show_task:
        pieces.append((f"{_inert(event['task_id'])} ", "bold"))
    pieces.append((_inert(kind), KIND_STYLES.get(kind, "")))
    if event.get("assignee"):
        pieces.append((f" (@{_inert(event['assignee'])})", ""))
    if event.get("payload") is not None:
        payload = json.dumps(event["payload"], ensure_ascii=False, separators=(", ", ": "))
        pieces.append((" " + _inert(payload), "dim"))
    if kind in WARNING_EVENT_KINDS:
        phantoms = ", ".join(map(_inert, phantom_ids(event))) or "?"
        pieces = [(text, WARNING_STYLE) for text, _ in pieces]
        pieces.append((f"  ⚠ phantom ids: {phantoms}", "reverse " + WARNING_STYLE))
    return pieces


def event_line(event: dict, **options) -> Text:
    return Text.assemble(*event_pieces(event, **options))


@lru_cache(maxsize=64)
def _style(name: str) -> Style:
    return Style.parse(name) if name else Style.null()


class _Line:
    """One log line: its pieces, its width and (once shown) its rendered strip."""

    __slots__ = ("pieces", "width", "strip")

    def __init__(self, pieces: Pieces):
        self.pieces = pieces
        self.width = cell_len("".join(text for text, _ in pieces))
        self.strip: Strip | None = None

    def render(self) -> Strip:
        if self.strip is None:
            self.strip = Strip([Segment(text, _style(style)) for text, style in self.pieces], self.width)
        return self.strip


class EventLog(ScrollView, can_focus=True):
    """A live event log holding at most `max_lines` lines; appending never renders off-screen lines."""

    DEFAULT_CSS = """
    EventLog {
        background: $surface;
        overflow: scroll;
        &:focus {
            background-tint: $foreground 5%;
        }
    }
    """

    def __init__(self, *, max_lines: int, show_task: bool = True, id: str | None = None):
        super().__init__(id=id)
        self.show_task = show_task
        self.auto_scroll = True
        self.lines: deque[_Line] = deque(maxlen=max_lines)
        self._widest = 0
        self._view: tuple[int, int, int, Style] = (0, 0, 0, Style())  # scroll x, y, width, base style

    def add_events(self, events: Iterable[dict]) -> None:
        at_end = self.is_vertical_scroll_end
        added = [_Line(event_pieces(event, show_task=self.show_task)) for event in events]
        if not added:
            return
        self.lines.extend(added)
        self._widest = max(self._widest, max(line.width for line in added))
        self.virtual_size = Size(self._widest, len(self.lines))
        if self.auto_scroll and at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def clear(self) -> None:
        self.lines.clear()
        self._widest = 0
        self.virtual_size = Size(0, 0)
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        """The view's offset, width and base style once per paint, not once per line."""
        scroll_x, scroll_y = self.scroll_offset
        self._view = (scroll_x, scroll_y, self.size.width, self.rich_style)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y, width, base = self._view
        index = scroll_y + y
        if index >= len(self.lines):
            return Strip.blank(width, base)
        return self.lines[index].render().crop_extend(scroll_x, scroll_x + width, base).apply_style(base)
