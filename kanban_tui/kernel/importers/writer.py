"""Put a Bundle into the target board: one transaction, all or nothing (or, dry, nothing at all).

`plan` decides everything by reading the target (id collisions, which ids survive, statuses,
links that would close a cycle); `_apply` only inserts. A dry run is the plan in a read
snapshot. Only portable SQL is used here (placeholders, IN lists, max(id)), through the
kernel's `db.read`/`db.write`, so the same writer serves any store the db layer opens.

What the writer does to every import, whatever the format:
- no imported card is running: the source's workers are not ours, so an open run is closed
  `reclaimed` (error "imported", event `reclaimed{manual: false, reason: "imported"}`) and its
  card lands in ready (todo when a parent is open); claim fields are cleared.
- a ready card with an open parent lands in todo; a done card without completed_at gets its
  last update time; imported workspaces are never managed (gc never deletes them).
- run, comment and subscription ids are kept when the target has none of them, else the
  table's imported rows are renumbered after the target's highest id (run references follow).
  Events always get new ids, after the target's, in source order.
- each card gets an `imported{source, format, original_status, ...}` event; a card without a
  `created` event gets one first, so `doctor` holds.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterable

from kanban_tui.errors import Refused
from kanban_tui.kernel import db
from kanban_tui.kernel.importers.bundle import Bundle
from kanban_tui.kernel.models import SATISFIED_STATUSES, dumps

Conn = sqlite3.Connection
CHUNK = 500
SHOWN_IDS = 5
IMPORT_REASON = "imported"
# Fields a card may not carry in: its claim belonged to the source's dispatcher.
CLAIM_FIELDS = ("claim_lock", "claim_expires", "current_run_id", "worker_pid", "worker_started_at")


@dataclass
class Plan:
    tasks: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    notify_subs: list[dict] = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)
    notes: dict[str, dict] = field(default_factory=dict)
    report: dict = field(default_factory=dict)


def import_bundle(conn: Conn, bundle: Bundle, *, tenant: str | None, skip_existing: bool, dry_run: bool,
                  now: float) -> dict:
    """Write the bundle into conn's board (or only plan it, dry) and return the report."""
    def work(c: Conn) -> dict:
        made = plan(c, bundle, tenant=tenant, skip_existing=skip_existing, now=now)
        if not dry_run:
            _apply(c, made)
        return made.report

    report = db.read(conn, work) if dry_run else db.write(conn, work)
    return {**report, "dry_run": dry_run}


def plan(c: Conn, bundle: Bundle, *, tenant: str | None, skip_existing: bool, now: float) -> Plan:
    # nothing of the bundle is changed: a busy retry plans again from the bundle as it was
    out = Plan(notes=copy.deepcopy(bundle.notes))
    mapped = copy.deepcopy(bundle.mapped)
    skipped = list(bundle.skipped)
    tasks = _unique_tasks(bundle.tasks, skipped)
    existing = _present(c, "tasks", "id", [task["id"] for task in tasks])
    if existing and not skip_existing:
        shown = ", ".join(sorted(existing)[:SHOWN_IDS]) + (", …" if len(existing) > SHOWN_IDS else "")
        raise Refused(f"{len(existing)} of the imported task ids already exist on this board ({shown}); "
                      f"nothing was imported (--skip-existing imports the others)")
    skipped += [{"table": "tasks", "id": task_id, "reason": "already on this board"} for task_id in sorted(existing)]
    out.tasks = [{**task} for task in tasks if task["id"] not in existing]
    new = {task["id"] for task in out.tasks}

    for name, table in (("runs", "task_runs"), ("comments", "task_comments"), ("events", "task_events"),
                        ("notify_subs", "notify_subs")):
        setattr(out, name, _of_new_tasks(table, getattr(bundle, name), new, existing, skipped))
    out.links = _links(c, bundle.links, new, existing, skipped)
    _settle_tasks(c, out, tenant, mapped, now)
    run_ids = _number(c, "task_runs", out.runs, mapped)
    _number(c, "task_comments", out.comments, mapped)
    sub_ids = _number(c, "notify_subs", out.notify_subs, mapped)
    event_ids = _events(c, out, bundle, run_ids, mapped, now)
    out.deliveries = [{**row, "sub_id": sub_ids[row["sub_id"]], "event_id": event_ids[row["event_id"]]}
                      for row in bundle.deliveries if row["sub_id"] in sub_ids and row["event_id"] in event_ids]
    counted = len([event for event in out.events if not event.get("_added")])
    mapped["events_added"] = len(out.events) - counted
    out.report = {"source": bundle.source, "format": bundle.format,
                  "counts": {"tasks": len(out.tasks), "links": len(out.links), "comments": len(out.comments),
                             "runs": len(out.runs), "events": counted, "notify_subs": len(out.notify_subs)},
                  "mapped": mapped, "skipped": skipped}
    return out


# ---------------------------------------------------------------- what arrives

def _unique_tasks(tasks: list[dict], skipped: list[dict]) -> list[dict]:
    seen: set[str] = set()
    kept = []
    for task in tasks:
        if task["id"] in seen:
            skipped.append({"table": "tasks", "id": task["id"], "reason": "duplicate id in the source"})
            continue
        seen.add(task["id"])
        kept.append(task)
    return kept


def _of_new_tasks(table: str, rows: list[dict], new: set[str], existing: set[str],
                  skipped: list[dict]) -> list[dict]:
    """Rows of the imported cards (events may belong to none); rows of a card that did not
    arrive are listed, those of a card already on the board go with it."""
    kept = []
    for row in rows:
        task_id = row.get("task_id")
        if task_id in new or (task_id is None and table == "task_events"):
            kept.append({**row})
        elif task_id not in existing:
            skipped.append({"table": table, "id": row.get("id"), "reason": f"its task {task_id} is not in the source"})
    return kept


def _links(c: Conn, links: list[dict], new: set[str], existing: set[str], skipped: list[dict]) -> list[dict]:
    """Links touching an imported card, in source order, minus those that would close a cycle."""
    kept: list[dict] = []
    children: dict[str, set[str]] = {}
    if existing:  # a path may run through cards already on the board
        for parent, child in c.execute("SELECT parent_id, child_id FROM task_links").fetchall():
            children.setdefault(parent, set()).add(child)
    arrived = new | existing
    for link in links:
        parent, child = link["parent_id"], link["child_id"]
        if parent not in new and child not in new:
            continue
        reason = ("links a task that is not in the source" if parent not in arrived or child not in arrived
                  else "links a task to itself" if parent == child
                  else "would close a dependency cycle" if _reaches(children, child, parent)
                  else "duplicate link" if child in children.get(parent, ()) else None)
        if reason:
            skipped.append({"table": "task_links", "id": f"{parent}->{child}", "reason": reason})
            continue
        children.setdefault(parent, set()).add(child)
        kept.append({**link})
    return kept


def _reaches(children: dict[str, set[str]], start: str, goal: str) -> bool:
    stack, seen = [start], set()
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(children.get(node, ()))
    return False


def _tally(mapped: dict, what: str, change: str) -> None:
    tally = mapped.setdefault(what, {})
    tally[change] = tally.get(change, 0) + 1


def _settle_tasks(c: Conn, out: Plan, tenant: str | None, mapped: dict, now: float) -> None:
    """The cards' final state on the target (see the module docstring)."""
    open_runs = {run["task_id"] for run in out.runs if run["status"] == "running"}
    status = {task["id"]: task["status"] for task in out.tasks}
    parents: dict[str, list[str]] = {}
    for link in out.links:
        parents.setdefault(link["child_id"], []).append(link["parent_id"])
    outside = [p for ps in parents.values() for p in ps if p not in status]
    status.update(_statuses(c, outside))
    for task in out.tasks:
        if task["status"] == "running":
            task["status"] = status[task["id"]] = "ready"
            task["retry_after"] = None
            _tally(mapped, "statuses", "running->ready")
    live_keys = _present(c, "tasks", "idempotency_key",
                         [task["idempotency_key"] for task in out.tasks if task.get("idempotency_key")],
                         "status <> 'archived'")
    for task in out.tasks:
        note = out.notes.setdefault(task["id"], {})
        if task["status"] == "ready" and any(status[p] not in SATISFIED_STATUSES for p in parents.get(task["id"], ())):
            task["status"] = status[task["id"]] = "todo"
            _tally(mapped, "statuses", "ready->todo (parents open)")
        if task["status"] == "done" and task.get("completed_at") is None:
            task["completed_at"] = task["updated_at"]
        if tenant is not None and task.get("tenant") != tenant:
            note.setdefault("original_tenant", task.get("tenant"))
            task["tenant"] = tenant
        key = task.get("idempotency_key")
        if key and task["status"] != "archived":
            if key in live_keys:  # one live card per key: the first keeps it
                note.setdefault("original_idempotency_key", key)
                task["idempotency_key"] = None
                _tally(mapped, "idempotency_keys", "cleared (another live card has it)")
            live_keys.add(key)
        task.update(dict.fromkeys(CLAIM_FIELDS), workspace_managed=0)
        if task["id"] in open_runs:
            task["updated_at"] = now


def _statuses(c: Conn, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(ids))):
        marks = ",".join("?" * len(chunk))
        found.update(c.execute(f"SELECT id, status FROM tasks WHERE id IN ({marks})", chunk).fetchall())
    return found


def _number(c: Conn, table: str, rows: list[dict], mapped: dict) -> dict[Any, int]:
    """Give rows their target ids: the source's when none is taken, else all after the target's max.
    Returns source id -> target id."""
    taken = _present(c, table, "id", [row["id"] for row in rows if row.get("id") is not None])
    top = c.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
    if taken:
        mapped.setdefault("renumbered", {})[table] = len(rows)
        next_id = top
    else:
        next_id = max([top, *(row["id"] for row in rows if row.get("id") is not None)])
    ids: dict[Any, int] = {}
    for row in rows:
        old = row.get("id")
        if taken or old is None:
            next_id += 1
            row["id"] = next_id
        if old is not None:
            ids[old] = row["id"]
    return ids


def _events(c: Conn, out: Plan, bundle: Bundle, run_ids: dict[Any, int], mapped: dict, now: float) -> dict[Any, int]:
    """The event stream: added `created` events first, the source's in order, then the import's own."""
    source_events = sorted(out.events, key=lambda event: event["id"])
    has_created = {event["task_id"] for event in source_events if event["kind"] == "created"}
    parents: dict[str, list[str]] = {}
    for link in out.links:
        parents.setdefault(link["child_id"], []).append(link["parent_id"])
    added_first = [_added(task["id"], "created", task["created_at"],
                          {"status": task["status"], "assignee": task["assignee"],
                           "parents": parents.get(task["id"], []), "added_by_import": True})
                   for task in out.tasks if task["id"] not in has_created]
    renumbered = any(old != new for old, new in run_ids.items())
    for event in source_events:
        event["run_id"] = run_ids.get(event.get("run_id"))
        payload = event.get("payload")
        if renumbered and isinstance(payload, dict) and payload.get("run_id") in run_ids:
            event["payload"] = {**payload, "run_id": run_ids[payload["run_id"]]}
    closing = []
    for run in out.runs:
        if run["status"] == "running":
            run.update(status="ended", outcome="reclaimed", ended_at=now, error=IMPORT_REASON)
            closing.append(_added(run["task_id"], "reclaimed", now, {"manual": False, "reason": IMPORT_REASON},
                                  run_id=run["id"]))
    if closing:
        mapped["open_runs_closed"] = len(closing)
    stamps = []
    for task in out.tasks:
        note = dict(out.notes.get(task["id"], {}))
        blocked_reason = note.pop("blocked_reason", None)
        stamps.append(_added(task["id"], "imported", now,
                             {"source": bundle.source, "format": bundle.format, **note}))
        if blocked_reason:
            stamps.append(_added(task["id"], "blocked", now, {"reason": blocked_reason}))
    out.events = [*added_first, *source_events, *closing, *stamps]
    top = c.execute("SELECT coalesce(max(id), 0) FROM task_events").fetchone()[0]
    ids: dict[Any, int] = {}
    for number, event in enumerate(out.events, start=top + 1):
        if not event.get("_added"):
            ids[event["id"]] = number
        event["id"] = number
    return ids


def _added(task_id: str, kind: str, at: float, payload: dict, run_id: int | None = None) -> dict:
    return {"id": None, "task_id": task_id, "run_id": run_id, "kind": kind, "payload": payload,
            "created_at": at, "_added": True}


# ---------------------------------------------------------------- writing

def _apply(c: Conn, out: Plan) -> None:
    for table, rows, json_fields in (
            ("tasks", out.tasks, ("skills",)), ("task_links", out.links, ()),
            ("task_runs", out.runs, ("metadata",)), ("task_comments", out.comments, ()),
            ("task_events", out.events, ("payload",)), ("notify_subs", out.notify_subs, ()),
            ("notify_deliveries", out.deliveries, ())):
        if rows:
            _insert(c, table, rows, json_fields)


def _insert(c: Conn, table: str, rows: list[dict], json_fields: Iterable[str]) -> None:
    """INSERT the rows' columns that the target table has (a column it lacks is not ours)."""
    target = _columns(c, table)
    names = sorted({name for row in rows for name in row} & target)
    for name in json_fields:
        for row in rows:
            row[name] = json.dumps(row[name]) if name == "skills" else dumps(row[name])
    marks = ", ".join("?" * len(names))
    c.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
                  [tuple(row.get(name) for name in names) for row in rows])


def _columns(c: Conn, table: str) -> set[str]:
    cursor = c.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return {column[0] for column in cursor.description}


def _present(c: Conn, table: str, column: str, values: list, where: str = "") -> set:
    """The values that table's column already holds (queried in chunks)."""
    found: set = set()
    extra = f" AND {where}" if where else ""
    for chunk in _chunks(sorted(set(values), key=str)):
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in c.execute(
            f"SELECT {column} FROM {table} WHERE {column} IN ({marks}){extra}", chunk).fetchall())
    return found


def _chunks(values: list) -> Iterable[list]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]
