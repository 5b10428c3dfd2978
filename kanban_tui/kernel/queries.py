"""The read side of the kernel: ids, lists, show, events, board snapshot, stats, attention.

Pure functions over a connection; nothing here writes. Heavy reads are a handful of indexed
queries: per-task extras are fetched for a whole batch of ids at once, passing the ids as one
JSON array (`IN (SELECT value FROM json_each(?))`), so there is no N+1 and no variable limit.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Callable, Iterable, TypeVar

from kanban_tui import validate
from kanban_tui.errors import NotFound, UsageError
from kanban_tui.kernel import db
from kanban_tui.kernel.models import (
    COLUMNS,
    MIN_PREFIX,
    OPEN_STATUSES,
    STATUSES,
    WARNING_EVENT_KINDS,
    comment_dict,
    normalize_profile,
    run_dict,
    task_dict,
)
from kanban_tui.text import age

Conn = sqlite3.Connection
T = TypeVar("T")

IDS = "(SELECT value FROM json_each(?))"
CARD_FIELDS = ("id", "title", "assignee", "status", "priority", "tenant", "created_at", "updated_at",
               "started_at", "claim_expires", "last_heartbeat_at", "worker_pid",
               "consecutive_failures", "last_failure_error", "retry_after")
NOTIFY_FIELDS = ("id", "task_id", "platform", "chat_id", "thread_id", "user_id", "created_at")
EVENT_COLUMNS = "e.id, e.task_id, e.run_id, e.kind, e.payload, e.created_at"
WARNING_KINDS_SQL = ", ".join(f"'{kind}'" for kind in WARNING_EVENT_KINDS)
# Kept as its own term in every query on failing tasks, so one partial index
# (`(status, consecutive_failures) WHERE consecutive_failures > 0`) can serve them all.
FAILING = "consecutive_failures > 0"
STALE_READY_SECONDS = 3600
ATTENTION_LIMIT = 50
AMBIGUOUS_SHOWN = 5


def _clock(now: float | None) -> float:
    return time.time() if now is None else now


def _ids_param(ids: Iterable[str]) -> str:
    return json.dumps(list(ids))


def in_snapshot(conn: Conn, fn: Callable[[Conn], T]) -> T:
    """Run several reads against one consistent view of the board."""
    if conn.in_transaction:
        return fn(conn)
    return db.read(conn, fn)


def _zero_counts() -> dict[str, int]:
    return {status: 0 for status in STATUSES}


def _tuples(conn: Conn, sql: str, params: Iterable = ()) -> sqlite3.Cursor:
    """A cursor yielding plain tuples: sqlite3.Row's by-name lookup is slow on hot paths."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, tuple(params))


def _dicts(conn: Conn, sql: str, params: Iterable = ()) -> list[dict]:
    cursor = _tuples(conn, sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


# ---------------------------------------------------------------- ids and tasks

def resolve_id(conn: Conn, text: str) -> str:
    """A full id, or a unique prefix of at least 4 hex characters after `t_` (or without it)."""
    raw = (text or "").strip().lower()
    suffix = raw[2:] if raw.startswith("t_") else raw
    shown = "t_" + suffix
    if len(suffix) < MIN_PREFIX:
        raise UsageError(f"id prefix {shown!r} is too short: give at least {MIN_PREFIX} characters after t_")
    shown = validate.task_id(shown)
    # Ids are t_ + lowercase hex, and every hex digit sorts below 'g': [prefix, prefix+'g') is
    # exactly the ids starting with prefix, as a primary-key range scan.
    rows = conn.execute("SELECT id FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                        (shown, shown + "g", AMBIGUOUS_SHOWN + 1)).fetchall()
    if not rows:
        raise NotFound(f"no task {shown}")
    if len(rows) == 1 or rows[0]["id"] == shown:
        return rows[0]["id"]
    matches = ", ".join(row["id"] for row in rows[:AMBIGUOUS_SHOWN])
    more = ", …" if len(rows) > AMBIGUOUS_SHOWN else ""
    raise NotFound(f"ambiguous id prefix {shown!r} matches {matches}{more}")


def _links(conn: Conn, ids: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """parents[id] and children[id] for every id in the batch, in link order."""
    parents: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    param = _ids_param(ids)
    for parent_id, child_id in _tuples(
            conn, f"SELECT parent_id, child_id FROM task_links WHERE child_id IN {IDS} "
                  "ORDER BY created_at, parent_id", (param,)):
        parents.setdefault(child_id, []).append(parent_id)
    for parent_id, child_id in _tuples(
            conn, f"SELECT parent_id, child_id FROM task_links WHERE parent_id IN {IDS} "
                  "ORDER BY created_at, child_id", (param,)):
        children.setdefault(parent_id, []).append(child_id)
    return parents, children


def _task_dicts(conn: Conn, rows: list[dict]) -> list[dict]:
    parents, children = _links(conn, [row["id"] for row in rows])
    return [task_dict(row, parents.get(row["id"]), children.get(row["id"])) for row in rows]


def _task_row(conn: Conn, task_id: str) -> dict:
    rows = _dicts(conn, "SELECT * FROM tasks WHERE id = ?", (task_id,))
    if not rows:
        raise NotFound(f"no task {task_id}")
    return rows[0]


def get_task(conn: Conn, task_id: str) -> dict:
    """The task JSON (models.task_dict) of a full id, with its parent and child ids."""
    return in_snapshot(conn, lambda c: _task_dicts(c, [_task_row(c, task_id)])[0])


def list_tasks(conn: Conn, *, assignee: str | None = None, status: str | None = None,
               tenant: str | None = None, include_archived: bool = False,
               limit: int | None = None) -> list[dict]:
    """Tasks by column (triage → done, then archived), priority (high first), then age.

    One indexed query per status, in column order, instead of sorting the whole table.
    """
    if status is not None:
        statuses: Iterable[str] = (status,)
    else:
        statuses = STATUSES if include_archived else STATUSES[:-1]
    where, params = _task_filter(None, tenant, assignee)
    clause = " AND ".join(["t.status = ?", *where])
    sql = f"SELECT * FROM tasks t WHERE {clause} ORDER BY t.priority DESC, t.created_at, t.id"

    def read(c: Conn) -> list[dict]:
        rows: list[dict] = []
        for wanted in statuses:
            if limit is None:
                rows.extend(_dicts(c, sql, [wanted, *params]))
                continue
            remaining = limit - len(rows)
            if remaining == 0:
                break
            rows.extend(_dicts(c, sql + " LIMIT ?", [wanted, *params, remaining]))
        return _task_dicts(c, rows)

    return in_snapshot(conn, read)


def _related(conn: Conn, ids: list[str]) -> list[dict]:
    """Small task dicts {id, title, status, assignee} in the order of ids."""
    rows = _dicts(conn, f"SELECT id, title, status, assignee FROM tasks WHERE id IN {IDS}",
                  (_ids_param(ids),))
    by_id = {row["id"]: row for row in rows}
    return [by_id[task_id] for task_id in ids if task_id in by_id]


def show(conn: Conn, task_id: str, *, event_limit: int | None = None) -> dict:
    """{task, parents, children, comments, events, runs}; events are the newest `event_limit`."""

    def read(c: Conn) -> dict:
        task = _task_dicts(c, [_task_row(c, task_id)])[0]
        return {"task": task, "parents": _related(c, task["parents"]),
                "children": _related(c, task["children"]), "comments": comments(c, task_id),
                "events": _newest_events(c, task_id, event_limit), "runs": runs(c, task_id)}

    return in_snapshot(conn, read)


def runs(conn: Conn, task_id: str) -> list[dict]:
    """Every attempt at the task, oldest first."""
    rows = conn.execute("SELECT * FROM task_runs WHERE task_id = ? ORDER BY id", (task_id,))
    return [run_dict(row) for row in rows]


def comments(conn: Conn, task_id: str) -> list[dict]:
    """The task's comment thread, oldest first."""
    rows = conn.execute("SELECT * FROM task_comments WHERE task_id = ? ORDER BY id", (task_id,))
    return [comment_dict(row) for row in rows]


# ---------------------------------------------------------------- events

def _event_dicts(rows: list[tuple]) -> list[dict]:
    """Rows of EVENT_COLUMNS (+ extras) as models.event_dict shapes.

    All payloads are parsed with a single json.loads over one JSON array: per-row parsing
    dominated the cost of a 500-event cursor read. Payloads are valid JSON (a schema CHECK).
    """
    payloads = json.loads("[" + ",".join([row[4] or "null" for row in rows]) + "]")
    return [{"id": row[0], "task_id": row[1], "run_id": row[2], "kind": row[3], "payload": payload,
             "created_at": row[5]} for row, payload in zip(rows, payloads)]


def _newest_events(conn: Conn, task_id: str, limit: int | None) -> list[dict]:
    if limit is None:
        return events(conn, task_id)
    rows = _tuples(conn, f"SELECT {EVENT_COLUMNS} FROM task_events e WHERE e.task_id = ? "
                         "ORDER BY e.id DESC LIMIT ?", (task_id, limit)).fetchall()
    return _event_dicts(rows[::-1])


def _select_events(conn: Conn, *, task_id: str | None, after: int, limit: int | None,
                   kinds: Iterable[str] | None, tenant: str | None, assignee: str | None,
                   with_assignee: bool) -> list[tuple]:
    join = with_assignee or tenant is not None or assignee is not None
    columns = EVENT_COLUMNS + (", t.assignee" if with_assignee else "")
    sql = f"SELECT {columns} FROM task_events e"
    if join:
        sql += " LEFT JOIN tasks t ON t.id = e.task_id"
    where, params = ["e.id > ?"], [after]
    if task_id is not None:
        where.append("e.task_id = ?")
        params.append(task_id)
    if kinds is not None:
        where.append(f"e.kind IN {IDS}")
        params.append(_ids_param(kinds))
    task_where, task_params = _task_filter(None, tenant, assignee)
    where += task_where
    params += task_params
    sql += " WHERE " + " AND ".join(where) + " ORDER BY e.id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return _tuples(conn, sql, params).fetchall()


def events(conn: Conn, task_id: str | None = None, *, after: int = 0, limit: int | None = None,
           kinds: Iterable[str] | None = None, tenant: str | None = None,
           assignee: str | None = None) -> list[dict]:
    """Events (models.event_dict shape) with id > after, oldest first; tenant/assignee are the task's."""
    return _event_dicts(_select_events(conn, task_id=task_id, after=after, limit=limit, kinds=kinds,
                                       tenant=tenant, assignee=assignee, with_assignee=False))


def watch_events(conn: Conn, *, after: int = 0, limit: int | None = 500,
                 kinds: Iterable[str] | None = None, tenant: str | None = None,
                 assignee: str | None = None) -> list[dict]:
    """Board-wide events for `watch`: the event dict plus its task's current `assignee`."""
    rows = _select_events(conn, task_id=None, after=after, limit=limit, kinds=kinds,
                          tenant=tenant, assignee=assignee, with_assignee=True)
    return [{**event, "assignee": row[6]} for event, row in zip(_event_dicts(rows), rows)]


def events_since(conn: Conn, cursor: int, *, limit: int = 500) -> list[dict]:
    """The next `limit` events after the cursor, by id (a rowid range scan)."""
    return events(conn, after=cursor, limit=limit)


def max_event_id(conn: Conn) -> int:
    """The current event cursor (0 on an empty board)."""
    return conn.execute("SELECT coalesce(max(id), 0) FROM task_events").fetchone()[0]


# ---------------------------------------------------------------- board snapshot

def _task_filter(search: str | None, tenant: str | None,
                  assignee: str | None) -> tuple[list[str], list]:
    where, params = [], []
    if tenant is not None:
        where.append("t.tenant = ?")
        params.append(tenant)
    if assignee is not None:
        where.append("t.assignee = ?")
        params.append(assignee)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        fields = ("id", "title", "body", "assignee", "tenant")
        # lower() on both sides: SQLite's LIKE ignores (ASCII) case, PostgreSQL's LIKE does not
        where.append("(" + " OR ".join(f"lower(t.{field}) LIKE lower(?) ESCAPE '\\'" for field in fields) + ")")
        params.extend([pattern] * len(fields))
    return where, params


def _column_counts(conn: Conn, where: list[str], params: list) -> dict[str, int]:
    if not where:  # unfiltered: the trigger-maintained counts, O(1) at any board size
        counts = dict(_tuples(conn, "SELECT status, n FROM task_counts").fetchall())
        return {status: counts.get(status, 0) for status in COLUMNS}
    marks = ", ".join(f"'{status}'" for status in COLUMNS)
    clause = " AND ".join([f"t.status IN ({marks})", *where])
    counts = {status: 0 for status in COLUMNS}
    counts.update(_tuples(conn, f"SELECT t.status, count(*) FROM tasks t WHERE {clause} GROUP BY t.status",
                          params).fetchall())
    return counts


# A card is its task's columns plus a few per-task figures, each one indexed probe
# (correlated subqueries run inside SQLite: cheaper than batching ids through Python).
_CARD_EXTRAS = (
    ("child_total", "(SELECT count(*) FROM task_links l WHERE l.parent_id = t.id)"),
    ("child_done", "(SELECT count(*) FROM task_links l JOIN tasks ch ON ch.id = l.child_id "
                   "WHERE l.parent_id = t.id AND ch.status IN ('done', 'archived'))"),
    ("comment_count", "(SELECT count(*) FROM task_comments m WHERE m.task_id = t.id)"),
    ("latest_outcome", "r.outcome"),
    ("latest_summary", "r.summary"),
    ("run_claim_expires", "r.claim_expires"),
    # the newest of completed/warning events: a warning unless a completion came after it
    ("warning", f"(SELECT nullif(w.kind, 'completed') FROM task_events w WHERE w.task_id = t.id "
                f"AND w.kind IN ('completed', {WARNING_KINDS_SQL}) ORDER BY w.id DESC LIMIT 1)"),
)
_CARD_NAMES = (*CARD_FIELDS, *(name for name, _ in _CARD_EXTRAS))
_CARD_SELECT = (f"SELECT {', '.join('t.' + field for field in CARD_FIELDS)}, "
                f"{', '.join(sql for _, sql in _CARD_EXTRAS)} FROM tasks t "
                "LEFT JOIN task_runs r ON r.id = (SELECT max(id) FROM task_runs WHERE task_id = t.id)")


def _card_dicts(cursor: sqlite3.Cursor, now: float) -> list[dict]:
    cards = [dict(zip(_CARD_NAMES, row)) for row in cursor]
    for card in cards:
        card["gave_up"] = card["latest_outcome"] == "gave_up"
        card["claim_expired"] = _claim_expired(card, now)
        card["stale_heartbeat"] = _stale_heartbeat(card, now)
    return cards


def _column_cards(conn: Conn, status: str, where: list[str], params: list,
                  per_column: int, now: float) -> list[dict]:
    order = "t.started_at, t.id" if status == "running" else "t.priority DESC, t.created_at, t.id"
    clause = " AND ".join(["t.status = ?", *where])
    return _card_dicts(_tuples(conn, f"{_CARD_SELECT} WHERE {clause} ORDER BY {order} LIMIT ?",
                               [status, *params, per_column]), now)


def _unresolved_warnings_sql() -> str:
    """Each task's newest hallucination event, unless a later `completed` event superseded it.
    Columns: task_id, kind, payload, id."""
    return ("SELECT w.task_id, w.kind, w.payload, w.id FROM task_events w "
            f"WHERE w.id IN (SELECT max(id) FROM task_events WHERE kind IN ({WARNING_KINDS_SQL}) "
            "               GROUP BY task_id) "
            "AND NOT EXISTS (SELECT 1 FROM task_events c WHERE c.task_id = w.task_id "
            "                AND c.id > w.id AND c.kind = 'completed')")


def _claim_expired(card: dict, now: float) -> bool:
    return card["status"] == "running" and card["claim_expires"] is not None and card["claim_expires"] < now


def _stale_heartbeat(card: dict, now: float) -> bool:
    """The lease the worker earned (claim, heartbeats: the run's claim_expires) ran out, and only
    the dispatcher's extension for a worker it sees alive keeps the claim."""
    return (card["status"] == "running" and not card["claim_expired"]
            and card["run_claim_expires"] is not None and card["run_claim_expires"] < now)


def cards(conn: Conn, task_ids: Iterable[str], *, now: float | None = None) -> list[dict]:
    """Board cards for just these tasks (in the given order, unknown ids left out).

    For refreshing the few cards an event batch touched without re-reading the board.
    """
    now = _clock(now)
    ids = list(dict.fromkeys(task_ids))

    def read(c: Conn) -> list[dict]:
        rows = _card_dicts(_tuples(c, f"{_CARD_SELECT} WHERE t.id IN {IDS}", (_ids_param(ids),)), now)
        by_id = {row["id"]: row for row in rows}
        return [by_id[task_id] for task_id in ids if task_id in by_id]

    return in_snapshot(conn, read)


def board_snapshot(conn: Conn, *, per_column: int = 200, search: str | None = None,
                   tenant: str | None = None, assignee: str | None = None,
                   now: float | None = None) -> dict:
    """{counts, columns, cursor} for the six board columns, filtered; cards carry their extras.

    `claim_expired` on a card marks a running task whose lease ran out before `now` (a ghost);
    `stale_heartbeat` one whose worker stopped heartbeating but is alive (its lease is extended).
    """
    now = _clock(now)
    where, params = _task_filter(search, tenant, assignee)

    def read(c: Conn) -> dict:
        counts = _column_counts(c, where, params)
        columns = {status: (_column_cards(c, status, where, params, per_column, now) if counts[status] else [])
                   for status in COLUMNS}
        return {"counts": counts, "columns": columns, "cursor": max_event_id(c)}

    return in_snapshot(conn, read)


# ---------------------------------------------------------------- stats and assignees

def stats(conn: Conn, *, now: float | None = None) -> dict:
    """{by_status, by_assignee, oldest_ready_age_seconds}; the CLI merges in `dispatcher`.

    A ready task's age is measured from its last change (updated_at), i.e. how long it has sat.
    """
    now = _clock(now)

    def read(c: Conn) -> dict:
        by_status = _zero_counts()
        by_assignee: dict[str, dict[str, int]] = {}
        for assignee, status, count in c.execute(
                "SELECT assignee, status, count(*) FROM tasks GROUP BY assignee, status"):
            by_status[status] += count
            if assignee is not None:
                by_assignee.setdefault(assignee, _zero_counts())[status] = count
        oldest = c.execute("SELECT min(updated_at) FROM tasks WHERE status = 'ready'").fetchone()[0]
        return {"by_status": by_status, "by_assignee": dict(sorted(by_assignee.items())),
                "oldest_ready_age_seconds": None if oldest is None else max(0.0, now - oldest)}

    return in_snapshot(conn, read)


def assignees(conn: Conn, configured: Iterable[str] = ()) -> list[dict]:
    """Every assignee on the board plus every configured profile: {name, configured, counts}."""
    configured_names = {name for name in map(normalize_profile, configured) if name}
    counts: dict[str, dict[str, int]] = {name: _zero_counts() for name in configured_names}
    for assignee, status, count in conn.execute(
            "SELECT assignee, status, count(*) FROM tasks WHERE assignee IS NOT NULL "
            "GROUP BY assignee, status"):
        counts.setdefault(assignee, _zero_counts())[status] = count
    return [{"name": name, "configured": name in configured_names, "counts": counts[name]}
            for name in sorted(counts)]


def assignee_names(conn: Conn, configured: Iterable[str] = ()) -> list[str]:
    """Sorted names on the board or in config, without counts (an index-only read)."""
    names = {name for name in map(normalize_profile, configured) if name}
    names.update(row[0] for row in conn.execute(
        "SELECT DISTINCT assignee FROM tasks WHERE assignee IS NOT NULL"))
    return sorted(names)


# ---------------------------------------------------------------- attention

def _warning_detail(kind: str, payload: str | None) -> str:
    data = json.loads(payload) if payload else {}
    if kind == "completion_blocked_hallucination":
        phantom = ", ".join(data.get("phantom_cards") or []) or "?"
        return f"completion refused: created_cards that do not exist ({phantom})"
    phantom = ", ".join(data.get("phantom_refs") or []) or "?"
    return f"completed, but its handoff mentions unknown ids ({phantom})"


def _attention_warnings(conn: Conn, limit: int) -> list[dict]:
    rows = _dicts(conn, f"SELECT u.task_id, t.title, u.kind, u.payload FROM ({_unresolved_warnings_sql()}) u "
                        "JOIN tasks t ON t.id = u.task_id WHERE t.status <> 'archived' "
                        "ORDER BY u.id DESC LIMIT ?", (limit,))
    return [{"task_id": row["task_id"], "title": row["title"], "reason": row["kind"],
             "detail": _warning_detail(row["kind"], row["payload"])} for row in rows]


def _attention_gave_up(conn: Conn, limit: int) -> list[dict]:
    rows = _dicts(
        conn, "SELECT t.id, t.title, t.consecutive_failures, r.error FROM tasks t "
              "JOIN task_runs r ON r.id = (SELECT max(id) FROM task_runs WHERE task_id = t.id) "
              f"WHERE t.status = 'blocked' AND t.{FAILING} AND r.outcome = 'gave_up' "
              "ORDER BY t.priority DESC, t.created_at, t.id LIMIT ?", (limit,))
    return [{"task_id": row["id"], "title": row["title"], "reason": "gave_up",
             "detail": f"gave up after {row['consecutive_failures']} failures: "
                       f"{row['error'] or 'no error recorded'}"} for row in rows]


def _attention_ghosts(conn: Conn, now: float, limit: int) -> list[dict]:
    rows = _dicts(conn, "SELECT id, title, claim_expires, worker_pid FROM tasks "
                        "WHERE status = 'running' AND claim_expires < ? ORDER BY claim_expires LIMIT ?",
                  (now, limit))
    return [{"task_id": row["id"], "title": row["title"], "reason": "ghost_running",
             "detail": f"running, but its claim expired {age(now - row['claim_expires'])} ago "
                       f"(worker pid {row['worker_pid'] or 'unknown'})"} for row in rows]


def _attention_failing(conn: Conn, limit: int) -> list[dict]:
    marks = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    rows = _dicts(conn, "SELECT id, title, consecutive_failures, last_failure_error FROM tasks "
                        f"WHERE {FAILING} AND consecutive_failures >= 2 AND status IN ({marks}) "
                        "ORDER BY consecutive_failures DESC, priority DESC, id LIMIT ?", (limit,))
    return [{"task_id": row["id"], "title": row["title"], "reason": "repeated_failures",
             "detail": f"{row['consecutive_failures']} consecutive failures; last: "
                       f"{row['last_failure_error'] or 'no error recorded'}"} for row in rows]


def _attention_stranded(conn: Conn, now: float, stale_seconds: float, limit: int) -> list[dict]:
    # updated_at >= created_at, so the created_at term (in tasks_by_column) prunes index
    # entries before any row is read.
    cutoff = now - stale_seconds
    rows = _dicts(conn, "SELECT id, title, assignee, updated_at FROM tasks "
                        "WHERE status = 'ready' AND created_at < ? AND updated_at < ? "
                        "ORDER BY priority DESC, created_at, id LIMIT ?", (cutoff, cutoff, limit))
    return [{"task_id": row["id"], "title": row["title"], "reason": "stranded_ready",
             "detail": f"ready for {age(now - row['updated_at'])}"
                       + ("" if row["assignee"] else " and nobody is assigned")} for row in rows]


def attention(conn: Conn, *, now: float | None = None,
              stale_ready_seconds: float = STALE_READY_SECONDS,
              limit: int = ATTENTION_LIMIT) -> list[dict]:
    """Flagged tasks, most severe first, one entry per task: {task_id, title, reason, detail}.

    Reasons: completion_blocked_hallucination, suspected_hallucinated_references, gave_up,
    ghost_running, repeated_failures, stranded_ready.
    """
    now = _clock(now)

    def read(c: Conn) -> list[dict]:
        flagged = [*_attention_warnings(c, limit), *_attention_gave_up(c, limit),
                   *_attention_ghosts(c, now, limit), *_attention_failing(c, limit),
                   *_attention_stranded(c, now, stale_ready_seconds, limit)]
        seen: set[str] = set()
        unique = []
        for item in flagged:
            if item["task_id"] not in seen:
                seen.add(item["task_id"])
                unique.append(item)
        return unique[:limit]

    return in_snapshot(conn, read)


# ---------------------------------------------------------------- notify subscriptions

def notify_list(conn: Conn, task_id: str | None = None) -> list[dict]:
    """Subscriptions to terminal events, for one task or the whole board, oldest first."""
    sql = f"SELECT {', '.join(NOTIFY_FIELDS)} FROM notify_subs"
    params: tuple = ()
    if task_id is not None:
        sql += " WHERE task_id = ?"
        params = (task_id,)
    return [dict(row) for row in conn.execute(sql + " ORDER BY id", params)]
