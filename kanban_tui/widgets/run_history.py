"""Every attempt at a task, oldest first: outcome, profile, elapsed, start, summary, error, metadata.

Summaries, errors and metadata come from workers, so they are shown as plain `Text` with
control characters escaped: nothing in them is interpreted as markup or a terminal escape.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kanban_tui.kernel.models import local_host_id
from kanban_tui.text import block, compact_json, duration, inline, when

OUTCOME_STYLES = {
    "completed": "bold green",
    "blocked": "bold yellow",
    "reclaimed": "bold magenta",
    "gave_up": "bold red",
    "crashed": "red",
    "timed_out": "red",
    "spawn_failed": "red",
    "protocol_violation": "red",
    "rate_limited": "yellow",
}


def _indented(text: Text, marker: str, value: str, style: str) -> None:
    for number, line in enumerate(block(value).splitlines() or [""]):
        text.append("\n    " + (marker if number == 0 else " " * len(marker)), style=style)
        text.append(line, style=style)


def render_runs(runs: list[dict], now: float, here: str | None = None) -> Text:
    """The run history as one `Text`; an open run is `running` and its elapsed time counts to now.
    A run on another host than `here` (default this host's id) says where it ran."""
    here = here or local_host_id()
    if not runs:
        return Text("No attempts yet.", style="dim")
    text = Text()
    width = max(len(run["outcome"] or "running") for run in runs)
    for number, run in enumerate(runs, 1):
        if number > 1:
            text.append("\n")
        outcome = run["outcome"] or "running"
        ended = run["ended_at"] if run["ended_at"] is not None else now
        text.append(f"#{number} ", style="bold")
        text.append(outcome.ljust(width), style=OUTCOME_STYLES.get(outcome, "bold cyan"))
        text.append(f"  @{inline(run['profile'])}  {duration(ended - run['started_at'])}  ")
        text.append(when(run["started_at"]), style="dim")
        if run.get("host_id") and run["host_id"] != here:
            text.append(f"  on {inline(run['host_id'])}", style="bold")
        if run["ended_at"] is None:
            text.append("  (open)", style="bold cyan")
        if run["summary"]:
            _indented(text, "→ ", run["summary"], "")
        if run["error"]:
            _indented(text, "! ", run["error"], "red")
        if run["metadata"] is not None:
            text.append("\n    metadata ", style="dim")
            text.append(compact_json(run["metadata"]))
    return text


class RunHistory(Static):
    """The task's attempts; `show_runs` replaces what is shown."""

    DEFAULT_CSS = """
    RunHistory {
        height: auto;
    }
    """

    def show_runs(self, runs: list[dict], now: float) -> None:
        self.update(render_runs(runs, now))
