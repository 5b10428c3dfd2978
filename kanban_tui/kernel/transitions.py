"""Every state change of the board: one function, one BEGIN IMMEDIATE transaction.

Each verb reads what it needs, applies a guarded UPDATE (compare-and-swap on the expected
status), writes its run row and appends its event(s), all inside `db.write`. A refusal raises
before anything is written, so the transaction rolls back and the board is unchanged.
Who calls is a `Caller` (kernel/caller.py), passed in by the door. No verb signals a process:
a verb that ends a run under a live worker marks the run for stopping, and a dispatcher (or
the CLI/TUI of the worker's host, see kernel/stopping.py) stops it after the commit.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from typing import Iterable

from kanban_tui import validate
from kanban_tui.errors import NotFound, Refused, UsageError
from kanban_tui.kernel import db, pg_claim
from kanban_tui.kernel.caller import OPERATOR, Caller, Proven, prove
from kanban_tui.kernel.models import (
    DEFAULT_CLAIM_TTL, DEFAULT_FAILURE_LIMIT, FAILURE_OUTCOMES, SATISFIED_STATUSES, TASK_ID_RE,
    clean_title, dumps, local_host_id, new_task_id, normalize_profile, parse_duration, parse_metadata,
    parse_workspace,
)

Conn = sqlite3.Connection

RETRY_FIRST_SECONDS = 2.0


def _clock(now: float | None) -> float:
    return time.time() if now is None else now


# ---------------------------------------------------------------- small helpers used inside a tx

def _row(c: Conn, task_id: str) -> sqlite3.Row:
    row = c.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"no task {task_id}")
    return row


def _event(c: Conn, task_id: str | None, kind: str, payload: dict | None, now: float,
           run_id: int | None = None) -> int:
    cur = c.execute(
        "INSERT INTO task_events (task_id, run_id, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        (task_id, run_id, kind, dumps(payload), now))
    return cur.lastrowid


def _open_parents(c: Conn, task_id: str) -> list[str]:
    rows = c.execute(
        "SELECT p.id FROM task_links l JOIN tasks p ON p.id = l.parent_id "
        "WHERE l.child_id = ? AND p.status NOT IN ('done', 'archived') ORDER BY p.id",
        (task_id,)).fetchall()
    return [r[0] for r in rows]


def _guarded_update(c: Conn, task_id: str, expected: Iterable[str], sets: str, params: tuple,
                    verb: str) -> sqlite3.Row:
    """UPDATE ... WHERE id=? AND status IN (expected) RETURNING *; refuse when nothing matched."""
    expected = tuple(expected)
    marks = ",".join("?" * len(expected))
    row = c.execute(
        f"UPDATE tasks SET {sets} WHERE id = ? AND status IN ({marks}) RETURNING *",
        (*params, task_id, *expected)).fetchone()
    if row is None:
        current = _row(c, task_id)["status"]
        raise Refused(f"cannot {verb} {task_id}: it is {current} (needs {' or '.join(expected)})")
    return row


def _close_run(c: Conn, run_id: int, outcome: str, now: float, *, summary: str | None = None,
               metadata: dict | None = None, error: str | None = None) -> None:
    c.execute(
        "UPDATE task_runs SET status = 'ended', outcome = ?, ended_at = ?, "
        "summary = coalesce(?, summary), metadata = coalesce(?, metadata), error = coalesce(?, error) "
        "WHERE id = ? AND status = 'running'",
        (outcome, now, summary, dumps(metadata), error, run_id))


def _promote_children(c: Conn, parent_id: str, now: float) -> list[str]:
    """Move todo children whose parents are now all satisfied to ready."""
    rows = c.execute(
        "SELECT l.child_id FROM task_links l JOIN tasks ch ON ch.id = l.child_id "
        "WHERE l.parent_id = ? AND ch.status = 'todo'", (parent_id,)).fetchall()
    promoted = []
    for (child_id,) in rows:
        if not _open_parents(c, child_id):
            c.execute("UPDATE tasks SET status = 'ready', updated_at = ? WHERE id = ? AND status = 'todo'",
                      (now, child_id))
            _event(c, child_id, "promoted", {"from": "todo", "trigger": parent_id}, now)
            promoted.append(child_id)
    return promoted


def _release_claim_sql() -> str:
    return ("claim_lock = NULL, claim_expires = NULL, current_run_id = NULL, worker_pid = NULL, "
            "worker_started_at = NULL")


def _lifecycle(c: Conn, caller: Caller, task: sqlite3.Row, verb: str) -> Proven:
    """A worker may change only its own task's lifecycle, and only through the task's open run."""
    caller.check_scope(task["id"])
    proven = prove(c, caller)
    if caller.is_worker and task["current_run_id"] != proven.run_id:
        raise Refused(f"cannot {verb} {task['id']}: run {proven.run_id} is not its open run "
                      f"(the task is {task['status']}; the claim may have been reclaimed)")
    return proven


def _signer(c: Conn, caller: Caller, explicit: str | None = None) -> str:
    """Who signs a comment: a worker's run profile (proven), else the operator's name."""
    if caller.is_worker:
        return prove(c, caller).profile or OPERATOR.name
    return (explicit or "").strip() or caller.name


def _mark_stop(c: Conn, caller: Caller, task_id: str, run_id: int | None, now: float) -> None:
    """Ask for the worker of a run that was just ended to be stopped; never the caller's own."""
    if run_id is None or caller.task_id == task_id:
        return
    c.execute("UPDATE task_runs SET stop_requested_at = ? "
              "WHERE id = ? AND worker_pid IS NOT NULL AND stop_requested_at IS NULL", (now, run_id))


def _would_cycle(c: Conn, parent_id: str, child_id: str) -> bool:
    """True when child_id is already an ancestor of parent_id (or the same task)."""
    if parent_id == child_id:
        return True
    row = c.execute(
        "WITH RECURSIVE ancestors(id) AS ("
        "  SELECT parent_id FROM task_links WHERE child_id = ?"
        "  UNION SELECT l.parent_id FROM task_links l JOIN ancestors a ON l.child_id = a.id)"
        "SELECT 1 FROM ancestors WHERE id = ? LIMIT 1", (parent_id, child_id)).fetchone()
    return row is not None


# ---------------------------------------------------------------- create, edit, links

def create(conn: Conn, title: str, *, body: str = "", assignee: str | None = None,
           parents: Iterable[str] = (), tenant: str | None = None, priority: int = 0,
           triage: bool = False, workspace: str | None = None,
           idempotency_key: str | None = None, max_runtime: str | int | None = None,
           created_by: str | None = None, skills: Iterable[str] = (), caller: Caller = OPERATOR,
           now: float | None = None) -> dict:
    """Create a task; returns {task_id, status, assignee, created}. Idempotent per key.

    A worker's cards are created by its run's profile, whatever `created_by` says."""
    now = _clock(now)
    title = clean_title(title)
    assignee = normalize_profile(assignee)
    kind, path = parse_workspace(workspace)
    runtime = parse_duration(max_runtime)
    skill_list = list(dict.fromkeys(validate.name(s, "skill") for s in skills if s and s.strip()))
    parent_ids = list(dict.fromkeys(parents))
    priority = validate.integer(priority, "priority")
    body = validate.text(body or "", "body")
    tenant = validate.optional_name(tenant, "tenant")
    created_by = validate.optional_name(created_by, "creator")
    key = validate.name(idempotency_key, "idempotency key") if idempotency_key else None

    def tx(c: Conn) -> dict:
        creator = prove(c, caller).profile if caller.is_worker else created_by
        if key is not None:
            existing = c.execute(
                "SELECT id, status, assignee FROM tasks WHERE idempotency_key = ? AND status <> 'archived'",
                (key,)).fetchone()
            if existing:
                return {"task_id": existing["id"], "status": existing["status"],
                        "assignee": existing["assignee"], "created": False}
        parent_rows = [_row(c, p) for p in parent_ids]
        task_tenant = tenant if tenant is not None else (parent_rows[0]["tenant"] if parent_rows else None)
        if triage:
            status = "triage"
        elif any(p["status"] not in SATISFIED_STATUSES for p in parent_rows):
            status = "todo"
        else:
            status = "ready"
        task_id = _insert_task(c, title=title, body=body or "", assignee=assignee, status=status,
                               priority=priority, tenant=task_tenant, kind=kind, path=path,
                               created_by=creator, runtime=runtime, key=key,
                               skills=skill_list, now=now)
        c.executemany("INSERT INTO task_links (parent_id, child_id, created_at) VALUES (?, ?, ?)",
                      [(p, task_id, now) for p in parent_ids])
        _event(c, task_id, "created", {"status": status, "assignee": assignee, "parents": parent_ids}, now)
        return {"task_id": task_id, "status": status, "assignee": assignee, "created": True}

    return db.write(conn, tx)


def _insert_task(c: Conn, *, title, body, assignee, status, priority, tenant, kind, path,
                 created_by, runtime, key, skills, now) -> str:
    for _ in range(16):
        task_id = new_task_id()
        inserted = c.execute(
            "INSERT INTO tasks (id, title, body, assignee, status, priority, tenant, workspace_kind, "
            "workspace_path, created_by, created_at, updated_at, skills, max_runtime_seconds, "
            "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (task_id, title, body, assignee, status, priority, tenant, kind, path, created_by,
             now, now, json.dumps(skills), runtime, key)).rowcount
        if inserted:
            return task_id
    raise Refused("could not allocate a unique task id")


def edit(conn: Conn, task_id: str, *, title: str | None = None, body: str | None = None,
         priority: int | None = None, priority_delta: int | None = None, caller: Caller = OPERATOR,
         now: float | None = None) -> dict:
    """Change title, body or priority; `priority_delta` moves the priority relative to its value
    inside the transaction (the board's p/P), so concurrent bumps are not lost."""
    now = _clock(now)
    new_title = clean_title(title) if title is not None else None
    if title is None and body is None and priority is None and priority_delta is None:
        raise UsageError("nothing to edit: give --title, --body or --priority")
    body = validate.optional_text(body, "body")
    priority = None if priority is None else validate.integer(priority, "priority")

    caller.check_scope(task_id)

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        new_priority = (validate.integer(task["priority"] + priority_delta, "priority")
                        if priority_delta is not None else priority)
        changed = []
        if new_title is not None and new_title != task["title"]:
            changed.append("title")
        if body is not None and body != task["body"]:
            changed.append("body")
        c.execute("UPDATE tasks SET title = coalesce(?, title), body = coalesce(?, body), "
                  "priority = coalesce(?, priority), updated_at = ? WHERE id = ?",
                  (new_title, body, new_priority, now, task_id))
        if changed:
            _event(c, task_id, "edited", {"fields": changed}, now)
        if new_priority is not None and new_priority != task["priority"]:
            _event(c, task_id, "reprioritized", {"priority": new_priority, "previous": task["priority"]}, now)
            changed.append("priority")
        return {"task_id": task_id, "changed": changed}

    return db.write(conn, tx)


def link(conn: Conn, parent_id: str, child_id: str, *, now: float | None = None) -> dict:
    now = _clock(now)

    def tx(c: Conn) -> dict:
        parent, child = _row(c, parent_id), _row(c, child_id)
        if parent_id == child_id:
            raise Refused(f"cannot link {parent_id} to itself")
        if c.execute("SELECT 1 FROM task_links WHERE parent_id = ? AND child_id = ?",
                     (parent_id, child_id)).fetchone():
            raise Refused(f"{parent_id} is already a parent of {child_id}")
        if _would_cycle(c, parent_id, child_id):
            raise Refused(f"cannot link {parent_id} -> {child_id}: {child_id} is already an ancestor "
                          f"of {parent_id} (that would make a cycle)")
        c.execute("INSERT INTO task_links (parent_id, child_id, created_at) VALUES (?, ?, ?)",
                  (parent_id, child_id, now))
        status = child["status"]
        if status == "ready" and parent["status"] not in SATISFIED_STATUSES:
            c.execute("UPDATE tasks SET status = 'todo', updated_at = ? WHERE id = ?", (now, child_id))
            status = "todo"
        _event(c, child_id, "linked", {"parent": parent_id, "child": child_id}, now)
        return {"parent": parent_id, "child": child_id, "child_status": status}

    return db.write(conn, tx)


def unlink(conn: Conn, parent_id: str, child_id: str, *, now: float | None = None) -> dict:
    now = _clock(now)

    def tx(c: Conn) -> dict:
        _row(c, parent_id)
        child = _row(c, child_id)
        gone = c.execute("DELETE FROM task_links WHERE parent_id = ? AND child_id = ?",
                         (parent_id, child_id)).rowcount
        if not gone:
            raise Refused(f"{parent_id} is not a parent of {child_id}")
        _event(c, child_id, "unlinked", {"parent": parent_id, "child": child_id}, now)
        status = child["status"]
        if status == "todo" and not _open_parents(c, child_id):
            c.execute("UPDATE tasks SET status = 'ready', updated_at = ? WHERE id = ?", (now, child_id))
            _event(c, child_id, "promoted", {"from": "todo", "trigger": "unlink"}, now)
            status = "ready"
        return {"parent": parent_id, "child": child_id, "child_status": status}

    return db.write(conn, tx)


def promotable(conn: Conn) -> list[str]:
    """Todo tasks that have parents, all of them done or archived (what recompute_ready promotes)."""
    return [row[0] for row in conn.execute(
        "SELECT t.id FROM tasks t WHERE t.status = 'todo' "
        "AND EXISTS (SELECT 1 FROM task_links l WHERE l.child_id = t.id) "
        "AND NOT EXISTS (SELECT 1 FROM task_links l JOIN tasks p ON p.id = l.parent_id "
        "                WHERE l.child_id = t.id AND p.status NOT IN ('done', 'archived'))")]


def recompute_ready(conn: Conn, *, now: float | None = None) -> list[str]:
    """Promote every todo task that has parents, all of them done or archived."""
    now = _clock(now)

    def tx(c: Conn) -> list[str]:
        task_ids = promotable(c)
        for task_id in task_ids:
            c.execute("UPDATE tasks SET status = 'ready', updated_at = ? WHERE id = ?", (now, task_id))
            _event(c, task_id, "promoted", {"from": "todo", "trigger": "recompute"}, now)
        return task_ids

    return db.write(conn, tx)


def move(conn: Conn, task_id: str, to_status: str, *, caller: Caller = OPERATOR, now: float | None = None) -> dict:
    """Operator moves among triage, todo and ready (the board's H/L keys)."""
    now = _clock(now)
    allowed = ("triage", "todo", "ready")
    if to_status not in allowed:
        raise UsageError(f"move only goes to {', '.join(allowed)}; use claim, complete or block")
    caller.check_scope(task_id)

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        if task["status"] not in allowed:
            raise Refused(f"cannot move {task_id}: it is {task['status']}")
        if task["status"] == to_status:
            raise Refused(f"{task_id} is already {to_status}")
        if to_status == "ready":
            open_parents = _open_parents(c, task_id)
            if open_parents:
                raise Refused(f"cannot move {task_id} to ready: waiting on open parents "
                              f"{', '.join(open_parents)}")
        _guarded_update(c, task_id, (task["status"],), "status = ?, updated_at = ?", (to_status, now), "move")
        if to_status == "ready":
            _event(c, task_id, "promoted", {"from": task["status"], "trigger": "operator"}, now)
        else:
            _event(c, task_id, "edited", {"fields": ["status"], "from": task["status"], "to": to_status}, now)
        return {"task_id": task_id, "status": to_status}

    return db.write(conn, tx)


# ---------------------------------------------------------------- claim and the run lifecycle

def claim(conn: Conn, task_id: str, *, ttl: float = DEFAULT_CLAIM_TTL, max_workers: int | None = None,
          profile_max_workers: int | None = None, lock: str | None = None, claimer: str | None = None,
          role: str = "worker", host: str | None = None, fenced: bool = False, caller: Caller = OPERATOR,
          now: float | None = None) -> dict:
    """ready -> running: open a run with a lease on `host` (default this host's id). The caps
    count that host's open runs, inside the transaction.

    The run's claim lock is a fresh secret (returned here, handed only to the worker); `claimer`
    names the dispatcher that claimed it and `role` is the profile's role at claim time.
    `fenced`: the claimer must hold the live host lease of `host` (on the database clock), so a
    dispatcher whose host was declared lost claims nothing until it registers again.
    """
    now = _clock(now)
    caller.check_scope(task_id)
    lock = lock or os.urandom(16).hex()
    host = host or local_host_id()
    fence = claimer if fenced else None
    expires = now + validate.number(ttl, "ttl", minimum=1e-3, maximum=validate.DURATION_MAX)

    def tx(c: Conn) -> dict:
        if db.is_postgres(c):  # one statement, not five round trips; None: the reads below say why
            claimed = pg_claim.claim(c, task_id, lock=lock, expires=expires, now=now, max_workers=max_workers,
                                     profile_max_workers=profile_max_workers, claimer=claimer, role=role,
                                     host=host, fence=fence)
            if claimed is not None:
                return claimed
        # Counting stops at the cap (LIMIT), so a claim costs O(cap), not O(running tasks).
        live, profile_live, open_parent, assignee, status = c.execute(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM task_runs WHERE status = 'running' AND host_id = ? "
            "  LIMIT ?) AS live), "
            "(SELECT count(*) FROM (SELECT 1 FROM task_runs WHERE status = 'running' AND host_id = ? "
            "  AND profile = t.assignee LIMIT ?) AS mine), "
            "(SELECT l.parent_id FROM task_links l JOIN tasks p ON p.id = l.parent_id "
            "  WHERE l.child_id = t.id AND p.status NOT IN ('done', 'archived') LIMIT 1), t.assignee, t.status "
            "FROM tasks t WHERE t.id = ?",
            (host, max_workers or 0, host, profile_max_workers or 0, task_id)).fetchone() or (None,) * 5
        if live is None:
            raise NotFound(f"no task {task_id}")
        if fence is not None and not _holds_host_lease(c, host, fence):
            raise Refused(f"cannot claim {task_id}: host {host}'s lease is not held by {fence} (lost or expired)")
        if status != "ready":
            raise Refused(f"cannot claim {task_id}: it is {status} (needs ready)")
        if max_workers is not None and live >= max_workers:
            raise Refused(f"cannot claim {task_id}: board cap reached ({live}/{max_workers} workers running)")
        if profile_max_workers is not None and profile_live >= profile_max_workers:
            raise Refused(f"cannot claim {task_id}: profile {assignee} is at its cap "
                          f"({profile_live}/{profile_max_workers} running)")
        if open_parent is not None:
            raise Refused(f"cannot claim {task_id}: waiting on open parents {', '.join(_open_parents(c, task_id))}")
        run_id = c.execute(
            "INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, started_at, claimer, "
            "role, host_id) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
            (task_id, assignee, lock, expires, now, claimer, role, host)).lastrowid
        updated = c.execute(
            "UPDATE tasks SET status = 'running', claim_lock = ?, claim_expires = ?, current_run_id = ?, "
            "started_at = coalesce(started_at, ?), retry_after = NULL, updated_at = ? "
            "WHERE id = ? AND status = 'ready' AND claim_lock IS NULL",
            (lock, expires, run_id, now, now, task_id)).rowcount
        if not updated:
            raise Refused(f"cannot claim {task_id}: it is {_row(c, task_id)['status']} (needs ready)")
        # the lock stays out of the event (a deviation from the pinned payload): it is the run's secret
        _event(c, task_id, "claimed", {"run_id": run_id, "expires": expires}, now, run_id)
        return {"task_id": task_id, "run_id": run_id, "claim_lock": lock, "claim_expires": expires,
                "assignee": assignee}

    return db.write(conn, tx)


def _holds_host_lease(c: Conn, host: str, holder: str) -> bool:
    return c.execute("SELECT 1 FROM dispatchers WHERE host_id = ? AND holder = ? AND lease_expires > ? "
                     "AND stopped_at IS NULL", (host, holder, db.clock(c))).fetchone() is not None


def record_spawn(conn: Conn, task_id: str, run_id: int, *, pid: int, started_at: float | None,
                 workspace: str, managed: bool = False, now: float | None = None) -> None:
    """The dispatcher started the worker for this run: stamp its pid and fingerprint."""
    now = _clock(now)

    def tx(c: Conn) -> None:
        updated = c.execute(
            # a worktree task keeps its repo path (the next attempt resolves the worktree from it)
            "UPDATE tasks SET worker_pid = ?, worker_started_at = ?, "
            "workspace_path = CASE workspace_kind WHEN 'worktree' THEN workspace_path ELSE ? END, "
            "workspace_managed = ?, updated_at = ? WHERE id = ? AND current_run_id = ? AND status = 'running'",
            (pid, started_at, workspace, int(managed), now, task_id, run_id)).rowcount
        if not updated:
            raise Refused(f"run {run_id} of {task_id} is no longer open")
        c.execute("UPDATE task_runs SET worker_pid = ?, worker_started_at = ?, workspace = ? WHERE id = ?",
                  (pid, started_at, workspace, run_id))
        _event(c, task_id, "spawned", {"pid": pid, "workspace": workspace}, now, run_id)

    db.write(conn, tx)


def heartbeat(conn: Conn, task_id: str, *, note: str | None = None, caller: Caller = OPERATOR,
              ttl: float = DEFAULT_CLAIM_TTL, now: float | None = None) -> dict:
    now = _clock(now)
    note = validate.optional_text(note, "note")

    def tx(c: Conn) -> dict:
        _lifecycle(c, caller, _row(c, task_id), "heartbeat")
        row = _guarded_update(c, task_id, ("running",),
                              "claim_expires = CASE WHEN claim_expires > ? THEN claim_expires ELSE ? END, "
                              "last_heartbeat_at = ?, updated_at = ?",
                              (now + ttl, now + ttl, now, now), "heartbeat")
        c.execute("UPDATE task_runs SET last_heartbeat_at = ?, claim_expires = ? WHERE id = ?",
                  (now, row["claim_expires"], row["current_run_id"]))
        _event(c, task_id, "heartbeat", {"note": note}, now, row["current_run_id"])
        return {"task_id": task_id, "run_id": row["current_run_id"], "claim_expires": row["claim_expires"]}

    return db.write(conn, tx)


def extend_lease(conn: Conn, task_id: str, run_id: int, *, ttl: float = DEFAULT_CLAIM_TTL,
                 now: float | None = None) -> bool:
    """Dispatcher: push a live worker's lease forward (no event: nothing happened on the board)."""
    now = _clock(now)

    def tx(c: Conn) -> bool:
        return c.execute("UPDATE tasks SET claim_expires = ? WHERE id = ? AND current_run_id = ? "
                         "AND status = 'running'", (now + ttl, task_id, run_id)).rowcount == 1

    return db.write(conn, tx)


def _phantom_cards(c: Conn, cards: list[str], profile: str | None) -> tuple[list[str], list[str]]:
    """Split created_cards into (phantom, verified): verified exist and were made by this profile."""
    phantom, verified = [], []
    for card in cards:
        row = c.execute("SELECT created_by FROM tasks WHERE id = ?", (card,)).fetchone()
        ok = row is not None and (profile is None or normalize_profile(row[0]) == profile)
        (verified if ok else phantom).append(card)
    return phantom, verified


def _phantom_refs(c: Conn, *texts: str | None) -> list[str]:
    refs = dict.fromkeys(ref for text in texts if text for ref in TASK_ID_RE.findall(text))
    return [r for r in refs if c.execute("SELECT 1 FROM tasks WHERE id = ?", (r,)).fetchone() is None]


class _HallucinationRefusal:
    """Returned (not raised) from the transaction so the warning event still commits."""

    def __init__(self, phantom: list[str], verified: list[str]):
        self.phantom, self.verified = phantom, verified


def complete(conn: Conn, task_id: str, *, summary: str | None = None, result: str | None = None,
             metadata: dict | str | None = None, created_cards: Iterable[str] = (),
             caller: Caller = OPERATOR, now: float | None = None) -> dict:
    """running/ready/blocked -> done. Closes the open run (or records a zero-length one).

    Anyone but the run's own worker completing a running card marks its worker for stopping.
    """
    now = _clock(now)
    meta = parse_metadata(metadata)
    summary = validate.optional_text(summary, "summary")
    result = validate.optional_text(result, "result")
    cards = list(dict.fromkeys(validate.task_id(card, "created card") for card in created_cards or ()))

    def tx(c: Conn) -> dict | _HallucinationRefusal:
        task = _row(c, task_id)
        proven = _lifecycle(c, caller, task, "complete")
        if cards:
            phantom, verified = _phantom_cards(c, cards, proven.profile if caller.is_worker else None)
            if phantom:
                _event(c, task_id, "completion_blocked_hallucination",
                       {"phantom_cards": phantom, "verified_cards": verified}, now, task["current_run_id"])
                return _HallucinationRefusal(phantom, verified)
        run = task["current_run_id"]
        row = _guarded_update(
            c, task_id, ("running", "ready", "blocked"),
            f"status = 'done', {_release_claim_sql()}, completed_at = ?, result = coalesce(?, result), "
            "consecutive_failures = 0, last_failure_error = NULL, retry_after = NULL, updated_at = ?",
            (now, result, now), "complete")
        if run is not None:
            _close_run(c, run, "completed", now, summary=summary, metadata=meta)
            _mark_stop(c, caller, task_id, run, now)
        elif summary is not None or meta is not None:
            run = c.execute(
                "INSERT INTO task_runs (task_id, profile, status, outcome, summary, metadata, started_at, "
                "ended_at) VALUES (?, ?, 'ended', 'completed', ?, ?, ?, ?)",
                (task_id, row["assignee"], summary, dumps(meta), now, now)).lastrowid
        _event(c, task_id, "completed", {"summary": summary}, now, run)
        phantom_refs = _phantom_refs(c, summary, result)
        if phantom_refs:
            _event(c, task_id, "suspected_hallucinated_references", {"phantom_refs": phantom_refs}, now, run)
        promoted = _promote_children(c, task_id, now)
        return {"task_id": task_id, "run_id": run, "promoted": promoted}

    outcome = db.write(conn, tx)
    if isinstance(outcome, _HallucinationRefusal):
        # The warning event was committed; the task itself is untouched.
        verified = f" ({', '.join(outcome.verified)})" if outcome.verified else ""
        raise Refused(
            f"completion refused: created_cards {', '.join(outcome.phantom)} do not exist or were not "
            f"created by this worker; task {task_id} is unchanged and still in flight. Retry kanban_complete "
            f"listing only cards you created{verified}, or without created_cards.")
    return outcome


def block(conn: Conn, task_id: str, *, reason: str | None = None, comment: bool = False,
          caller: Caller = OPERATOR, now: float | None = None) -> dict:
    """running/ready (or a held todo/triage card) -> blocked; a worker must give a reason.

    `comment` also adds the reason as a `BLOCKED:` comment signed by the caller. Anyone but the
    run's own worker blocking a running card marks its worker for stopping.
    """
    now = _clock(now)
    reason = validate.text(reason or "", "reason").strip() or None
    if caller.is_worker and not reason:
        raise UsageError("block needs a reason: say what a human must answer or do")

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        _lifecycle(c, caller, task, "block")
        # signed before the run closes: a worker without a run id is known by its open run
        signer = _signer(c, caller) if comment and reason else None
        run = task["current_run_id"]
        _guarded_update(c, task_id, ("running", "ready", "todo", "triage"),
                        f"status = 'blocked', {_release_claim_sql()}, updated_at = ?", (now,), "block")
        if run is not None:
            _close_run(c, run, "blocked", now, summary=reason)
            _mark_stop(c, caller, task_id, run, now)
        _event(c, task_id, "blocked", {"reason": reason}, now, run)
        if signer is not None:
            _add_comment(c, task_id, signer, f"BLOCKED: {reason}", now)
        return {"task_id": task_id, "run_id": run}

    return db.write(conn, tx)


def unblock(conn: Conn, task_id: str, *, caller: Caller = OPERATOR, now: float | None = None) -> dict:
    """blocked -> ready (todo while parents are open); a worker only when its run is an orchestrator's."""
    now = _clock(now)

    def tx(c: Conn) -> dict:
        if caller.task_id != task_id and not prove(c, caller).orchestrator:
            caller.check_scope(task_id)
        status = "todo" if _open_parents(c, task_id) else "ready"
        _row(c, task_id)
        _guarded_update(c, task_id, ("blocked",),
                        "status = ?, consecutive_failures = 0, retry_after = NULL, updated_at = ?",
                        (status, now), "unblock")
        _event(c, task_id, "unblocked", {"status": status}, now)
        return {"task_id": task_id, "status": status}

    return db.write(conn, tx)


def assign(conn: Conn, task_id: str, assignee: str | None, *, caller: Caller = OPERATOR,
           now: float | None = None) -> dict:
    now = _clock(now)
    assignee = normalize_profile(assignee)
    caller.check_scope(task_id)

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        if task["status"] == "running":
            raise Refused(f"cannot assign {task_id}: a worker is running it (use reassign --reclaim)")
        if task["status"] == "archived":
            raise Refused(f"cannot assign {task_id}: it is archived")
        if task["assignee"] == assignee:
            return {"task_id": task_id, "assignee": assignee, "previous": assignee}
        _guarded_update(c, task_id, (task["status"],), "assignee = ?, updated_at = ?", (assignee, now), "assign")
        _event(c, task_id, "assigned", {"assignee": assignee, "previous": task["assignee"]}, now)
        return {"task_id": task_id, "assignee": assignee, "previous": task["assignee"]}

    return db.write(conn, tx)


def comment(conn: Conn, task_id: str, body: str, *, author: str | None = None, caller: Caller = OPERATOR,
            now: float | None = None) -> dict:
    """Add a comment: a worker signs as its run's profile; an operator as `author`, else its name."""
    now = _clock(now)
    if not validate.text(body or "", "comment").strip():
        raise UsageError("comment must not be empty")
    author = validate.name(author, "author") if (author or "").strip() else None

    def tx(c: Conn) -> dict:
        _row(c, task_id)
        signer = _signer(c, caller, author)
        return {"task_id": task_id, "comment_id": _add_comment(c, task_id, signer, body, now), "author": signer}

    return db.write(conn, tx)


def _add_comment(c: Conn, task_id: str, author: str, body: str, now: float) -> int:
    comment_id = c.execute("INSERT INTO task_comments (task_id, author, body, created_at) VALUES (?, ?, ?, ?)",
                           (task_id, author, body, now)).lastrowid
    c.execute("UPDATE tasks SET updated_at = ? WHERE id = ?", (now, task_id))
    _event(c, task_id, "commented", {"author": author, "comment_id": comment_id}, now)
    return comment_id


# ---------------------------------------------------------------- operator recovery

def _requeue_reclaimed(c: Conn, task_id: str, run_id: int, now: float, *, manual: bool,
                       reason: str | None, refusal: str, guard: str = "", guard_params: tuple = (),
                       extra: dict | None = None) -> dict:
    """running -> ready (todo when parents reopened) with the run closed `reclaimed`."""
    status = "todo" if _open_parents(c, task_id) else "ready"
    updated = c.execute(
        f"UPDATE tasks SET status = ?, {_release_claim_sql()}, updated_at = ? "
        f"WHERE id = ? AND status = 'running' AND current_run_id = ? {guard}",
        (status, now, task_id, run_id, *guard_params)).rowcount
    if not updated:
        raise Refused(refusal)
    _close_run(c, run_id, "reclaimed", now, error=reason)
    _event(c, task_id, "reclaimed", {"manual": manual, "reason": reason, **(extra or {})}, now, run_id)
    return {"task_id": task_id, "run_id": run_id, "status": status}


HOST_LOST = "host_lost"


def reclaim_lost_runs(c: Conn, host_id: str, *, now: float) -> list[str]:
    """Inside a write: close every open run of `host_id` (a host whose lease ran out) as
    `reclaimed{manual: false, reason: "host_lost", host}`; cards back to ready, no failure
    counted; a worker still alive there is marked, so its host stops it if it comes back."""
    rows = c.execute("SELECT task_id, id FROM task_runs WHERE status = 'running' AND host_id = ? ORDER BY id",
                     (host_id,)).fetchall()
    for task_id, run_id in rows:
        _requeue_reclaimed(c, task_id, run_id, now, manual=False, reason=HOST_LOST,
                           refusal=f"run {run_id} of {task_id} is not open", extra={"host": host_id})
        _mark_stop(c, OPERATOR, task_id, run_id, now)
    return [row[0] for row in rows]


def reclaim_host_lost(conn: Conn, host_id: str, *, now: float | None = None) -> list[str]:
    """Housekeeping: reclaim the open runs of a host whose lease has run out (on the database
    clock, checked inside the transaction); the ids of the cards put back."""
    now = _clock(now)

    def tx(c: Conn) -> list[str]:
        expired = c.execute("SELECT 1 FROM dispatchers WHERE host_id = ? AND lease_expires <= ?",
                            (host_id, db.clock(c))).fetchone()
        return reclaim_lost_runs(c, host_id, now=now) if expired else []

    return db.write(conn, tx)


def reclaim(conn: Conn, task_id: str, *, reason: str | None = None, caller: Caller = OPERATOR,
            now: float | None = None) -> dict:
    """running -> ready (todo when parents reopened): close the run `reclaimed`, mark its worker."""
    reason = validate.optional_text(reason, "reason")
    now = _clock(now)
    caller.check_scope(task_id)

    def tx(c: Conn) -> dict:
        return _reclaim_running(c, caller, _row(c, task_id), reason, now)

    return db.write(conn, tx)


def _reclaim_running(c: Conn, caller: Caller, task: sqlite3.Row, reason: str | None, now: float) -> dict:
    task_id, run_id = task["id"], task["current_run_id"]
    if task["status"] != "running":
        raise Refused(f"cannot reclaim {task_id}: it is {task['status']} (needs running)")
    done = _requeue_reclaimed(c, task_id, run_id, now, manual=True, reason=reason,
                              refusal=f"cannot reclaim {task_id}: its run {run_id} already ended")
    _mark_stop(c, caller, task_id, run_id, now)
    return done


def reassign(conn: Conn, task_id: str, assignee: str | None, *, reclaim_first: bool = False,
             reason: str | None = None, caller: Caller = OPERATOR, now: float | None = None) -> dict:
    assignee = normalize_profile(assignee)
    reason = validate.optional_text(reason, "reason")
    now = _clock(now)
    caller.check_scope(task_id)

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        if task["status"] == "running":
            if not reclaim_first:
                raise Refused(f"cannot reassign {task_id}: a worker is running it (add --reclaim to stop it first)")
            _reclaim_running(c, caller, task, reason or f"reassigning to {assignee}", now)
            task = _row(c, task_id)
        if task["status"] in ("done", "archived"):
            raise Refused(f"cannot reassign {task_id}: it is {task['status']}")
        _guarded_update(c, task_id, (task["status"],),
                        "assignee = ?, consecutive_failures = 0, retry_after = NULL, updated_at = ?",
                        (assignee, now), "reassign")
        _event(c, task_id, "reassigned", {"assignee": assignee, "previous": task["assignee"], "reason": reason}, now)
        return {"task_id": task_id, "assignee": assignee, "previous": task["assignee"]}

    return db.write(conn, tx)


def archive(conn: Conn, task_id: str, *, caller: Caller = OPERATOR, now: float | None = None) -> dict:
    """any -> archived: close a live run `reclaimed` (its worker marked for stopping), promote children."""
    now = _clock(now)
    caller.check_scope(task_id)

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        if task["status"] == "archived":
            raise Refused(f"{task_id} is already archived")
        run = task["current_run_id"]
        _guarded_update(c, task_id, (task["status"],),
                        f"status = 'archived', {_release_claim_sql()}, updated_at = ?", (now,), "archive")
        if run is not None:
            _close_run(c, run, "reclaimed", now, error="archived")
            _mark_stop(c, caller, task_id, run, now)
        _event(c, task_id, "archived", {"previous": task["status"]}, now, run)
        return {"task_id": task_id, "promoted": _promote_children(c, task_id, now)}

    return db.write(conn, tx)


def record_worker_stopped(conn: Conn, run_id: int, *, pid: int, signal: str | None,
                          now: float | None = None) -> bool:
    """A dispatcher (or the CLI/TUI of the worker's host) stopped a marked run's worker.

    `signal` is the last one it needed (SIGTERM or SIGKILL), None when it was already gone.
    """
    now = _clock(now)

    def tx(c: Conn) -> bool:
        row = c.execute("UPDATE task_runs SET stopped_at = ? WHERE id = ? AND stop_requested_at IS NOT NULL "
                        "AND stopped_at IS NULL RETURNING task_id", (now, run_id)).fetchone()
        if row is not None:
            _event(c, row[0], "worker_stopped", {"pid": pid, "signal": signal}, now, run_id)
        return row is not None

    return db.write(conn, tx)


# ---------------------------------------------------------------- dispatcher-side run endings

def retry_delay(failures: int, cap: float) -> float:
    """Seconds before a task retries after its `failures`-th consecutive failure: about 2 s,
    doubling each time, jittered by a quarter either way (so failing tasks spread out), at most `cap`."""
    doubled = RETRY_FIRST_SECONDS * 2.0 ** (min(failures, 32) - 1)
    return min(cap, doubled * random.uniform(0.75, 1.25))


def _fail_run(c: Conn, task: sqlite3.Row, run_id: int, outcome: str, *, error: str | None, payload: dict,
              failure_limit: int, retry_cap: float | None, now: float) -> dict:
    """Close the open run through the circuit breaker: below the limit the task goes back to ready
    (todo when parents reopened) with a retry time, and the event is the outcome itself; the run
    that reaches the limit ends `gave_up` instead, blocking the task."""
    task_id = task["id"]
    failures = task["consecutive_failures"] + 1
    gave_up = failures >= failure_limit
    status = "blocked" if gave_up else ("todo" if _open_parents(c, task_id) else "ready")
    retry_at = None if gave_up or retry_cap is None else now + retry_delay(failures, retry_cap)
    c.execute(
        f"UPDATE tasks SET status = ?, {_release_claim_sql()}, consecutive_failures = ?, "
        "last_failure_error = ?, retry_after = ?, updated_at = ? WHERE id = ?",
        (status, failures, error, retry_at, now, task_id))
    final = "gave_up" if gave_up else outcome
    _close_run(c, run_id, final, now, error=error)
    if gave_up:
        _event(c, task_id, "gave_up", {"failures": failures, "limit": failure_limit, "error": error,
                                       "trigger": outcome, **payload}, now, run_id)
    else:
        _event(c, task_id, outcome, {**payload, "error": error, "failures": failures}, now, run_id)
    return {"task_id": task_id, "run_id": run_id, "outcome": final, "failures": failures,
            "status": status, "retry_at": retry_at}


def end_run_failed(conn: Conn, task_id: str, run_id: int, outcome: str, *, error: str | None = None,
                   payload: dict | None = None, failure_limit: int = DEFAULT_FAILURE_LIMIT,
                   retry_cap: float | None = None, now: float | None = None) -> dict:
    """Close a run as crashed/timed_out/spawn_failed/protocol_violation and apply the breaker.

    With `retry_cap` (the dispatcher passes its tick interval) the task waits `retry_delay`
    before its next attempt; without it, it may be retried at once.
    """
    if outcome not in FAILURE_OUTCOMES:
        raise ValueError(f"not a failure outcome: {outcome}")
    now = _clock(now)

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        if task["status"] != "running" or task["current_run_id"] != run_id:
            raise Refused(f"run {run_id} of {task_id} already ended")
        return _fail_run(c, task, run_id, outcome, error=error, payload=payload or {},
                         failure_limit=failure_limit, retry_cap=retry_cap, now=now)

    return db.write(conn, tx)


def end_run_rate_limited(conn: Conn, task_id: str, run_id: int, *, cooldown: float, error: str | None = None,
                         payload: dict | None = None, now: float | None = None) -> dict:
    """Dispatcher: the worker exited 75 (EX_TEMPFAIL, a rate limit): the run ends `rate_limited`
    and the task waits `cooldown` seconds in ready (todo when parents reopened). The breaker
    does not count it: the task did nothing wrong, its provider asked it to wait."""
    now = _clock(now)

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        if task["status"] != "running" or task["current_run_id"] != run_id:
            raise Refused(f"run {run_id} of {task_id} already ended")
        status = "todo" if _open_parents(c, task_id) else "ready"
        retry_at = now + cooldown
        c.execute(f"UPDATE tasks SET status = ?, {_release_claim_sql()}, retry_after = ?, updated_at = ? "
                  "WHERE id = ?", (status, retry_at, now, task_id))
        _close_run(c, run_id, "rate_limited", now, error=error)
        _event(c, task_id, "rate_limited", {**(payload or {}), "error": error, "retry_at": retry_at}, now, run_id)
        return {"task_id": task_id, "run_id": run_id, "outcome": "rate_limited",
                "failures": task["consecutive_failures"], "status": status, "retry_at": retry_at}

    return db.write(conn, tx)


def lease_expired(conn: Conn, task_id: str, run_id: int, *, failure_limit: int = DEFAULT_FAILURE_LIMIT,
                  retry_cap: float | None = None, now: float | None = None) -> dict:
    """Dispatcher: a lease ran out with no live worker behind it: the run ends `reclaimed` and,
    like a crash, counts toward the breaker (a claim whose worker keeps vanishing gives up)."""
    now = _clock(now)
    reason = "claim lease expired"

    def tx(c: Conn) -> dict:
        task = _row(c, task_id)
        if (task["status"] != "running" or task["current_run_id"] != run_id
                or task["claim_expires"] is None or task["claim_expires"] > now):
            raise Refused(f"run {run_id} of {task_id} is not an expired lease")
        return _fail_run(c, task, run_id, "reclaimed", error=reason, payload={"manual": False, "reason": reason},
                         failure_limit=failure_limit, retry_cap=retry_cap, now=now)

    return db.write(conn, tx)


def _not_yet_noted(c: Conn, task_ids: list[str]) -> list[tuple[str, str]]:
    """(id, assignee) of tasks whose latest assignment has no `skipped_nonspawnable` yet."""
    marks = ",".join("?" * len(task_ids))
    return [(row[0], row[1]) for row in c.execute(
        f"SELECT t.id, t.assignee FROM tasks t WHERE t.id IN ({marks}) AND coalesce(("
        "  SELECT e.kind FROM task_events e WHERE e.task_id = t.id AND e.kind IN "
        "  ('skipped_nonspawnable', 'assigned', 'reassigned', 'created') ORDER BY e.id DESC LIMIT 1), '') "
        "<> 'skipped_nonspawnable'", task_ids)]


def note_nonspawnable(conn: Conn, task_ids: list[str], *, now: float | None = None) -> list[str]:
    """Record `skipped_nonspawnable` once per assignment; returns the tasks that got the event.

    Reads first, so a tick that sees the same stranded tasks again takes no write lock.
    """
    now = _clock(now)
    if not task_ids or not db.read(conn, lambda c: _not_yet_noted(c, task_ids)):
        return []

    def tx(c: Conn) -> list[str]:
        noted = _not_yet_noted(c, task_ids)
        for task_id, assignee in noted:
            _event(c, task_id, "skipped_nonspawnable", {"assignee": assignee}, now)
        return [task_id for task_id, _ in noted]

    return db.write(conn, tx)


# ---------------------------------------------------------------- notifications (storage side)

def notify_subscribe(conn: Conn, task_id: str, *, platform: str, chat_id: str, thread_id: str | None = None,
                     user_id: str | None = None, now: float | None = None) -> dict:
    now = _clock(now)
    if not platform.strip() or not chat_id.strip():
        raise UsageError("notify-subscribe needs --platform and --chat-id")
    platform, chat_id = validate.name(platform, "platform"), validate.name(chat_id, "chat id")
    thread_id, user_id = validate.optional_name(thread_id, "thread id"), validate.optional_name(user_id, "user id")

    def tx(c: Conn) -> dict:
        _row(c, task_id)
        c.execute("INSERT INTO notify_subs (task_id, platform, chat_id, thread_id, user_id, created_at) "
                  "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, platform, chat_id, thread_id) "
                  "DO UPDATE SET user_id = excluded.user_id",
                  (task_id, platform.strip(), chat_id.strip(), thread_id or "", user_id, now))
        return {"task_id": task_id, "platform": platform.strip(), "chat_id": chat_id.strip()}

    return db.write(conn, tx)


def notify_unsubscribe(conn: Conn, task_id: str, *, platform: str, chat_id: str,
                       thread_id: str | None = None) -> dict:
    def tx(c: Conn) -> dict:
        gone = c.execute("DELETE FROM notify_subs WHERE task_id = ? AND platform = ? AND chat_id = ? "
                         "AND (CAST(? AS TEXT) IS NULL OR thread_id = ?)",
                         (task_id, platform, chat_id, thread_id, thread_id)).rowcount
        if not gone:
            raise NotFound(f"no subscription of {platform}:{chat_id} on {task_id}")
        return {"task_id": task_id, "removed": gone}

    return db.write(conn, tx)
