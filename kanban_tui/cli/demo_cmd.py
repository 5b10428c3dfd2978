"""`kanban-tui demo [--reset] [--no-open]`: a live demo board played by scripted workers."""

from __future__ import annotations

import argparse

from kanban_tui.cli import output
from kanban_tui.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="open a live demo board: the four stories, played by scripted workers",
        description="Seed a demo board in its own home (the user data dir's kanban-tui-demo, or "
                    "--home) and open it with the dispatcher leading. Scripted workers play the four "
                    "stories in under a minute; a 'demo operator' card unblocks the review for you. "
                    "Running it again reuses the board as it was; --reset plays it from the start.")
    p.add_argument("--reset", action="store_true",
                   help="start over: delete the demo home's database, logs and workspaces first")
    p.add_argument("--no-open", action="store_true",
                   help="seed the board and write its config, print the home, do not open it "
                        "(then e.g. kanban-tui --home <home> --dispatch-only)")
    p.set_defaults(handler=demo)


def demo(args: argparse.Namespace, session) -> int | None:
    from kanban_tui.config import load_config
    from kanban_tui.demo import home, seed
    from kanban_tui.kernel import db

    if args.db:
        raise UsageError("demo keeps its database in its own home; give --home instead of --db")
    paths = home.demo_paths(args.home)
    home.check_is_demo_home(paths)
    if args.reset:
        home.reset(paths)
    home.write_config(paths)
    config = load_config(paths.config)
    conn = db.connect(paths.db)
    try:
        seed.seed(conn)
    finally:
        conn.close()
    if args.no_open:
        output.line(str(paths.home))
        return 0
    from kanban_tui.app import run_app
    from kanban_tui.cli import run

    return run_app(paths, config, run_verb=run)
