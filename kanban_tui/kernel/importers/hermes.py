"""Read a Hermes Kanban board (a copy of its kanban.db) into a Bundle.

Facts from NousResearch/hermes-agent, hermes_cli/kanban_db.py (`SCHEMA_SQL`,
`_migrate_add_optional_columns`, `Task.from_row`, `_end_run`, `recompute_ready`):
- tables `tasks`, `task_links`, `task_comments`, `task_events`, `task_runs`,
  `task_attachments`, `kanban_notify_subs`; no foreign keys, so rows may point at nothing.
- a migrated file has its later columns appended (`tenant`, `result`, `branch_name`, ...),
  so columns are read by name; files never opened since the rename still say
  `spawn_failures` / `last_spawn_error` for `consecutive_failures` / `last_failure_error`,
  and events may still carry the old kinds `ready`, `priority`, `spawn_auto_blocked`.
- times are unix seconds (INTEGER); ISO strings are accepted too.
- statuses add `scheduled` and `review` to ours; run outcomes add `review_requested`,
  `changes_requested`, `dependency_wait`, `stale`; a run's `status` says how
  it ended (`done`, `released`, ...) and is the fallback when `outcome` is NULL.
- `kanban_notify_subs.last_event_id` is the notifier's cursor: events up to it were sent.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable

from kanban_tui.kernel.importers.bundle import Bundle, TaskIds, json_object, json_value, text, timestamp
from kanban_tui.kernel.importers.source import read_rows
from kanban_tui.kernel.models import EVENT_KINDS, STATUSES, TERMINAL_EVENT_KINDS, TITLE_MAX, WORKSPACE_KINDS

STATUS_MAP = {"scheduled": "todo", "review": "blocked"}
REVIEW_REASON = "review requested"
OUR_OUTCOMES = ("completed", "blocked", "crashed", "timed_out", "spawn_failed", "gave_up", "reclaimed",
                "protocol_violation", "rate_limited")
# Hermes-only outcomes -> the closest of ours (the original stays in the run's metadata).
OUTCOME_MAP = {"review_requested": "blocked", "changes_requested": "blocked", "dependency_wait": "blocked",
               "stale": "reclaimed"}
# A closed run without an outcome: its status says how it ended.
RUN_STATUS_OUTCOME = {"done": "completed", "failed": "crashed", "released": "reclaimed"}
KIND_RENAMES = {"ready": "promoted", "priority": "reprioritized", "spawn_auto_blocked": "gave_up"}
UNTITLED = "(untitled)"

# Task columns we have a field for; every other non-empty column is kept in the imported event.
_TASK_READ = {"_rowid", "id", "title", "body", "assignee", "status", "priority", "tenant", "workspace_kind",
              "workspace_path", "created_by", "created_at", "started_at", "completed_at", "result", "skills",
              "max_runtime_seconds", "idempotency_key", "consecutive_failures", "spawn_failures",
              "last_failure_error", "last_spawn_error", "last_heartbeat_at",
              # live claim state: no imported card is running, so these are dropped on purpose
              "claim_lock", "claim_expires", "current_run_id", "worker_pid"}
_RUN_READ = {"_rowid", "id", "task_id", "profile", "status", "outcome", "summary", "metadata", "error",
             "worker_pid", "claim_lock", "claim_expires", "started_at", "ended_at", "last_heartbeat_at"}
_SUB_READ = {"_rowid", "task_id", "platform", "chat_id", "thread_id", "user_id", "created_at", "last_event_id",
             "last_ping_event_id"}


def read(conn: sqlite3.Connection, source: str, present: set[str], *, salvage: bool, now: float) -> Bundle:
    bundle = Bundle(source=source, format="hermes")
    skipped = bundle.skipped if salvage else None

    def rows(table: str) -> list[dict]:
        return read_rows(conn, table, skipped) if table in present else []

    tasks = rows("tasks")
    ids = TaskIds([text(row["id"]) for row in tasks if row.get("id") is not None])
    if ids.changed:
        bundle.mapped["task_ids"] = dict(ids.changed)
    for row in tasks:
        _task(bundle, ids, row, now)
    created = {task["id"]: task["created_at"] for task in bundle.tasks}

    def when(value: Any, task_id: str | None) -> float:
        """A row's time; a missing or unreadable one falls back to its card's creation."""
        moment = timestamp(value)
        return moment if moment is not None else created.get(task_id, 0.0)

    _links(bundle, ids, when, rows("task_links"))
    _comments(bundle, ids, when, rows("task_comments"))
    _attachments(bundle, ids, when, rows("task_attachments"))
    _runs(bundle, ids, when, rows("task_runs"))
    _events(bundle, ids, when, rows("task_events"))
    _notify_subs(bundle, ids, when, rows("kanban_notify_subs"))
    return bundle


def _task(bundle: Bundle, ids: TaskIds, row: dict, now: float) -> None:
    task_id = ids.get(text(row.get("id")))
    if task_id is None:
        bundle.skipped.append({"table": "tasks", "id": row["_rowid"], "reason": "no id"})
        return
    note: dict[str, Any] = {}
    if task_id != row["id"]:
        note["original_id"] = row["id"]
    original = text(row.get("status")) or ""
    note["original_status"] = original
    status = STATUS_MAP.get(original, original if original in STATUSES else "triage")
    if status != original:
        bundle.count("statuses", f"{original or '(none)'}->{status}")
    if original == "review":
        note["blocked_reason"] = REVIEW_REASON

    raw_title = text(row.get("title")) or ""
    title = " ".join(raw_title.split()) or UNTITLED  # ours are one line, 1-500 characters
    if len(title) > TITLE_MAX:
        title = title[:TITLE_MAX - 1] + "…"
    if title != raw_title:
        note["original_title"] = raw_title
    kind = text(row.get("workspace_kind")) or "scratch"
    if kind not in WORKSPACE_KINDS:
        note["original_workspace_kind"] = kind
        kind = "scratch"
    skills = json_value(row.get("skills"))
    if skills is not None and not isinstance(skills, list):
        note["original_skills"] = row["skills"]
    times = {name: timestamp(row.get(name)) for name in ("created_at", "started_at", "completed_at",
                                                          "last_heartbeat_at")}
    created = times["created_at"] if times["created_at"] is not None else min(
        [t for t in times.values() if t is not None] or [now])
    failures = row.get("consecutive_failures", row.get("spawn_failures"))
    bundle.tasks.append({
        "id": task_id, "title": title, "body": text(row.get("body")) or "",
        "assignee": (text(row.get("assignee")) or "").strip().lower() or None,
        "status": status, "priority": _int(row.get("priority"), 0), "tenant": text(row.get("tenant")),
        "workspace_kind": kind, "workspace_path": text(row.get("workspace_path")),
        "created_by": text(row.get("created_by")), "created_at": created,
        "updated_at": max([created, *(t for t in times.values() if t is not None)]),
        "started_at": times["started_at"], "completed_at": times["completed_at"],
        "result": text(row.get("result")),
        "skills": [str(s) for s in skills if s] if isinstance(skills, list) else [],
        "max_runtime_seconds": _positive(row.get("max_runtime_seconds")),
        "idempotency_key": text(row.get("idempotency_key")) or None,
        "consecutive_failures": max(0, _int(failures, 0)),
        "last_failure_error": text(row.get("last_failure_error", row.get("last_spawn_error"))),
        "last_heartbeat_at": times["last_heartbeat_at"],
    })
    extra = {name: value for name, value in row.items()
             if name not in _TASK_READ and value not in (None, "", 0)}
    if extra:
        note["hermes_fields"] = {name: text(value) if isinstance(value, bytes) else value
                                 for name, value in extra.items()}
    bundle.notes[task_id] = note


def _links(bundle: Bundle, ids: TaskIds, when: Callable, rows: list[dict]) -> None:
    for row in rows:
        parent, child = ids.get(text(row.get("parent_id"))), ids.get(text(row.get("child_id")))
        bundle.links.append({"parent_id": parent, "child_id": child, "created_at": when(row.get("created_at"), child)})


def _comments(bundle: Bundle, ids: TaskIds, when: Callable, rows: list[dict]) -> None:
    for row in rows:
        body = text(row.get("body")) or ""
        if not body.strip():
            bundle.skipped.append({"table": "task_comments", "id": row.get("id"), "reason": "empty body"})
            continue
        task_id = ids.get(text(row.get("task_id")))
        bundle.comments.append({"id": _int(row.get("id"), None), "task_id": task_id,
                                "author": (text(row.get("author")) or "").strip() or "unknown", "body": body,
                                "created_at": when(row.get("created_at"), task_id)})


def _attachments(bundle: Bundle, ids: TaskIds, when: Callable, rows: list[dict]) -> None:
    """We have no attachments table: each becomes a comment naming the file and where it is stored."""
    for row in rows:
        task_id = ids.get(text(row.get("task_id")))
        details = ", ".join(part for part in (f"{_int(row.get('size'), 0)} bytes", text(row.get("content_type")))
                            if part)
        bundle.comments.append({
            "id": None, "task_id": task_id,
            "author": text(row.get("uploaded_by")) or "hermes",
            "body": f"Attachment: {text(row.get('filename'))} ({details})\nstored at {text(row.get('stored_path'))}",
            "created_at": when(row.get("created_at"), task_id)})
        bundle.mapped["attachments_as_comments"] = bundle.mapped.get("attachments_as_comments", 0) + 1


def _runs(bundle: Bundle, ids: TaskIds, when: Callable, rows: list[dict]) -> None:
    for row in rows:
        task_id = ids.get(text(row.get("task_id")))
        run_id = _int(row.get("id"), None)
        if run_id is None:
            bundle.skipped.append({"table": "task_runs", "id": row["_rowid"], "reason": "no id"})
            continue
        status = text(row.get("status")) or ""
        started = when(row.get("started_at"), task_id)
        ended = timestamp(row.get("ended_at"))
        heartbeat = timestamp(row.get("last_heartbeat_at"))
        metadata = json_object(row.get("metadata"))
        extra = {name: value for name, value in row.items() if name not in _RUN_READ and value not in (None, "")}
        if ended is None and status == "running":
            outcome = None
        else:
            ended = ended if ended is not None else heartbeat or started
            original = text(row.get("outcome")) or RUN_STATUS_OUTCOME.get(status, status)
            outcome = original if original in OUR_OUTCOMES else OUTCOME_MAP.get(original, "reclaimed")
            if outcome != original:
                bundle.count("outcomes", f"{original or '(none)'}->{outcome}")
                extra["outcome"] = original
        if extra:
            metadata = {**(metadata or {}), "hermes": extra}
        bundle.runs.append({
            "id": run_id, "task_id": task_id, "profile": text(row.get("profile")),
            "status": "running" if outcome is None else "ended", "outcome": outcome,
            "summary": text(row.get("summary")), "metadata": metadata, "error": text(row.get("error")),
            "worker_pid": _int(row.get("worker_pid"), None), "claim_lock": text(row.get("claim_lock")),
            "claim_expires": timestamp(row.get("claim_expires")), "started_at": started, "ended_at": ended,
            "last_heartbeat_at": heartbeat})


def _events(bundle: Bundle, ids: TaskIds, when: Callable, rows: list[dict]) -> None:
    for row in rows:
        task_id = ids.get(text(row.get("task_id")))
        original = text(row.get("kind")) or ""
        kind = KIND_RENAMES.get(original, original)
        payload = json_value(row.get("payload"))
        if kind not in EVENT_KINDS:
            payload, kind = {"original_kind": original, "payload": payload}, "imported"
        if kind != original:
            bundle.count("event_kinds", f"{original}->{kind}")
        bundle.events.append({"id": _int(row.get("id"), row["_rowid"]), "task_id": task_id,
                              "run_id": _int(row.get("run_id"), None), "kind": kind, "payload": payload,
                              "created_at": when(row.get("created_at"), task_id)})


def _notify_subs(bundle: Bundle, ids: TaskIds, when: Callable, rows: list[dict]) -> None:
    terminal = {}
    for event in bundle.events:
        if event["kind"] in TERMINAL_EVENT_KINDS:
            terminal.setdefault(event["task_id"], []).append(event)
    for row in rows:
        task_id = ids.get(text(row.get("task_id")))
        platform, chat = text(row.get("platform")) or "", text(row.get("chat_id")) or ""
        if not (platform and chat):
            bundle.skipped.append({"table": "kanban_notify_subs", "id": row["_rowid"], "reason": "no platform or chat"})
            continue
        bundle.notify_subs.append({"id": row["_rowid"], "task_id": task_id, "platform": platform, "chat_id": chat,
                                   "thread_id": text(row.get("thread_id")) or "",
                                   "user_id": text(row.get("user_id")),
                                   "created_at": when(row.get("created_at"), task_id)})
        extra = {name: value for name, value in row.items() if name not in _SUB_READ and value not in (None, "")}
        if extra and task_id in bundle.notes:
            bundle.notes[task_id].setdefault("notify_subs", []).append(
                {"platform": platform, "chat_id": chat, **extra})
        # what Hermes's notifier already sent stays sent
        cursor = _int(row.get("last_event_id"), 0)
        bundle.deliveries.extend({"sub_id": row["_rowid"], "event_id": event["id"],
                                  "delivered_at": event["created_at"], "ok": 1}
                                 for event in terminal.get(task_id, ()) if event["id"] <= cursor)


def _int(value: Any, default: int | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _positive(value: Any) -> int | None:
    number = _int(value, None)
    return number if number is not None and number > 0 else None
