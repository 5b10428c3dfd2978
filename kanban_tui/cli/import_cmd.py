"""`import SOURCE`: copy a Hermes Kanban or kanban-tui board into this one (SPEC 15)."""

from __future__ import annotations

import argparse

from kanban_tui.cli import output

COUNTS = ("tasks", "links", "comments", "runs", "events", "notify_subs")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import", help="copy a Hermes Kanban or kanban-tui board into this one",
        description="Copy a board into this one: its cards with their ids, links, comments, runs, events and "
                    "notification subscriptions, in one transaction (all or nothing). SOURCE is read from a "
                    "private copy of its database with its -wal and -shm, so a live board is never written to. "
                    "Hermes statuses map one to one, except scheduled -> todo and review -> blocked; running "
                    "cards land in ready with their open run closed as reclaimed. Every card gets an "
                    "`imported` event naming the source and its original status.",
        epilog="examples:\n"
               "  kanban-tui import ~/.hermes                      the default Hermes board\n"
               "  kanban-tui import ~/.hermes --board research     a named board (kanban/boards/research)\n"
               "  kanban-tui import old/kanban.db --dry-run        what would arrive, writing nothing\n"
               "  kanban-tui import broken.db --salvage --json     every row still readable")
    p.add_argument("source", metavar="SOURCE",
                   help="a kanban-tui board (its kanban.db, or its home folder), a Hermes kanban.db, or a "
                        "Hermes root folder such as ~/.hermes")
    p.add_argument("--board", metavar="SLUG",
                   help="with a Hermes root folder: the named board under kanban/boards/ "
                        "(default: the default board, <root>/kanban.db)")
    p.add_argument("--tenant", metavar="T", type=_name,
                   help="put every imported card in tenant T (default: each keeps its own)")
    p.add_argument("--skip-existing", action="store_true",
                   help="when some card ids are already on this board, import the others and list those as "
                        "skipped (default: refuse and import nothing)")
    p.add_argument("--salvage", action="store_true",
                   help="import a source that fails PRAGMA integrity_check: every row that can still be read, "
                        "with the rest listed as skipped (default: refuse it)")
    p.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON: {source, format, counts, mapped, skipped, dry_run}")
    p.set_defaults(handler=import_board)


def _name(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value.strip()


def import_board(args, session) -> int:
    from kanban_tui.kernel.importers import import_board as run

    report = run(session.conn, args.source, board=args.board, tenant=args.tenant,
                 skip_existing=args.skip_existing, salvage=args.salvage, dry_run=args.dry_run,
                 target=session.paths.db)
    if args.json:
        output.emit_json(report)
    else:
        _print(report)
    return 0


def _print(report: dict) -> None:
    counts = ", ".join(f"{report['counts'][name]} {name.replace('_', ' ')}" for name in COUNTS)
    verb = "Would import" if report["dry_run"] else "Imported"
    output.line(f"{verb} from {output.inline(report['source'])} ({report['format']}): {counts}")
    for what, value in report["mapped"].items():
        if isinstance(value, dict):
            value = ", ".join(f"{change} {n}" if isinstance(n, int) else f"{change} -> {n}"
                              for change, n in value.items())
        output.line(f"  {what.replace('_', ' ')}: {output.inline(value)}")
    if report["skipped"]:
        output.line(f"skipped ({len(report['skipped'])}):")
        for entry in report["skipped"]:
            where = " ".join(str(part) for part in (entry["table"], entry["id"]) if part is not None)
            output.line(f"  {output.inline(where or 'source')}: {output.inline(entry['reason'])}")
    if report["dry_run"]:
        output.line("Dry run: nothing was written.")
