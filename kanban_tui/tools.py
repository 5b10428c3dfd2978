"""The worker tools (README "Workers"): JSON schemas plus `call(name, args)` -> a JSON-ready dict.

This is the only way a worker changes the board; the shell (`kanban-tui tool`) and MCP
(`kanban-tui mcp`) surfaces are thin wrappers around `call`. Every answer is
`{"ok": true, ...}` or `{"ok": false, "error": "..."}`: bad input never raises.

Who is calling is a kernel `Caller` built from the environment the dispatcher gives a worker:
`KANBAN_TASK` makes the process a worker scoped to that task, `KANBAN_RUN_ID` and
`KANBAN_CLAIM_LOCK` prove the run it holds (the kernel checks both). The run, not the
environment, says who the worker is: its profile signs comments and cards, and the role
recorded at claim grants the board-wide tools. `KANBAN_TENANT` is the default tenant of what
it creates. Without KANBAN_TASK the caller is an operator signing as KANBAN_PROFILE, if set.

The `kanban-tui tool kanban_heartbeat` path imports this module, so it stays lean: the
read side and the context builder are imported only by the tools that need them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Mapping

from kanban_tui import validate
from kanban_tui.errors import KanbanError, Refused, UsageError
from kanban_tui.kernel import db, transitions
from kanban_tui.kernel.caller import Caller, prove
from kanban_tui.kernel.dsn import is_postgres
from kanban_tui.kernel.models import STATUSES, WORKSPACE_KINDS, normalize_profile

SHOW_EVENT_LIMIT = 50
LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 200

_TASK_ID = "Task id: t_ plus 8 hex digits, or a unique prefix of at least 4 hex digits after t_."
_OWN_TASK_ID = _TASK_ID + " Leave it out to mean your own task (KANBAN_TASK)."


def _schema(name: str, description: str, properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"name": name, "description": description,
            "input_schema": {"type": "object", "properties": properties, "required": list(required),
                             "additionalProperties": False}}


def _string(description: str, **extra: Any) -> dict:
    return {"type": "string", "description": description, **extra}


def _strings(description: str) -> dict:
    return {"type": "array", "items": {"type": "string"}, "description": description}


SCHEMAS: dict[str, dict] = {schema["name"]: schema for schema in (
    _schema(
        "kanban_show",
        "Read a task in full: the card (title, body, status, assignee), its parent and child cards, "
        "the comment thread, every run (attempt) with its summary and metadata, the newest 50 events, "
        "and `worker_context`, a markdown briefing with the body, prior attempts on this task and the "
        "results your parent tasks handed off. Call it first when you start, before doing any work, "
        "and again whenever you need to re-read the brief.",
        {"task_id": _string(_OWN_TASK_ID)}),
    _schema(
        "kanban_complete",
        "Finish your task and hand off; call it once, as your very last action. `summary` is for the "
        "next reader (a person, or the worker on a child task, who sees it in their context): what you "
        "did, what changed, what is left, in a few concrete sentences. `metadata` holds structured facts "
        "such as changed_files, decisions, tests_run. `result` is the deliverable itself when the task "
        "produces a value. Give a summary or a result (usually a summary). List in `created_cards` only "
        "the ids kanban_create returned to you during this task; any other id refuses the completion.",
        {"task_id": _string(_OWN_TASK_ID),
         "summary": _string("What you did and what the next person needs to know (plain prose)."),
         "metadata": {"type": "object",
                      "description": "Structured handoff facts, e.g. {\"changed_files\": [\"api/auth.py\"], "
                                     "\"decisions\": [\"bcrypt for hashing\"], \"tests_run\": 12}."},
         "result": _string("The deliverable when the task produces one (text, a URL, a number)."),
         "created_cards": _strings("Ids of cards you created with kanban_create for this task, exactly as "
                                   "kanban_create returned them. Leave it out if you created none.")}),
    _schema(
        "kanban_block",
        "Stop and hand the task to a human because you cannot go on without them: a decision only they "
        "can make, credentials or access, an ambiguity in the brief, a failing dependency you must not "
        "work around. Not for ordinary difficulty: debug that yourself. `reason` must be a specific "
        "question or request a person can act on, saying what you tried. Your run ends here; when a person "
        "unblocks the task a new run starts with your reason and their comments in its context.",
        {"task_id": _string(_OWN_TASK_ID),
         "reason": _string("The question or request for a human, specific enough to answer without "
                           "digging (what is missing, what you tried, the options you see).")},
        ("reason",)),
    _schema(
        "kanban_heartbeat",
        "Tell the board you are alive and still working; this extends your claim on the task. Call it "
        "every few minutes during long work (a claim lapses after about 15 minutes without one and the "
        "task may be given to someone else), with a short `note` on progress, e.g. "
        "\"schema drafted, writing migrations now\".",
        {"task_id": _string(_OWN_TASK_ID),
         "note": _string("One line on where you are, visible to the people watching the board.")}),
    _schema(
        "kanban_comment",
        "Add a comment to a task's thread: your own task by default, or another task (a parent to ask "
        "about its result, a child to leave instructions). Comments are notes for people and later "
        "workers; they do not change any status. They are signed with your profile.",
        {"task_id": _string(_OWN_TASK_ID),
         "body": _string("The comment text (markdown).")},
        ("body",)),
    _schema(
        "kanban_create",
        "Create a card for someone else to do. `assignee` is the profile that will run it (\"none\" "
        "leaves it unassigned). `parents` are tasks that must be done first: the card waits in todo "
        "until all of them are done, so giving several parents makes a fan-in. Always pass an "
        "`idempotency_key` unique to this piece of work (e.g. \"<your task id>:translate-es\"): if your "
        "run is retried, the same key returns the card that already exists instead of a duplicate. The "
        "tenant defaults to yours. Report the ids you create in kanban_complete's created_cards.",
        {"title": _string("One line, at most 500 characters, saying what is to be done."),
         "assignee": _string("Profile that will do it, e.g. \"backend-dev\"; \"none\" for unassigned."),
         "body": _string("The brief (markdown): goal, inputs, acceptance criteria."),
         "parents": _strings("Ids of tasks that must be done before this one can start."),
         "tenant": _string("Project namespace; defaults to your tenant (KANBAN_TENANT), else the first "
                           "parent's."),
         "priority": {"type": "integer", "description": "Higher runs first; default 0."},
         "workspace_kind": _string("Where the worker runs: scratch (a fresh folder kept for retries, the "
                                   "default), dir (an existing absolute path) or worktree (a git worktree "
                                   "of the repository at workspace_path).", enum=list(WORKSPACE_KINDS)),
         "workspace_path": _string("Absolute path, required for workspace_kind dir or worktree."),
         "triage": {"type": "boolean",
                    "description": "True to file a raw idea in triage, where a person fleshes it out; "
                                   "it never starts on its own."},
         "idempotency_key": _string("A key unique to this piece of work; a retry with the same key "
                                    "returns the existing card."),
         "max_runtime_seconds": {"type": "integer", "description": "Kill the worker after this many seconds."},
         "skills": _strings("Extra skills the worker should load, besides kanban-worker.")},
        ("title", "assignee")),
    _schema(
        "kanban_link",
        "Make one existing task depend on another: `child_id` will not start until `parent_id` is done "
        "(a ready child goes back to todo while the parent is open). Use it to add a dependency you "
        "discover after both cards exist. Links to itself and cycles are refused.",
        {"parent_id": _string("The task that must finish first. " + _TASK_ID),
         "child_id": _string("The task that waits for it. " + _TASK_ID)},
        ("parent_id", "child_id")),
    _schema(
        "kanban_list",
        "List tasks on the board, ordered by column (triage, todo, ready, running, blocked, done), then "
        "priority, then age. Filter by assignee, status and tenant to find work to fan out, stuck tasks, "
        "or what is done. Bodies are left out; use kanban_show to read one task. `truncated` is true when "
        "more tasks matched than `limit`.",
        {"assignee": _string("Only tasks assigned to this profile."),
         "status": _string("Only tasks in this status.", enum=list(STATUSES)),
         "tenant": _string("Only tasks in this tenant."),
         "include_archived": {"type": "boolean", "description": "Also list archived tasks; default false."},
         "limit": {"type": "integer", "description": f"At most this many tasks; default {LIST_DEFAULT_LIMIT}, "
                                                     f"max {LIST_MAX_LIMIT}."}}),
    _schema(
        "kanban_unblock",
        "Release a blocked task so it is worked on again: it goes to ready (todo while parents are still "
        "open) and the dispatcher starts a new run whose context includes the block reason. Answer the "
        "blocker first (kanban_comment on the task) so the next run knows what changed.",
        {"task_id": _string(_TASK_ID)},
        ("task_id",)),
)}

ORCHESTRATOR_TOOLS = ("kanban_list", "kanban_unblock")
WORKER_TOOLS = tuple(name for name in SCHEMAS if name not in ORCHESTRATOR_TOOLS)


# ---------------------------------------------------------------- who is calling

def caller_from_env(env: Mapping[str, str]) -> Caller:
    """The tools' door: a worker from KANBAN_TASK/RUN_ID/CLAIM_LOCK, else an operator."""
    return Caller.from_env(env, operator_name=normalize_profile(env.get("KANBAN_PROFILE")))


def granted_tools(conn: sqlite3.Connection, caller: Caller) -> list[str]:
    """A worker gets 7 tools, a worker whose run is an orchestrator's or a person all 9."""
    if not caller.is_worker:
        return list(SCHEMAS)
    try:
        orchestrator = db.read(conn, lambda c: prove(c, caller).orchestrator)
    except Refused:
        orchestrator = False
    return list(SCHEMAS if orchestrator else WORKER_TOOLS)


def available_tools(env: Mapping[str, str] = os.environ, caller: Caller | None = None) -> list[str]:
    """The tools `caller` (by default the one env describes) may call; a worker's run is looked up
    on the board env names."""
    caller = caller_from_env(env) if caller is None else caller
    if not caller.is_worker:
        return list(SCHEMAS)
    conn = db.connect(database_path(env))
    try:
        return granted_tools(conn, caller)
    finally:
        conn.close()


# ---------------------------------------------------------------- argument checking

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "boolean": (bool,), "array": (list,), "object": (dict,)}
_TYPE_WORDS = {"string": "a string", "integer": "an integer", "boolean": "true or false",
               "array": "a list", "object": "a JSON object"}


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _matches(value: Any, json_type: str) -> bool:
    if json_type == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[json_type])


def _check_args(name: str, args: Any) -> dict:
    """Validate args against the tool's schema by hand; null values count as left out."""
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise UsageError(f"{name} takes a JSON object of arguments, got {_type_name(args)}")
    schema = SCHEMAS[name]["input_schema"]
    properties = schema["properties"]
    unknown = sorted(key for key in args if key not in properties)
    if unknown:
        accepted = ", ".join(properties) or "no arguments"
        raise UsageError(f"{name} does not take {', '.join(unknown)}; it takes {accepted}")
    given = {key: value for key, value in args.items() if value is not None}
    missing = [key for key in schema["required"] if key not in given]
    if missing:
        raise UsageError(f"{name} needs {', '.join(missing)}")
    for key, value in given.items():
        spec = properties[key]
        if not _matches(value, spec["type"]):
            raise UsageError(f"{name}: {key} must be {_TYPE_WORDS[spec['type']]}, got {_type_name(value)}")
        if spec["type"] == "array" and not all(isinstance(item, str) for item in value):
            raise UsageError(f"{name}: {key} must be a list of strings")
        if "enum" in spec and value not in spec["enum"]:
            raise UsageError(f"{name}: {key} must be one of {', '.join(spec['enum'])}, got {value!r}")
        _check_value(name, key, value)
    return given


# Values are checked, not converted: the handlers and the kernel see what the caller sent.
_ID_KEYS = ("task_id", "parent_id", "child_id", "parents", "created_cards")
_NAME_KEYS = ("tenant", "idempotency_key")


def _check_value(name: str, key: str, value: Any) -> None:
    """The shared validators (kanban_tui.validate) on one argument; a refusal names the tool."""
    what = f"{name}: {key}"
    items = value if isinstance(value, list) else [value]
    if key in _ID_KEYS:
        for item in items:
            validate.task_id(item, what)
    elif key == "assignee":
        validate.profile(value, what)
    elif key in _NAME_KEYS:
        validate.name(value, what)
    elif key == "max_runtime_seconds":
        validate.duration(value, what)
    elif isinstance(value, dict):
        validate.json_object(value, what)
    elif isinstance(value, int) and not isinstance(value, bool):
        validate.integer(value, what)
    else:
        for item in items:
            if isinstance(item, str):
                validate.text(item, what)


# ---------------------------------------------------------------- the tools

Handler = Callable[[sqlite3.Connection, Caller, dict], dict]


def _resolve(conn: sqlite3.Connection, text: str) -> str:
    from kanban_tui.kernel.queries import resolve_id

    return resolve_id(conn, text)


def _target(conn: sqlite3.Connection, caller: Caller, args: dict, key: str = "task_id") -> str:
    text = args.get(key) or caller.task_id
    if not text:
        raise UsageError(f"{key} is required: this process is not a worker (no KANBAN_TASK), "
                         "so there is no own task to default to")
    return _resolve(conn, text)


def _own_target(conn: sqlite3.Connection, caller: Caller, args: dict) -> str:
    """The task a lifecycle tool changes; a worker may only change its own."""
    task_id = _target(conn, caller, args)
    caller.check_scope(task_id)
    return task_id


def _show(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    from kanban_tui.kernel.context import worker_context
    from kanban_tui.kernel.queries import show

    task_id = _target(conn, caller, args)
    shown = show(conn, task_id, event_limit=SHOW_EVENT_LIMIT)
    return {"task": shown["task"], "parents": shown["parents"], "children": shown["children"],
            "comments": shown["comments"], "runs": shown["runs"], "events": shown["events"],
            "worker_context": worker_context(conn, task_id)}


def _complete(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    task_id = _own_target(conn, caller, args)
    if not ((args.get("summary") or "").strip() or (args.get("result") or "").strip()):
        raise UsageError("kanban_complete needs a summary (what you did, for the next reader) or a result")
    done = transitions.complete(conn, task_id, summary=args.get("summary"), result=args.get("result"),
                                metadata=args.get("metadata"), created_cards=args.get("created_cards", ()),
                                caller=caller)
    return {"task_id": done["task_id"], "run_id": done["run_id"]}


def _block(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    task_id = _own_target(conn, caller, args)
    if not args["reason"].strip():
        raise UsageError("kanban_block needs a reason: the question a human must answer or what they must do")
    blocked = transitions.block(conn, task_id, reason=args["reason"], comment=True, caller=caller)
    return {"task_id": blocked["task_id"], "run_id": blocked["run_id"]}


def _heartbeat(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    task_id = _own_target(conn, caller, args)
    beat = transitions.heartbeat(conn, task_id, note=args.get("note"), caller=caller)
    return {"task_id": beat["task_id"], "run_id": beat["run_id"], "claim_expires": beat["claim_expires"]}


def _comment(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    task_id = _target(conn, caller, args)
    added = transitions.comment(conn, task_id, args["body"], caller=caller)
    return {"task_id": added["task_id"], "comment_id": added["comment_id"]}


def _workspace_spec(args: dict) -> str | None:
    kind, path = args.get("workspace_kind"), args.get("workspace_path")
    if kind in (None, "scratch"):
        if path is not None:
            raise UsageError("workspace_path is only for workspace_kind dir or worktree")
        return None
    if not path:
        raise UsageError(f"workspace_kind {kind} needs workspace_path (an absolute path)")
    return f"{kind}:{path}"


def _create(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    parents = [_resolve(conn, parent) for parent in args.get("parents", ())]
    created = transitions.create(
        conn, args["title"], body=args.get("body", ""), assignee=args["assignee"], parents=parents,
        tenant=args.get("tenant"), priority=args.get("priority", 0),
        triage=args.get("triage", False), workspace=_workspace_spec(args),
        idempotency_key=args.get("idempotency_key"), max_runtime=args.get("max_runtime_seconds"),
        created_by=caller.name, skills=args.get("skills", ()), caller=caller)
    return {"task_id": created["task_id"], "status": created["status"]}


def _link(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    linked = transitions.link(conn, _resolve(conn, args["parent_id"]), _resolve(conn, args["child_id"]))
    return {"parent_id": linked["parent"], "child_id": linked["child"], "child_status": linked["child_status"]}


def _list(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    from kanban_tui.kernel.queries import list_tasks

    limit = args.get("limit", LIST_DEFAULT_LIMIT)
    if limit < 1:
        raise UsageError(f"kanban_list: limit must be at least 1, got {limit}")
    limit = min(limit, LIST_MAX_LIMIT)
    assignee = normalize_profile(args["assignee"]) if "assignee" in args else None
    # One extra row tells whether the answer was cut short.
    tasks = list_tasks(conn, assignee=assignee, status=args.get("status"), tenant=args.get("tenant"),
                       include_archived=args.get("include_archived", False), limit=limit + 1)
    shown = [{key: value for key, value in task.items() if key != "body"} for task in tasks[:limit]]
    return {"tasks": shown, "count": len(shown), "limit": limit, "truncated": len(tasks) > limit}


def _unblock(conn: sqlite3.Connection, caller: Caller, args: dict) -> dict:
    released = transitions.unblock(conn, _resolve(conn, args["task_id"]), caller=caller)
    return {"task_id": released["task_id"], "status": released["status"]}


HANDLERS: dict[str, Handler] = {
    "kanban_show": _show, "kanban_complete": _complete, "kanban_block": _block,
    "kanban_heartbeat": _heartbeat, "kanban_comment": _comment, "kanban_create": _create,
    "kanban_link": _link, "kanban_list": _list, "kanban_unblock": _unblock,
}


# ---------------------------------------------------------------- the one entry point

def database_path(env: Mapping[str, str]) -> Path | str:
    """KANBAN_DB (a file or a PostgreSQL URL), else KANBAN_TUI_HOME/kanban.db, else the
    platform default home."""
    pinned = (env.get("KANBAN_DB") or "").strip()
    if is_postgres(pinned):
        return pinned
    if pinned:
        return Path(pinned).expanduser().absolute()
    from kanban_tui import paths

    board = paths.resolve(env=env)
    paths.ensure_home(board)
    return board.db


def _refuse_unavailable(name: str, granted: list[str]) -> None:
    if name not in SCHEMAS:
        raise UsageError(f"unknown tool {name!r}; the tools are {', '.join(granted)}")
    if name not in granted:
        raise Refused(f"{name} is for orchestrators; a worker has {', '.join(WORKER_TOOLS)}")


def call(name: str, args: Any = None, *, env: Mapping[str, str] | None = None,
         conn: sqlite3.Connection | None = None, caller: Caller | None = None) -> dict:
    """Run one tool as `caller` (by default the one env describes); never raises for bad input or
    refusals."""
    env = os.environ if env is None else env
    try:
        caller = caller_from_env(env) if caller is None else caller
        own_conn = conn is None
        connection = db.connect(database_path(env)) if own_conn else conn
        try:
            _refuse_unavailable(name, granted_tools(connection, caller))
            checked = _check_args(name, args)
            if name == "kanban_create" and "tenant" not in checked:
                tenant = (env.get("KANBAN_TENANT") or "").strip()
                if tenant:
                    checked["tenant"] = tenant
            return {"ok": True, **HANDLERS[name](connection, caller, checked)}
        finally:
            if own_conn:
                connection.close()
    except KanbanError as exc:
        return {"ok": False, "error": exc.message}
    except sqlite3.Error as exc:
        return {"ok": False, "error": f"database error: {exc}"}
