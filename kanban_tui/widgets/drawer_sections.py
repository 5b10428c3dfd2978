"""The task drawer's read-only sections as inert `Text`: meta, comments, events, log, warnings.

Everything stored by workers (titles, comments, payloads, logs) goes through the CLI's
escaping helpers, so control characters show as visible escapes and nothing is markup.
"""

from __future__ import annotations

from rich.text import Text

from kanban_tui.kernel.models import WARNING_EVENT_KINDS
from kanban_tui.text import block, inline, when
from kanban_tui.widgets.event_log import event_line, phantom_ids

STATUS_STYLES = {
    "triage": "magenta", "todo": "blue", "ready": "cyan", "running": "bold green",
    "blocked": "bold yellow", "done": "green", "archived": "dim",
}


def _field(text: Text, label: str, value: str, style: str = "") -> None:
    if text.plain and not text.plain.endswith("\n"):
        text.append("  ·  ", style="dim")
    text.append(f"{label} ", style="dim")
    text.append(value, style=style)


def title_text(task: dict) -> Text:
    text = Text(task["id"] + "  ", style="dim")
    text.append(inline(task["title"]), style="bold")
    return text


def meta_text(task: dict, now: float) -> Text:
    text = Text()
    _field(text, "status", task["status"], STATUS_STYLES.get(task["status"], ""))
    _field(text, "assignee", f"@{inline(task['assignee'])}" if task["assignee"] else "needs assignee",
           "" if task["assignee"] else "yellow")
    _field(text, "priority", str(task["priority"]))
    _field(text, "tenant", inline(task["tenant"]))
    text.append("\n")
    workspace = task["workspace_kind"] + (f":{task['workspace_path']}" if task["workspace_path"] else "")
    _field(text, "workspace", inline(workspace))
    _field(text, "created", when(task["created_at"]))
    if task["created_by"]:
        _field(text, "by", inline(task["created_by"]))
    text.append("\n")
    failures = task["consecutive_failures"]
    _field(text, "failures", str(failures), "bold red" if failures else "")
    if task["last_failure_error"]:
        _field(text, "last error", inline(task["last_failure_error"]), "red")
    if task["status"] == "running":
        _field(text, "pid", inline(task["worker_pid"]))
        _field(text, "lease ends", when(task["claim_expires"]),
               "bold red" if (task["claim_expires"] or now) < now else "")
    return text


def comments_text(comments: list[dict]) -> Text:
    if not comments:
        return Text("No comments yet.", style="dim")
    text = Text()
    for comment in comments:
        if text.plain:
            text.append("\n")
        text.append(f"{inline(comment['author'])}", style="bold")
        text.append(f"  {when(comment['created_at'])}\n", style="dim")
        text.append("\n".join("  " + line for line in block(comment["body"]).splitlines()))
    return text


def events_text(events: list[dict]) -> Text:
    if not events:
        return Text("No events.", style="dim")
    return Text("\n").join(event_line(event, time_format="%Y-%m-%d %H:%M:%S", show_task=False)
                           for event in events)


def log_text(log: str | None) -> Text:
    if log is None:
        return Text("No worker log yet.", style="dim")
    return Text(block(log) or "(empty)")


def warnings(task: dict, runs: list[dict], events: list[dict], now: float) -> list[str]:
    """Why the task needs a person: hallucination warnings, failures, gave_up, a ghost run."""
    found = []
    last_completed = max((e["id"] for e in events if e["kind"] == "completed"), default=0)
    for event in events:
        if event["kind"] in WARNING_EVENT_KINDS and event["id"] > last_completed:
            found.append(f"{event['kind']}: phantom ids {', '.join(map(inline, phantom_ids(event))) or '?'}")
    if runs and runs[-1]["outcome"] == "gave_up":
        found.append(f"gave up: {inline(runs[-1]['error'], 'no error recorded')}")
    elif task["consecutive_failures"]:
        found.append(f"{task['consecutive_failures']} consecutive failures; last: "
                     f"{inline(task['last_failure_error'], 'no error recorded')}")
    if task["status"] == "running" and task["claim_expires"] is not None and task["claim_expires"] < now:
        found.append(f"running, but its lease ended at {when(task['claim_expires'])} (worker may be gone)")
    return found


def warnings_text(found: list[str]) -> Text:
    if not found:
        return Text("No warnings.", style="dim")
    return Text("\n").join(Text(f"⚠ {line}", style="bold red") for line in found)
