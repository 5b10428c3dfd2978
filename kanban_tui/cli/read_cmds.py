"""Verbs that read the board: list, show, runs, log, context, stats, assignees, tail, watch."""

from __future__ import annotations

import sys
import time

from kanban_tui import validate
from kanban_tui.cli import ID_HELP, checked, output
from kanban_tui.errors import NotFound, UsageError
from kanban_tui.kernel import queries
from kanban_tui.kernel.models import COLUMNS, EVENT_KINDS, STATUSES, normalize_profile

POLL_SECONDS = 0.2
SHOW_EVENTS = 30


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "list", aliases=["ls"], help="list cards by column, priority and age",
        description="List cards one per line: by column (Triage to Done), then priority (high first), then "
                    "age. Archived cards only with --archived or --status archived.")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--mine", action="store_true", help="only cards assigned to $KANBAN_PROFILE (else $USER)")
    who.add_argument("--assignee", metavar="PROFILE", type=checked(validate.name, "assignee"),
                     help="only cards assigned to this profile")
    p.add_argument("--status", choices=STATUSES, metavar="STATUS",
                   help=f"only cards in this status: {', '.join(STATUSES)} (default: all but archived)")
    p.add_argument("--tenant", metavar="T", type=checked(validate.name, "tenant"), help="only cards of this tenant")
    p.add_argument("--archived", action="store_true", help="include archived cards")
    _json_flag(p, "print an array of cards as JSON")
    p.set_defaults(handler=list_cmd)

    p = subparsers.add_parser(
        "show", help="a card with its links, comments, runs and events",
        description=f"Print a card: its fields, body, result, parents and children, comments, runs and "
                    f"its latest {SHOW_EVENTS} events (--json: every event).")
    _id_arg(p)
    _json_flag(p, "print {task, parents, children, comments, events, runs} as JSON")
    p.set_defaults(handler=show)

    p = subparsers.add_parser(
        "runs", help="every attempt at a card",
        description="Print every attempt at a card, oldest first: #, outcome, profile, elapsed, start, with "
                    "the summary (→) and the error (!) under each.")
    _id_arg(p)
    _json_flag(p, "print an array of runs as JSON")
    p.set_defaults(handler=runs)

    p = subparsers.add_parser(
        "log", help="print a card's worker log",
        description="Print a card's worker log, <home>/logs/<id>.log: what its workers wrote to stdout and "
                    "stderr, every attempt.")
    _id_arg(p)
    p.add_argument("--tail", type=checked(validate.integer, "byte count", minimum=1), metavar="BYTES",
                   help="only the last BYTES bytes (default: the whole log)")
    p.set_defaults(handler=log)

    p = subparsers.add_parser(
        "context", help="the markdown context a worker receives",
        description="Print the markdown a worker receives for this card (kanban_show's worker_context): "
                    "the body, prior attempts, parent results and the comment thread.")
    _id_arg(p)
    p.set_defaults(handler=context)

    p = subparsers.add_parser(
        "stats", help="counts by status and assignee, dispatcher health",
        description="Print how many cards each status and each assignee holds, the age of the oldest ready "
                    "card, and the dispatcher's health: who leads, the last tick, live workers / cap.")
    _json_flag(p, "print {by_status, by_assignee, oldest_ready_age_seconds, dispatcher} as JSON")
    p.set_defaults(handler=stats)

    p = subparsers.add_parser(
        "hosts", help="the hosts whose dispatchers serve this board",
        description="List every host that registered a dispatcher on this board (one per machine, or per "
                    "--host-id): alive or lost, its pid, lease, the profiles it spawns (any: it has a "
                    "default_command), live workers / cap and its last tick. A host whose lease ran out is "
                    "lost: its runs are reclaimed by a live host.")
    _json_flag(p, "print an array of {host_id, pid, alive, lease_expires, last_tick_at, profiles, "
                  "live_workers, max_workers} as JSON")
    p.set_defaults(handler=hosts_cmd)

    p = subparsers.add_parser(
        "assignees", help="assignees on the board and configured profiles",
        description="List every assignee on the board and every profile in config.yaml (configured or "
                    "not), with how many cards each holds per column.")
    _json_flag(p, "print an array of {name, configured, counts} as JSON")
    p.set_defaults(handler=assignees)

    p = subparsers.add_parser(
        "tail", help="a card's events, then follow until Ctrl-C",
        description="Print a card's events, then follow new ones until Ctrl-C, one per line: "
                    "[time] kind payload.")
    _id_arg(p)
    _json_flag(p, "print each event as JSON, one per line")
    p.set_defaults(handler=tail)

    p = subparsers.add_parser(
        "watch", help="new events board-wide until Ctrl-C",
        description="Print new events across the board until Ctrl-C, one per line: "
                    "[time] task kind (@assignee) payload. Starts from now; nothing earlier is replayed.",
        epilog="examples:\n"
               "  kanban-tui watch --kinds completed,blocked,gave_up,timed_out\n"
               "  kanban-tui watch --tenant content-ops --json")
    p.add_argument("--assignee", metavar="PROFILE", type=checked(validate.name, "assignee"),
                   help="only events of cards assigned to this profile")
    p.add_argument("--tenant", metavar="T", type=checked(validate.name, "tenant"),
                   help="only events of this tenant's cards")
    p.add_argument("--kinds", metavar="a,b", type=checked(validate.name, "kinds"),
                   help="only these event kinds, comma-separated (default: all)")
    _json_flag(p, "print each event as JSON, one per line")
    p.set_defaults(handler=watch)


def _id_arg(parser) -> None:
    parser.add_argument("id", metavar="ID", type=checked(validate.task_id, "task id"), help=ID_HELP)


def _json_flag(parser, text: str) -> None:
    parser.add_argument("--json", action="store_true", help=text)


# ---------------------------------------------------------------- list and show

def list_cmd(args, session) -> int:
    assignee = session.own_profile() if args.mine else args.assignee
    filters = dict(assignee=normalize_profile(assignee), status=args.status, tenant=args.tenant,
                   include_archived=args.archived)
    tasks = queries.list_tasks(session.conn, **filters)
    if args.json:
        output.emit_json(tasks)
    elif not tasks:
        output.line("No tasks.")
    else:
        output.table(("ID", "STATUS", "PRI", "ASSIGNEE", "TENANT", "TITLE"),
                     ((t["id"], t["status"], str(t["priority"]), output.inline(t["assignee"]),
                       output.inline(t["tenant"]), output.inline(t["title"])) for t in tasks))
    return 0


def show(args, session) -> int:
    task_id = session.task_id(args.id)
    detail = queries.show(session.conn, task_id, event_limit=None if args.json else SHOW_EVENTS)
    if args.json:
        output.emit_json(detail)
        return 0
    task = detail["task"]
    out = [f"{task['id']}  {output.inline(task['title'])}", *_meta_lines(task)]
    if task["body"]:
        out += ["", "Body", output.indented(task["body"])]
    if task["result"]:
        out += ["", "Result", output.indented(task["result"])]
    for heading in ("parents", "children"):
        if detail[heading]:
            out += ["", heading.capitalize(), *_related_lines(detail[heading])]
    if detail["comments"]:
        out += ["", "Comments"]
        for item in detail["comments"]:
            out += [f"  [{output.when(item['created_at'])}] {output.inline(item['author'])}",
                    output.indented(item["body"], "    ")]
    if detail["runs"]:
        out += ["", "Runs", *("  " + text for text in _run_lines(detail["runs"]))]
    if detail["events"]:
        out += ["", "Recent events", *("  " + _event_line(event) for event in detail["events"])]
    output.line("\n".join(out))
    return 0


def _meta_lines(task: dict) -> list[str]:
    inline = output.inline
    lines = [
        f"status: {task['status']}   priority: {task['priority']}   assignee: {inline(task['assignee'])}"
        f"   tenant: {inline(task['tenant'])}",
        f"created: {output.when(task['created_at'])} by {inline(task['created_by'])}"
        f"   started: {output.when(task['started_at'])}   completed: {output.when(task['completed_at'])}",
        f"workspace: {task['workspace_kind']}"
        + (f" {inline(task['workspace_path'])}" if task["workspace_path"] else ""),
    ]
    extras = []
    if task["skills"]:
        extras.append(f"skills: {inline(', '.join(task['skills']))}")
    if task["max_runtime_seconds"]:
        extras.append(f"max runtime: {output.duration(task['max_runtime_seconds'])}")
    if task["idempotency_key"]:
        extras.append(f"idempotency key: {inline(task['idempotency_key'])}")
    if extras:
        lines.append("   ".join(extras))
    if task["current_run_id"] is not None:
        lines.append(f"run: {task['current_run_id']}   pid: {inline(task['worker_pid'])}"
                     f"   lease until: {output.when(task['claim_expires'])}"
                     f"   heartbeat: {output.when(task['last_heartbeat_at'])}")
    if task["consecutive_failures"]:
        lines.append(f"failures: {task['consecutive_failures']}   last error: "
                     f"{inline(task['last_failure_error'])}")
    return lines


def _related_lines(tasks: list[dict]) -> list[str]:
    return ["  " + text for text in output.columns(
        ("ID", "STATUS", "ASSIGNEE", "TITLE"),
        ((t["id"], t["status"], output.inline(t["assignee"]), output.inline(t["title"])) for t in tasks))]


def _run_lines(run_list: list[dict]) -> list[str]:
    """`#  OUTCOME  PROFILE  ELAPSED  STARTED` rows, each followed by its summary and error."""
    now = time.time()
    rows = [(str(number), run["outcome"] or run["status"], output.inline(run["profile"]),
             output.duration((run["ended_at"] or now) - run["started_at"]), output.when(run["started_at"]))
            for number, run in enumerate(run_list, 1)]
    header, *formatted = output.columns(("#", "OUTCOME", "PROFILE", "ELAPSED", "STARTED"), rows)
    lines = [header]
    for text, run in zip(formatted, run_list):
        lines.append(text)
        if run["summary"]:
            lines.append("   → " + output.block(run["summary"]).replace("\n", "\n     "))
        if run["error"]:
            lines.append("   ! " + output.block(run["error"]).replace("\n", "\n     "))
        if run["metadata"]:
            lines.append("   metadata " + output.compact_json(run["metadata"]))
    return lines


def runs(args, session) -> int:
    task_id = session.task_id(args.id)
    run_list = queries.runs(session.conn, task_id)
    if args.json:
        output.emit_json(run_list)
    elif run_list:
        output.line("\n".join(_run_lines(run_list)))
    else:
        output.line(f"{task_id} has no runs yet.")
    return 0


# ---------------------------------------------------------------- log and context

def log(args, session) -> int:
    task_id = session.task_id(args.id)
    path = session.paths.log_for(task_id)
    try:
        with open(path, "rb") as handle:
            if args.tail:
                size = handle.seek(0, 2)
                handle.seek(max(0, size - args.tail))
            data = handle.read()
    except FileNotFoundError:
        raise NotFound(f"no log for {task_id} yet ({path})") from None
    output.stdout().write(output.block(data.decode("utf-8", errors="replace")))
    return 0


def context(args, session) -> int:
    from kanban_tui.kernel.context import worker_context

    task_id = session.task_id(args.id)
    output.line(output.block(worker_context(session.conn, task_id)))
    return 0


# ---------------------------------------------------------------- stats and assignees

HOST_FIELDS = ("host_id", "pid", "alive", "lease_expires", "last_tick_at", "profiles", "live_workers",
               "max_workers")


def _hosts(conn) -> list[dict]:
    from kanban_tui.kernel import hosts

    return [{key: host[key] for key in HOST_FIELDS} for host in hosts.listing(conn)]


def stats(args, session) -> int:
    from kanban_tui.kernel import lease

    report = queries.stats(session.conn)
    report["dispatcher"] = lease.status(session.conn) or {
        "leader": None, "last_tick_at": None, "live_workers": report["by_status"]["running"],
        "max_workers": session.config.dispatch.max_workers}
    report["dispatcher"]["hosts"] = _hosts(session.conn)
    if args.json:
        output.emit_json(report)
        return 0
    by_status = report["by_status"]
    out = ["Tasks: " + "  ".join(f"{status} {by_status[status]}" for status in STATUSES)]
    if report["oldest_ready_age_seconds"] is not None:
        out.append(f"Oldest ready: {output.duration(report['oldest_ready_age_seconds'])}")
    out.append("Dispatcher: " + _dispatcher_text(report["dispatcher"]))
    live = [host for host in report["dispatcher"]["hosts"] if host["alive"]]
    if len(report["dispatcher"]["hosts"]) > 1:
        out.append(f"Hosts: {len(live)} alive · {sum(h['live_workers'] for h in live)}/"
                   f"{sum(h['max_workers'] for h in live)} workers (kanban-tui hosts)")
    if report["by_assignee"]:
        out += ["", *output.columns(("ASSIGNEE", *(s.upper() for s in COLUMNS)),
                                    ((output.inline(name), *(str(counts[s]) for s in COLUMNS))
                                     for name, counts in report["by_assignee"].items()))]
    output.line("\n".join(out))
    return 0


def _dispatcher_text(status: dict) -> str:
    workers = f"workers {status['live_workers']}/{status['max_workers']}"
    if status["leader"] is None:
        return f"none leading, {workers}"
    return f"{output.inline(status['leader'])}, last tick {output.when(status['last_tick_at'])}, {workers}"


def hosts_cmd(args, session) -> int:
    from kanban_tui.kernel import hosts

    rows = hosts.listing(session.conn)
    if args.json:
        output.emit_json([{key: host[key] for key in HOST_FIELDS} for host in rows])
    elif rows:
        output.table(("HOST", "STATE", "PID", "WORKERS", "PROFILES", "LAST TICK", "LEASE UNTIL"),
                     ((output.inline(row["host_id"]), row["state"], str(row["pid"]),
                       f"{row['live_workers']}/{row['max_workers']}",
                       "any" if row["profiles"] is None else output.inline(",".join(row["profiles"]) or "-"),
                       output.when(row["last_tick_at"]), output.when(row["lease_expires"])) for row in rows))
    else:
        output.line("No host has run a dispatcher on this board yet (kanban-tui --dispatch-only).")
    return 0


def assignees(args, session) -> int:
    rows = queries.assignees(session.conn, session.config.profiles)
    if args.json:
        output.emit_json(rows)
    elif rows:
        output.table(("NAME", "CONFIGURED", *(s.upper() for s in COLUMNS)),
                     ((output.inline(row["name"]), "yes" if row["configured"] else "no",
                       *(str(row["counts"][s]) for s in COLUMNS)) for row in rows))
    else:
        output.line("No assignees and no configured profiles.")
    return 0


# ---------------------------------------------------------------- tail and watch

def tail(args, session) -> int:
    conn = session.conn
    task_id = session.task_id(args.id)

    def show_event(event: dict) -> None:
        if args.json:
            output.emit_json(event)
        else:
            output.line(_event_line(event))

    return _follow(lambda after: queries.events(conn, task_id, after=after), show_event, cursor=0)


def watch(args, session) -> int:
    conn = session.conn
    kinds = _kinds(args.kinds)
    assignee = normalize_profile(args.assignee)

    def fetch(after: int) -> list[dict]:
        return queries.watch_events(conn, after=after, kinds=kinds, tenant=args.tenant, assignee=assignee)

    def show_event(event: dict) -> None:
        if args.json:
            output.emit_json(event)
        else:
            output.line(f"[{output.when(event['created_at'])}] {event['task_id'] or '-'} {event['kind']} "
                        f"(@{output.inline(event['assignee'])}) {output.compact_json(event['payload'])}")

    return _follow(fetch, show_event, cursor=queries.max_event_id(conn))


def _kinds(text: str | None) -> list[str] | None:
    if text is None:
        return None
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in EVENT_KINDS]
    if unknown or not kinds:
        raise UsageError(f"--kinds: unknown event kind {', '.join(unknown) or repr(text)} "
                         f"(known: {', '.join(EVENT_KINDS)})")
    return kinds


def _event_line(event: dict) -> str:
    return f"[{output.when(event['created_at'])}] {event['kind']} {output.compact_json(event['payload'])}"


def _follow(fetch, show_event, *, cursor: int) -> int:
    """Print what fetch(cursor) returns, then poll the event cursor until interrupted."""
    while True:
        for event in fetch(cursor):
            show_event(event)
            cursor = event["id"]
        output.stdout().flush()
        time.sleep(POLL_SECONDS)
