"""Verbs that change cards: create, edit, assign, links, the run lifecycle and recovery."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from kanban_tui.cli import output
from kanban_tui.errors import KanbanError, UsageError
from kanban_tui.kernel import queries, transitions
from kanban_tui.kernel.models import parse_duration


def register(subparsers) -> None:
    p = subparsers.add_parser("create", help="create a card")
    p.add_argument("title", nargs="+", metavar="TITLE")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", help="markdown body")
    body.add_argument("--body-file", metavar="PATH|-", help="read the body from a file, or stdin with -")
    p.add_argument("--assignee", help="profile that will work on it")
    p.add_argument("--parent", action="append", default=[], metavar="ID", help="a parent (repeatable)")
    p.add_argument("--workspace", metavar="scratch|dir:PATH|worktree:PATH")
    p.add_argument("--tenant")
    p.add_argument("--priority", type=int, default=0, metavar="N")
    p.add_argument("--triage", action="store_true", help="start in triage")
    p.add_argument("--idempotency-key", metavar="K", help="return the live card with this key instead")
    p.add_argument("--max-runtime", metavar="300|90s|30m|2h|1d")
    p.add_argument("--created-by")
    p.add_argument("--skill", action="append", default=[], metavar="S", help="a worker skill (repeatable)")
    _json_flag(p)
    p.set_defaults(handler=create)

    p = subparsers.add_parser("edit", help="change title, body or priority")
    p.add_argument("id")
    p.add_argument("--title")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body")
    body.add_argument("--body-file", metavar="PATH|-")
    p.add_argument("--priority", type=int, metavar="N")
    _json_flag(p)
    p.set_defaults(handler=edit)

    p = subparsers.add_parser("assign", help="set the assignee (none unassigns)")
    p.add_argument("id")
    p.add_argument("profile", metavar="PROFILE|none")
    _json_flag(p)
    p.set_defaults(handler=assign)

    for verb, handler, text in (("link", link, "make P a parent of C"), ("unlink", unlink, "remove the link P -> C")):
        p = subparsers.add_parser(verb, help=text)
        p.add_argument("parent", metavar="P")
        p.add_argument("child", metavar="C")
        _json_flag(p)
        p.set_defaults(handler=handler)

    p = subparsers.add_parser("claim", help="claim a ready card (opens a run)")
    p.add_argument("id")
    p.add_argument("--ttl", metavar="S", help="lease length (default: dispatch.claim_ttl_seconds)")
    _json_flag(p)
    p.set_defaults(handler=claim)

    p = subparsers.add_parser("heartbeat", help="extend a running card's lease")
    p.add_argument("id")
    p.add_argument("--note")
    _json_flag(p)
    p.set_defaults(handler=heartbeat)

    p = subparsers.add_parser("comment", help="add a comment")
    p.add_argument("id")
    p.add_argument("text", nargs="+", metavar="TEXT")
    p.add_argument("--author", help="sign as (refused inside a worker)")
    _json_flag(p)
    p.set_defaults(handler=comment)

    p = subparsers.add_parser("complete", help="mark cards done")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--result")
    p.add_argument("--summary", help="handoff for the next reader (one id only)")
    p.add_argument("--metadata", metavar="JSON", help="a JSON object (one id only)")
    _json_flag(p)
    p.set_defaults(handler=complete)

    p = subparsers.add_parser("block", help="block cards, with a reason")
    p.add_argument("id")
    p.add_argument("reason", nargs="*", metavar="REASON")
    p.add_argument("--ids", nargs="+", default=[], metavar="ID", help="more cards to block for the same reason")
    _json_flag(p)
    p.set_defaults(handler=block)

    for verb, handler, text in (("unblock", unblock, "return blocked cards to ready (or todo)"),
                                ("archive", archive, "hide cards (stops a live worker)")):
        p = subparsers.add_parser(verb, help=text)
        p.add_argument("ids", nargs="+", metavar="ID")
        _json_flag(p)
        p.set_defaults(handler=handler)

    p = subparsers.add_parser("reclaim", help="stop a running card's worker and return it to ready")
    p.add_argument("id")
    p.add_argument("--reason")
    _json_flag(p)
    p.set_defaults(handler=reclaim)

    p = subparsers.add_parser("reassign", help="give a card to another profile")
    p.add_argument("id")
    p.add_argument("profile", metavar="PROFILE|none")
    p.add_argument("--reclaim", action="store_true", help="stop a running worker first")
    p.add_argument("--reason")
    _json_flag(p)
    p.set_defaults(handler=reassign)


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _name(value: str | None) -> str:
    return output.inline(value)


def _read_body(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--body-file {path}: not UTF-8 text") from None
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
            sys.stderr.write(f"kanban-tui: {output.inline(exc.message)}\n")
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
    parents = session.task_ids(args.parent)
    result = transitions.create(
        conn, " ".join(args.title), body=_body(args) or "", assignee=args.assignee, parents=parents,
        tenant=args.tenant if args.tenant is not None else session.worker_tenant, priority=args.priority, triage=args.triage, workspace=args.workspace,
        idempotency_key=args.idempotency_key, max_runtime=args.max_runtime,
        created_by=session.identity(args.created_by, flag="--created-by"), skills=args.skill)
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
    from kanban_tui.kernel import lease

    if lease.status(conn) is None:
        output.warn(f"no dispatcher is running, so {task_id} waits until one starts "
                    "(open the board, or run kanban-tui --dispatch-only)")


def edit(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.edit(session.conn, task_id, title=args.title, body=_body(args), priority=args.priority)
    changed = ", ".join(result["changed"])
    _report(args, result, f"Edited {task_id} ({changed})" if changed else f"{task_id} unchanged")
    return 0


def assign(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.assign(session.conn, task_id, args.profile)
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
    config = session.config
    ttl = parse_duration(args.ttl) if args.ttl is not None else config.dispatch.claim_ttl_seconds
    profile = config.profile(queries.get_task(session.conn, task_id)["assignee"])
    result = transitions.claim(session.conn, task_id, ttl=ttl, max_workers=config.dispatch.max_workers,
                               profile_max_workers=profile.max_workers if profile else None)
    _report(args, result, f"Claimed {task_id}: run {result['run_id']}, "
                          f"lease until {output.when(result['claim_expires'])}")
    return 0


def heartbeat(args, session) -> int:
    task_id = session.task_id(args.id)
    session.check_worker_scope(task_id)
    result = transitions.heartbeat(session.conn, task_id, note=args.note, run_id=session.worker_run_id,
                                   ttl=session.config.dispatch.claim_ttl_seconds)
    _report(args, result, f"Heartbeat {task_id}: lease until {output.when(result['claim_expires'])}")
    return 0


def comment(args, session) -> int:
    task_id = session.task_id(args.id)
    author = session.identity(args.author)
    result = transitions.comment(session.conn, task_id, " ".join(args.text), author=author)
    _report(args, result, f"Commented on {task_id} as {_name(author)}")
    return 0


def complete(args, session) -> int:
    if len(args.ids) > 1 and (args.summary is not None or args.metadata is not None):
        raise UsageError("--summary and --metadata describe one task: give a single id")
    task_ids = session.task_ids(args.ids)
    for task_id in task_ids:
        session.check_worker_scope(task_id)

    def act(task_id: str) -> dict:
        return transitions.complete(session.conn, task_id, summary=args.summary, result=args.result,
                                    metadata=args.metadata, run_id=session.worker_run_id)

    def describe(result: dict) -> str:
        promoted = f" (promoted {', '.join(result['promoted'])})" if result["promoted"] else ""
        return f"Completed {result['task_id']}{promoted}"

    return _for_each(args, task_ids, act, describe)


def block(args, session) -> int:
    task_ids = session.task_ids([args.id, *args.ids])
    for task_id in task_ids:
        session.check_worker_scope(task_id)
    reason = " ".join(args.reason).strip() or None
    author = session.identity()

    def act(task_id: str) -> dict:
        return transitions.block(session.conn, task_id, reason=reason, run_id=session.worker_run_id,
                                 comment_author=author)

    suffix = f": {output.inline(reason)}" if reason else ""
    return _for_each(args, task_ids, act, lambda result: f"Blocked {result['task_id']}{suffix}")


def unblock(args, session) -> int:
    task_ids = session.task_ids(args.ids)
    return _for_each(args, task_ids, lambda task_id: transitions.unblock(session.conn, task_id),
                     lambda result: f"Unblocked {result['task_id']} ({result['status']})")


def archive(args, session) -> int:
    task_ids = session.task_ids(args.ids)
    return _for_each(args, task_ids, lambda task_id: transitions.archive(session.conn, task_id),
                     lambda result: f"Archived {result['task_id']}")


# ---------------------------------------------------------------- recovery

def reclaim(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.reclaim(session.conn, task_id, reason=args.reason)
    _report(args, result, f"Reclaimed {task_id}: run {result['run_id']} closed, now {result['status']}")
    return 0


def reassign(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.reassign(session.conn, task_id, args.profile, reclaim_first=args.reclaim,
                                  reason=args.reason)
    _report(args, result, f"Reassigned {task_id} to {_name(result['assignee'])} "
                          f"(was {_name(result['previous'])})")
    return 0
