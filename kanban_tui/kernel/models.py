"""Names, enums and row shapes shared by every door into the kernel."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
from typing import Any

from kanban_tui import validate
from kanban_tui.errors import UsageError

STATUSES = ("triage", "todo", "ready", "running", "blocked", "done", "archived")
COLUMNS = ("triage", "todo", "ready", "running", "blocked", "done")
COLUMN_TITLES = {"triage": "Triage", "todo": "Todo", "ready": "Ready", "running": "In progress",
                 "blocked": "Blocked", "done": "Done"}
OPEN_STATUSES = ("triage", "todo", "ready", "running", "blocked")
SATISFIED_STATUSES = ("done", "archived")

# How a run ended that counts toward the circuit breaker (the schema lists every outcome).
FAILURE_OUTCOMES = ("crashed", "timed_out", "spawn_failed", "protocol_violation")
TERMINAL_EVENT_KINDS = ("completed", "blocked", "gave_up", "crashed", "timed_out")

EVENT_KINDS = (
    "created", "edited", "assigned", "reprioritized", "linked", "unlinked", "promoted", "claimed",
    "spawned", "heartbeat", "commented", "completed", "blocked", "unblocked", "archived",
    "reclaimed", "reassigned", "crashed", "timed_out", "spawn_failed", "gave_up",
    "protocol_violation", "skipped_nonspawnable", "completion_blocked_hallucination",
    "suspected_hallucinated_references", "worker_stopped", "imported", "rate_limited",
)
WARNING_EVENT_KINDS = ("completion_blocked_hallucination", "suspected_hallucinated_references")

WORKSPACE_KINDS = ("scratch", "dir", "worktree")
TITLE_MAX = 500
MIN_PREFIX = 4
TASK_ID_RE = re.compile(r"\bt_[0-9a-f]{8}\b")
DEFAULT_CLAIM_TTL = 900
DEFAULT_FAILURE_LIMIT = 3

TASK_FIELDS = (
    "id", "title", "body", "assignee", "status", "priority", "tenant", "workspace_kind",
    "workspace_path", "created_by", "created_at", "started_at", "completed_at", "result",
    "skills", "parents", "children", "max_runtime_seconds", "idempotency_key",
    "consecutive_failures", "last_failure_error", "claim_expires", "last_heartbeat_at",
    "worker_pid", "current_run_id", "retry_at",
)
RUN_FIELDS = ("id", "task_id", "profile", "status", "outcome", "summary", "error", "metadata",
              "worker_pid", "started_at", "ended_at", "host_id")


def local_host_id() -> str:
    """This host's id: `--host-id` / KANBAN_HOST_ID, else the machine's hostname."""
    return os.environ.get("KANBAN_HOST_ID") or socket.gethostname()


def new_task_id() -> str:
    return "t_" + os.urandom(4).hex()


def normalize_profile(name: str | None) -> str | None:
    """Profiles are trimmed and lower-cased; '', 'none' and '-' mean unassigned.

    The kernel only insists on storable text and keeps '' as unassigned for its Python callers
    (the board's forms); the CLI and tools refuse empty names and control characters before a
    name gets here (validate.profile).
    """
    if name is None:
        return None
    name = validate.text(name, "profile", max_chars=validate.NAME_MAX).strip().lower()
    return None if name in ("", "none", "-") else name


def clean_title(title: str | None) -> str:
    title = validate.text(title or "", "title").strip()
    if not title:
        raise UsageError("title must not be empty")
    if "\n" in title or "\r" in title:
        raise UsageError("title must be one line")
    if len(title) > TITLE_MAX:
        raise UsageError(f"title is {len(title)} characters; the limit is {TITLE_MAX}")
    return title


def parse_duration(text: str | int | None) -> int | None:
    """'300', '90s', '30m', '2h', '1d' -> seconds (a positive integer, at most ten years)."""
    return validate.duration(text)


def parse_workspace(spec: str | None) -> tuple[str, str | None]:
    """'scratch' | 'dir:/abs/path' | 'worktree:/abs/repo' -> (kind, path)."""
    if spec is None or spec == "" or spec == "scratch":
        return "scratch", None
    kind, sep, path = validate.text(spec, "workspace", max_chars=4096).partition(":")
    if not sep or kind not in ("dir", "worktree"):
        raise UsageError(f"bad workspace {spec!r}: use scratch, dir:/absolute/path or worktree:/absolute/repo")
    if not path.startswith("/"):
        raise UsageError(f"bad workspace {spec!r}: the path must be absolute")
    return kind, path


def parse_metadata(value: Any) -> dict | None:
    """Metadata is a JSON object (given as a dict or as JSON text), within validate's limits."""
    if value is None:
        return None
    return validate.json_object(value, "metadata", '{"changed_files": ["a.py"]}')


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def task_dict(row: sqlite3.Row, parents: list[str] | None = None,
              children: list[str] | None = None) -> dict:
    """A task row as the JSON object `show --json` and `list --json` print."""
    out = {}
    for field in TASK_FIELDS:
        if field == "parents":
            out[field] = parents or []
        elif field == "children":
            out[field] = children or []
        elif field == "skills":
            out[field] = json.loads(row["skills"])
        elif field == "retry_at":  # not before this time (unix seconds) does a failed task retry
            out[field] = row["retry_after"]
        else:
            out[field] = row[field]
    return out


def run_dict(row: sqlite3.Row) -> dict:
    out = {field: row[field] for field in RUN_FIELDS}
    out["metadata"] = loads(row["metadata"])
    return out


def comment_dict(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "task_id": row["task_id"], "author": row["author"],
            "body": row["body"], "created_at": row["created_at"]}


def event_dict(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "task_id": row["task_id"], "run_id": row["run_id"],
            "kind": row["kind"], "payload": loads(row["payload"]), "created_at": row["created_at"]}
