"""Verbs that look after the board itself: init, gc, doctor and notification subscriptions."""

from __future__ import annotations

import argparse
import os

from kanban_tui.cli import output
from kanban_tui.kernel import queries, transitions


def register(subparsers) -> None:
    p = subparsers.add_parser("init", help="create the home, database and a commented config.yaml")
    p.set_defaults(handler=init)

    p = subparsers.add_parser("gc", help="drop old events and logs, remove archived workspaces")
    p.add_argument("--event-retention-days", type=_days, default=30, metavar="DAYS")
    p.add_argument("--log-retention-days", type=_days, default=30, metavar="DAYS")
    _json_flag(p)
    p.set_defaults(handler=gc)

    p = subparsers.add_parser("doctor", help="check every invariant; exit 1 when one is violated")
    _json_flag(p)
    p.set_defaults(handler=doctor)

    p = subparsers.add_parser("notify-subscribe", help="deliver a card's terminal events to a chat")
    p.add_argument("id")
    _subscription_flags(p)
    p.add_argument("--thread-id")
    p.add_argument("--user-id")
    _json_flag(p)
    p.set_defaults(handler=notify_subscribe)

    p = subparsers.add_parser("notify-list", help="notification subscriptions")
    p.add_argument("id", nargs="?")
    _json_flag(p)
    p.set_defaults(handler=notify_list)

    p = subparsers.add_parser("notify-unsubscribe", help="stop delivering a card's events to a chat")
    p.add_argument("id")
    _subscription_flags(p)
    _json_flag(p)
    p.set_defaults(handler=notify_unsubscribe)


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _subscription_flags(parser) -> None:
    parser.add_argument("--platform", required=True, metavar="P")
    parser.add_argument("--chat-id", required=True, metavar="C")


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text!r}")
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
    output.line(f"Board ready in {session.paths.home}\n  database: {session.paths.db}\n"
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
    from kanban_tui.kernel.doctor import check

    problems = check(session.conn)
    if args.json:
        output.emit_json(problems)
    elif problems:
        output.line("\n".join(output.inline(problem) for problem in problems))
    else:
        output.line("The board is sound.")
    return 1 if problems else 0


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
