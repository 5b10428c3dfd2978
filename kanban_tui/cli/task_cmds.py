"""Verbs that change cards: create, edit, assign, links, the run lifecycle and recovery."""

from __future__ import annotations

import sys
from typing import Callable

from kanban_tui import validate
from kanban_tui.cli import ID_HELP, IDS_HELP, checked, output, read_bounded, read_stdin
from kanban_tui.errors import KanbanError, UsageError
from kanban_tui.kernel import queries, stopping, transitions


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "create", help="create a card",
        description="Create a card. It starts in Ready, in Todo while a parent is not done yet, or in "
                    "Triage with --triage; a dispatcher then runs the assignee's profile on a ready card. "
                    "Prints `Created <id> (<status>, assignee=<name>)`, and a warning on stderr when the "
                    "card is ready and assigned but no dispatcher is running.",
        epilog="examples:\n"
               "  kanban-tui create \"Design auth schema\" --assignee backend-dev --priority 2\n"
               "  kanban-tui create \"Write auth tests\" --assignee qa-dev --parent t_1a2b\n"
               "  kanban-tui create \"Summarise the call\" --body-file notes.md --tenant content-ops")
    p.add_argument("title", nargs="+", metavar="TITLE", help="the title, one line (the words are joined)")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the body, markdown (default: empty)")
    body.add_argument("--body-file", metavar="PATH|-", help="read the body from a file, or from stdin with -")
    p.add_argument("--assignee", metavar="PROFILE", type=checked(validate.profile, "assignee"),
                   help="the profile that works on it (default: none; an unassigned card is never run)")
    p.add_argument("--parent", action="append", default=[], metavar="ID", type=checked(validate.task_id, "parent"),
                   help="a card that must be done before this one is ready (repeatable)")
    p.add_argument("--workspace", metavar="scratch|dir:PATH|worktree:PATH",
                   help="where the worker runs: scratch, <home>/workspaces/<id> kept across attempts (the "
                        "default); dir:PATH, an existing absolute folder; or worktree:PATH, a git worktree "
                        "of the repository at PATH on branch wt/<id>")
    p.add_argument("--tenant", metavar="T", type=checked(validate.name, "tenant"),
                   help="a project label to filter by (default: $KANBAN_TENANT inside a worker, else the "
                        "first parent's tenant, else none)")
    p.add_argument("--priority", type=checked(validate.integer, "priority"), default=0, metavar="N",
                   help="higher runs first, a 64-bit integer (default: 0)")
    p.add_argument("--triage", action="store_true", help="start in Triage, held until someone moves it on")
    p.add_argument("--idempotency-key", metavar="K", type=checked(validate.name, "idempotency key"),
                   help="when a card that is not archived has this key, print it instead of creating another")
    p.add_argument("--max-runtime", metavar="300|90s|30m|2h|1d", type=checked(validate.duration, "duration"),
                   help="stop a worker running longer than this; its run ends timed_out (default: no limit)")
    p.add_argument("--created-by", metavar="NAME", type=checked(validate.name, "creator"),
                   help="record this creator (default: $USER; refused inside a worker, which signs as its "
                        "profile)")
    p.add_argument("--skill", action="append", default=[], metavar="S", type=checked(validate.name, "skill"),
                   help="a skill for the worker, passed through the profile's {skill_args} (repeatable)")
    _json_flag(p, "print the card as JSON")
    p.set_defaults(handler=create)

    p = subparsers.add_parser(
        "edit", help="change title, body or priority",
        description="Change a card's title, body or priority; give at least one. To change who works on "
                    "it, use assign or reassign.")
    _id_arg(p)
    p.add_argument("--title", help="the new title, one line")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the new body, markdown (replaces the old one)")
    body.add_argument("--body-file", metavar="PATH|-", help="read the new body from a file, or from stdin with -")
    p.add_argument("--priority", type=checked(validate.integer, "priority"), metavar="N",
                   help="the new priority (higher runs first), a 64-bit integer")
    _json_flag(p, "print the changed fields as JSON")
    p.set_defaults(handler=edit)

    p = subparsers.add_parser(
        "assign", help="set the assignee (none unassigns)",
        description="Set the profile that works on a card, or unassign it with none. A running card is "
                    "refused: `reassign --reclaim` stops its worker first.")
    _id_arg(p)
    p.add_argument("profile", metavar="PROFILE|none", type=checked(validate.profile, "profile"),
                   help="a profile name, or none to unassign")
    _json_flag(p)
    p.set_defaults(handler=assign)

    p = subparsers.add_parser(
        "link", help="make P a parent of C",
        description="Make P a parent of C: C waits in Todo until P is done. Self-links and cycles are refused.")
    p.add_argument("parent", metavar="P", type=checked(validate.task_id, "task id"),
                   help="the parent card's id or a unique prefix")
    p.add_argument("child", metavar="C", type=checked(validate.task_id, "task id"),
                   help="the child card's id or a unique prefix")
    _json_flag(p)
    p.set_defaults(handler=link)

    p = subparsers.add_parser(
        "unlink", help="remove the link P -> C",
        description="Remove the link P -> C. A child in Todo that no longer waits on an open parent "
                    "becomes ready.")
    p.add_argument("parent", metavar="P", type=checked(validate.task_id, "task id"),
                   help="the parent card's id or a unique prefix")
    p.add_argument("child", metavar="C", type=checked(validate.task_id, "task id"),
                   help="the child card's id or a unique prefix")
    _json_flag(p)
    p.set_defaults(handler=unlink)

    p = subparsers.add_parser(
        "claim", help="claim a ready card by hand (opens a run)",
        description="Take a ready card by hand: open a run with a lease, within the same caps as the "
                    "dispatcher (dispatch.max_workers and the profile's max_workers). No worker is "
                    "started: you heartbeat, complete or block it yourself. A lease that runs out is "
                    "reclaimed by the dispatcher.")
    _id_arg(p)
    p.add_argument("--ttl", metavar="300|90s|30m|2h|1d", type=checked(validate.duration, "duration"),
                   help="the lease's length (default: dispatch.claim_ttl_seconds from config.yaml)")
    _json_flag(p)
    p.set_defaults(handler=claim)

    p = subparsers.add_parser(
        "heartbeat", help="extend a running card's lease",
        description="Extend a running card's lease by dispatch.claim_ttl_seconds, with an optional "
                    "progress note. Inside a worker, only its own card.")
    _id_arg(p)
    p.add_argument("--note", help="a progress note, recorded on the heartbeat event (default: none)")
    _json_flag(p)
    p.set_defaults(handler=heartbeat)

    p = subparsers.add_parser(
        "comment", help="add a comment",
        description="Add a comment to a card's thread. Workers sign as their profile; a person as "
                    "--author, else $USER.")
    _id_arg(p)
    p.add_argument("text", nargs="+", metavar="TEXT", help="the comment (the words are joined)")
    p.add_argument("--author", metavar="NAME", type=checked(validate.name, "author"),
                   help="sign as NAME (default: $USER; refused inside a worker)")
    _json_flag(p)
    p.set_defaults(handler=comment)

    p = subparsers.add_parser(
        "complete", help="mark cards done",
        description="Mark ready, running or blocked cards done: the open run closes as completed (a "
                    "person completing a running card has its worker stopped) and children whose parents "
                    "are all done become ready. A refusal of one card is reported and the rest still "
                    "complete.",
        epilog="examples:\n"
               "  kanban-tui complete t_1a2b --summary \"schema merged\" --metadata '{\"pr\": 42}'\n"
               "  kanban-tui complete t_1a2b t_3c4d")
    p.add_argument("ids", nargs="+", metavar="ID", type=checked(validate.task_id, "task id"), help=IDS_HELP)
    p.add_argument("--result", metavar="TEXT", help="the card's result, kept on the card (default: none)")
    p.add_argument("--summary", metavar="TEXT",
                   help="a handoff for the next reader, kept on the run and shown to the children's "
                        "workers (one id only)")
    p.add_argument("--metadata", metavar="JSON", type=checked(validate.json_object, "--metadata"),
                   help="a JSON object kept on the run, e.g. changed files or decisions (one id only)")
    _json_flag(p, "print an array of results as JSON")
    p.set_defaults(handler=complete)

    p = subparsers.add_parser(
        "block", help="block cards, with a reason",
        description="Stop cards for a human: ready, running, todo or triage cards move to Blocked and an "
                    "open run closes as blocked (a person blocking a running card has its worker stopped). "
                    "The reason is kept on the run and added as a comment; a worker must give one. "
                    "unblock resumes.",
        epilog="examples:\n"
               "  kanban-tui block t_1a2b waiting for staging credentials\n"
               "  kanban-tui block t_1a2b release freeze --ids t_3c4d t_5e6f")
    _id_arg(p)
    p.add_argument("reason", nargs="*", metavar="REASON",
                   help="what a human must answer or do (the words are joined; optional for a person)")
    p.add_argument("--ids", nargs="+", default=[], metavar="ID", type=checked(validate.task_id, "task id"),
                   help="more cards to block for the same reason")
    _json_flag(p, "print an array of results as JSON")
    p.set_defaults(handler=block)

    p = subparsers.add_parser(
        "unblock", help="return blocked cards to ready (or todo)",
        description="Return blocked cards to Ready (Todo while a parent is not done) and reset their "
                    "failure count; the next dispatch opens a new run.")
    p.add_argument("ids", nargs="+", metavar="ID", type=checked(validate.task_id, "task id"), help=IDS_HELP)
    _json_flag(p, "print an array of results as JSON")
    p.set_defaults(handler=unblock)

    p = subparsers.add_parser(
        "archive", help="hide cards (stops a live worker)",
        description="Take cards off the board and out of list (list --archived still shows them). A live "
                    "worker is stopped and its run closes as reclaimed; children waiting only on archived "
                    "or done parents become ready. gc later removes their scratch workspaces.")
    p.add_argument("ids", nargs="+", metavar="ID", type=checked(validate.task_id, "task id"), help=IDS_HELP)
    _json_flag(p, "print an array of results as JSON")
    p.set_defaults(handler=archive)

    p = subparsers.add_parser(
        "reclaim", help="stop a running card's worker and return it to ready",
        description="Take a running card back: close the run "
                    "as reclaimed, return the card to Ready (Todo when a parent reopened) and stop its worker "
                    "(TERM, then KILL after 1 s).")
    _id_arg(p)
    p.add_argument("--reason", metavar="TEXT", help="why, kept on the run (default: none)")
    _json_flag(p)
    p.set_defaults(handler=reclaim)

    p = subparsers.add_parser(
        "reassign", help="give a card to another profile",
        description="Give a card that is not done to another profile (none unassigns) and reset its failure "
                    "count. A running card is refused unless --reclaim stops its worker first.")
    _id_arg(p)
    p.add_argument("profile", metavar="PROFILE|none", type=checked(validate.profile, "profile"),
                   help="a profile name, or none to unassign")
    p.add_argument("--reclaim", action="store_true", help="stop a running worker first (its run ends reclaimed)")
    p.add_argument("--reason", metavar="TEXT", help="why, kept on the reassigned event (default: none)")
    _json_flag(p)
    p.set_defaults(handler=reassign)


def _id_arg(parser) -> None:
    parser.add_argument("id", metavar="ID", type=checked(validate.task_id, "task id"), help=ID_HELP)


def _json_flag(parser, text: str = "print the result as JSON") -> None:
    parser.add_argument("--json", action="store_true", help=text)


def _name(value: str | None) -> str:
    return output.inline(value)


def _read_body(path: str) -> str:
    if path == "-":
        return read_stdin("--body-file -")
    try:
        with open(path, "rb") as stream:
            return validate.utf8(read_bounded(stream, f"--body-file {path}"), f"--body-file {path}")
    except OSError as exc:
        raise UsageError(f"--body-file {path}: {exc.strerror or exc}") from None


def _body(args) -> str | None:
    return _read_body(args.body_file) if args.body_file is not None else args.body


def _report(args, result: dict, text: str) -> None:
    if args.json:
        output.emit_json(result)
    else:
        output.line(text)


def _for_each(args, task_ids: list[str], act: Callable[[str], dict], describe: Callable[[dict], str]) -> int:
    """Apply act to every id; a refusal of one is reported and the rest still run."""
    results, status = [], 0
    for task_id in task_ids:
        try:
            result = act(task_id)
        except KanbanError as exc:
            output.stderr().write(f"kanban-tui: {output.inline(exc.message)}\n")
            status = max(status, exc.exit_code)
            continue
        results.append(result)
        if not args.json:
            output.line(describe(result))
    if args.json:
        output.emit_json(results)
    return status


# ---------------------------------------------------------------- create and edit

def create(args, session) -> int:
    conn = session.conn
    session.refuse_in_worker(args.created_by, "--created-by")
    parents = session.task_ids(args.parent)
    result = transitions.create(
        conn, " ".join(args.title), body=_body(args) or "", assignee=args.assignee, parents=parents,
        tenant=args.tenant if args.tenant is not None else session.worker_tenant, priority=args.priority, triage=args.triage, workspace=args.workspace,
        idempotency_key=args.idempotency_key, max_runtime=args.max_runtime,
        created_by=args.created_by or session.caller.name, skills=args.skill, caller=session.caller)
    task_id = result["task_id"]
    if args.json:
        output.emit_json(queries.get_task(conn, task_id))
    else:
        verb = "Created" if result["created"] else "Exists"
        output.line(f"{verb} {task_id} ({result['status']}, assignee={_name(result['assignee'])})")
    if result["created"] and result["status"] == "ready" and result["assignee"]:
        _warn_when_nobody_dispatches(conn, task_id)
    return 0


def _warn_when_nobody_dispatches(conn, task_id: str) -> None:
    from kanban_tui.kernel import hosts

    if not hosts.live(conn):
        output.warn(f"no dispatcher is running, so {task_id} waits until one starts "
                    "(open the board, or run kanban-tui --dispatch-only)")


def edit(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.edit(session.conn, task_id, title=args.title, body=_body(args), priority=args.priority,
                              caller=session.caller)
    changed = ", ".join(result["changed"])
    _report(args, result, f"Edited {task_id} ({changed})" if changed else f"{task_id} unchanged")
    return 0


def assign(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.assign(session.conn, task_id, args.profile, caller=session.caller)
    if result["assignee"] is None:
        text = f"Unassigned {task_id} (was {_name(result['previous'])})"
    else:
        text = f"Assigned {task_id} to {_name(result['assignee'])} (was {_name(result['previous'])})"
    _report(args, result, text)
    return 0


def link(args, session) -> int:
    parent, child = session.task_id(args.parent), session.task_id(args.child)
    result = transitions.link(session.conn, parent, child)
    _report(args, result, f"Linked {parent} -> {child} (child is {result['child_status']})")
    return 0


def unlink(args, session) -> int:
    parent, child = session.task_id(args.parent), session.task_id(args.child)
    result = transitions.unlink(session.conn, parent, child)
    _report(args, result, f"Unlinked {parent} -> {child} (child is {result['child_status']})")
    return 0


# ---------------------------------------------------------------- the run lifecycle

def claim(args, session) -> int:
    task_id = session.task_id(args.id)
    session.caller.check_scope(task_id)
    config = session.config
    ttl = args.ttl if args.ttl is not None else config.dispatch.claim_ttl_seconds
    profile = config.profile(queries.get_task(session.conn, task_id)["assignee"])
    result = transitions.claim(session.conn, task_id, ttl=ttl, max_workers=config.dispatch.max_workers,
                               profile_max_workers=profile.max_workers if profile else None,
                               role=profile.role if profile else "worker", caller=session.caller)
    result = {key: value for key, value in result.items() if key != "claim_lock"}  # the run's secret
    _report(args, result, f"Claimed {task_id}: run {result['run_id']}, "
                          f"lease until {output.when(result['claim_expires'])}")
    return 0


def heartbeat(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.heartbeat(session.conn, task_id, note=args.note, caller=session.caller,
                                   ttl=session.config.dispatch.claim_ttl_seconds)
    _report(args, result, f"Heartbeat {task_id}: lease until {output.when(result['claim_expires'])}")
    return 0


def comment(args, session) -> int:
    task_id = session.task_id(args.id)
    session.refuse_in_worker(args.author, "--author")
    result = transitions.comment(session.conn, task_id, " ".join(args.text), author=args.author,
                                 caller=session.caller)
    author = result.pop("author")
    _report(args, result, f"Commented on {task_id} as {_name(author)}")
    return 0


def complete(args, session) -> int:
    if len(args.ids) > 1 and (args.summary is not None or args.metadata is not None):
        raise UsageError("--summary and --metadata describe one task: give a single id")
    task_ids = _scoped_ids(session, args.ids)

    def act(task_id: str) -> dict:
        return transitions.complete(session.conn, task_id, summary=args.summary, result=args.result,
                                    metadata=args.metadata, caller=session.caller)

    def describe(result: dict) -> str:
        promoted = f" (promoted {', '.join(result['promoted'])})" if result["promoted"] else ""
        return f"Completed {result['task_id']}{promoted}"

    return _stopping(session, _for_each(args, task_ids, act, describe))


def block(args, session) -> int:
    task_ids = _scoped_ids(session, [args.id, *args.ids])
    reason = " ".join(args.reason).strip() or None

    def act(task_id: str) -> dict:
        return transitions.block(session.conn, task_id, reason=reason, comment=True, caller=session.caller)

    suffix = f": {output.inline(reason)}" if reason else ""
    return _stopping(session, _for_each(args, task_ids, act, lambda result: f"Blocked {result['task_id']}{suffix}"))


def unblock(args, session) -> int:
    task_ids = _scoped_ids(session, args.ids)
    return _for_each(args, task_ids, lambda task_id: transitions.unblock(session.conn, task_id, caller=session.caller),
                     lambda result: f"Unblocked {result['task_id']} ({result['status']})")


def archive(args, session) -> int:
    task_ids = _scoped_ids(session, args.ids)
    return _stopping(session, _for_each(
        args, task_ids, lambda task_id: transitions.archive(session.conn, task_id, caller=session.caller),
        lambda result: f"Archived {result['task_id']}"))


def _scoped_ids(session, texts: list[str]) -> list[str]:
    """Resolve the ids, refusing the whole call when a worker names a card not its own."""
    task_ids = session.task_ids(texts)
    for task_id in task_ids:
        session.caller.check_scope(task_id)
    return task_ids


def _stopping(session, status: int) -> int:
    """After a commit that may have ended runs under live workers: stop them here when no
    dispatcher leads on this host (a worker only ends its own run, which is never stopped)."""
    if not session.caller.is_worker:
        stopping.stop_unowned(session.conn)
    return status


# ---------------------------------------------------------------- recovery

def reclaim(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.reclaim(session.conn, task_id, reason=args.reason, caller=session.caller)
    _stopping(session, 0)
    _report(args, result, f"Reclaimed {task_id}: run {result['run_id']} closed, now {result['status']}")
    return 0


def reassign(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.reassign(session.conn, task_id, args.profile, reclaim_first=args.reclaim,
                                  reason=args.reason, caller=session.caller)
    _stopping(session, 0)
    _report(args, result, f"Reassigned {task_id} to {_name(result['assignee'])} "
                          f"(was {_name(result['previous'])})")
    return 0
