"""Verbs that look after the board itself: init, gc, doctor and notification subscriptions."""

from __future__ import annotations

import argparse
import os

from kanban_tui import validate
from kanban_tui.cli import ID_HELP, checked, output
from kanban_tui.kernel import queries, transitions
from kanban_tui.kernel.dsn import redact


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "init", help="create the home, database and a commented config.yaml",
        description="Create the board's home (private to you), its database and a commented config.yaml, "
                    "then print where they are. An existing config.yaml is kept and checked. Every verb "
                    "does this on first use; run init to see the paths and get the config template.")
    p.set_defaults(handler=init)

    p = subparsers.add_parser(
        "gc", help="drop old events and logs, remove archived workspaces",
        description="Collect garbage of finished work: delete the events (except `created`) and worker logs "
                    "of done and archived cards once they are older than their retention, and remove the "
                    "scratch workspaces of archived cards.")
    p.add_argument("--event-retention-days", type=_days, default=30, metavar="DAYS",
                   help="keep a finished card's events younger than DAYS (default: 30)")
    p.add_argument("--log-retention-days", type=_days, default=30, metavar="DAYS",
                   help="keep a finished card's logs written to within DAYS (default: 30)")
    _json_flag(p, "print the counts of what was removed as JSON")
    p.set_defaults(handler=gc)

    p = subparsers.add_parser(
        "doctor", help="check every invariant; exit 1 when one is violated",
        description="Check the board's invariants (SQLite integrity, runs and leases, links and cycles, "
                    "column counts) and config.yaml (a config the board could not start with) and print "
                    "each violation, naming the card or the key. Exits 1 when one is violated, 0 when the "
                    "board is sound.")
    _json_flag(p, "print an array of violations as JSON")
    p.set_defaults(handler=doctor)

    p = subparsers.add_parser(
        "notify-subscribe", help="deliver a card's terminal events to a chat",
        description="Subscribe a chat to a card's terminal events (completed, blocked, gave_up, crashed, "
                    "timed_out): the leading dispatcher runs notify.command from config.yaml once for each "
                    "such event after the subscription, with the event, the subscription and the card as "
                    "JSON on stdin.",
        epilog="example:\n  kanban-tui notify-subscribe t_1a2b --platform slack --chat-id C024BE91L")
    _id_arg(p)
    _subscription_flags(p)
    p.add_argument("--thread-id", metavar="ID", type=checked(validate.name, "thread id"),
                   help="a thread within the chat (default: none)")
    p.add_argument("--user-id", metavar="ID", type=checked(validate.name, "user id"),
                   help="a user to address on that platform (default: none)")
    _json_flag(p)
    p.set_defaults(handler=notify_subscribe)

    p = subparsers.add_parser(
        "notify-list", help="notification subscriptions",
        description="List notification subscriptions: of one card, or of every card.")
    p.add_argument("id", nargs="?", metavar="ID", type=checked(validate.task_id, "task id"),
                   help="only this card's, by id or unique prefix (default: every card's)")
    _json_flag(p, "print an array of subscriptions as JSON")
    p.set_defaults(handler=notify_list)

    p = subparsers.add_parser(
        "notify-unsubscribe", help="stop delivering a card's events to a chat",
        description="Remove a card's subscription for one chat.")
    _id_arg(p)
    _subscription_flags(p)
    _json_flag(p)
    p.set_defaults(handler=notify_unsubscribe)


def _id_arg(parser) -> None:
    parser.add_argument("id", metavar="ID", type=checked(validate.task_id, "task id"), help=ID_HELP)


def _json_flag(parser, text: str = "print the result as JSON") -> None:
    parser.add_argument("--json", action="store_true", help=text)


def _subscription_flags(parser) -> None:
    parser.add_argument("--platform", required=True, metavar="P", type=checked(validate.name, "platform"),
                        help="the chat platform, handed to notify.command (e.g. slack)")
    parser.add_argument("--chat-id", required=True, metavar="C", type=checked(validate.name, "chat id"),
                        help="the chat or channel on that platform")


DAYS_MAX = 36500  # a century: beyond it a retention is a typo, and day arithmetic stays finite


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not 0 <= value <= DAYS_MAX:
        raise argparse.ArgumentTypeError(f"expected a number of days from 0 to {DAYS_MAX}, got {text!r}")
    return value


def init(args, session) -> int:
    from kanban_tui.config import default_config_text

    session.open()
    config_path = session.paths.config
    try:
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        config_note = "kept"
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(default_config_text())
        config_note = "written"
    profiles = len(session.config.profiles)  # loading validates a kept config: typos show now
    output.line(f"Board ready in {session.paths.home}\n  database: {redact(session.paths.db)}\n"
                f"  config:   {config_path} ({config_note}, {profiles} profile{'s' * (profiles != 1)})")
    return 0


def gc(args, session) -> int:
    from kanban_tui.kernel.gc import gc as collect

    report = collect(session.conn, session.paths, event_retention_days=args.event_retention_days,
                     log_retention_days=args.log_retention_days)
    if args.json:
        output.emit_json(report)
    else:
        output.line("\n".join(f"{key.replace('_', ' ')}: {output.compact_json(value)}"
                              for key, value in report.items()))
    return 0


def doctor(args, session) -> int:
    from kanban_tui.kernel.doctor import check, wal_problems

    # before opening, and instead of it: opening would put a fresh, empty WAL beside a live board
    problems = wal_problems(session.paths.db) or check(session.conn) + _config_problems(session)
    if args.json:
        output.emit_json(problems)
    elif problems:
        output.line("\n".join(output.inline(problem) for problem in problems))
    else:
        output.line("The board is sound.")
    return 1 if problems else 0


def _config_problems(session) -> list[str]:
    """A config.yaml that would stop the board from starting is a violation too."""
    from kanban_tui.errors import ConfigError

    try:
        session.config
    except ConfigError as exc:
        return exc.problems
    return []


def notify_subscribe(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.notify_subscribe(session.conn, task_id, platform=args.platform, chat_id=args.chat_id,
                                          thread_id=args.thread_id, user_id=args.user_id)
    if args.json:
        output.emit_json(result)
    else:
        output.line(f"Subscribed {output.inline(result['platform'])}:{output.inline(result['chat_id'])} "
                    f"to {task_id} (completed, blocked, gave_up, crashed, timed_out)")
    return 0


def notify_list(args, session) -> int:
    task_id = session.task_id(args.id) if args.id else None
    subscriptions = queries.notify_list(session.conn, task_id)
    if args.json:
        output.emit_json(subscriptions)
    elif subscriptions:
        output.table(("TASK", "PLATFORM", "CHAT", "THREAD", "USER", "SINCE"),
                     ((s["task_id"], output.inline(s["platform"]), output.inline(s["chat_id"]),
                       output.inline(s["thread_id"]), output.inline(s["user_id"]), output.when(s["created_at"]))
                      for s in subscriptions))
    else:
        output.line("No subscriptions.")
    return 0


def notify_unsubscribe(args, session) -> int:
    task_id = session.task_id(args.id)
    result = transitions.notify_unsubscribe(session.conn, task_id, platform=args.platform, chat_id=args.chat_id)
    if args.json:
        output.emit_json(result)
    else:
        output.line(f"Unsubscribed {output.inline(args.platform)}:{output.inline(args.chat_id)} from {task_id}")
    return 0
