"""Dispatcher health in one line: role, leader, last tick, live workers / cap."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from kanban_tui.cli.output import inline
from kanban_tui.kernel.models import age


def describe(status: dict | None, now: float) -> Content:
    """`status` is {role, leader, last_tick_at, live_workers, max_workers}; None: nobody leads."""
    if not status or not status.get("leader"):
        return Content.styled("○ no dispatcher", "bold $text-warning")
    leading = status.get("role") == "leader"
    parts: list = [("● leader", "bold $text-success") if leading
                   else ("○ observer", "bold"), ("" if leading else f" of {inline(status['leader'])}", "dim")]
    tick = status.get("last_tick_at")
    parts.append((f" · tick {age(now - tick)} ago" if tick else " · no tick yet", "dim"))
    if status.get("max_workers") is not None:
        parts.append(f" · {status.get('live_workers') or 0}/{status['max_workers']} workers")
    return Content.assemble(*parts)


class DispatcherStatusBar(Static):
    """Fixed width (see app.tcss), so a new status repaints this line and nothing else."""

    shown: Content | None = None

    def show_status(self, status: dict | None, now: float) -> None:
        content = describe(status, now)
        if content != self.shown:
            self.shown = content
            self.update(content, layout=False)
