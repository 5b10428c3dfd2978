"""Dispatcher health in one line: role, leader, last tick, live workers / cap."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from kanban_tui.text import age, inline


def describe(status: dict | None, now: float) -> Content:
    """`status` is {role, leader, last_tick_at, live_workers, max_workers, hosts}; None: nobody leads.
    With several live hosts the workers are the fleet's; lost hosts are counted in red."""
    if not status or not status.get("leader"):
        return Content.styled("○ no dispatcher", "bold $text-warning")
    leading = status.get("role") == "leader"
    parts: list = [("● leader", "bold $text-success") if leading
                   else ("○ observer", "bold"), ("" if leading else f" of {inline(status['leader'])}", "dim")]
    fleet = [host for host in status.get("hosts") or () if host["alive"]]
    lost = sum(1 for host in status.get("hosts") or () if host["state"] == "lost")
    tick = status.get("last_tick_at")
    if len(fleet) <= 1:  # with several hosts the line has no room for a tick: `hosts` shows them
        parts.append((f" · tick {age(now - tick)} ago" if tick else " · no tick yet", "dim"))
    if len(fleet) > 1:  # several hosts: the fleet's workers / caps
        parts.append(f" · {len(fleet)} hosts · {sum(h['live_workers'] for h in fleet)}/"
                     f"{sum(h['max_workers'] for h in fleet)} workers")
    elif status.get("max_workers") is not None:
        parts.append(f" · {status.get('live_workers') or 0}/{status['max_workers']} workers")
    if lost:
        parts.append((f" · {lost} lost", "bold $text-error"))
    return Content.assemble(*parts)


class DispatcherStatusBar(Static):
    """Fixed width (see app.tcss), so a new status repaints this line and nothing else."""

    shown: Content | None = None

    def show_status(self, status: dict | None, now: float) -> None:
        content = describe(status, now)
        if content != self.shown:
            self.shown = content
            self.update(content, layout=False)
