"""`kanban-tui [verb]`: the scriptable door into the kernel (README "Command line").

Verbs live in the modules of VERB_MODULES. Each has `register(subparsers)`, which adds its
subparsers and points them at handlers with `parser.set_defaults(handler=fn)`;
`fn(args, session) -> int | None` (None means 0) gets a `Session` (paths, lazy connection
and config, caller identity). A module may also define `register_options(parser)` for
top-level flags; such a flag picks its handler with
`add_argument(..., dest="handler", action="store_const", const=fn)`. Verb modules must stay
cheap to import (no Textual, YAML or psutil at module level): every call builds the parser.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys
from typing import Sequence

from kanban_tui.cli import output
from kanban_tui.errors import KanbanError, UsageError

VERB_MODULES = (
    "kanban_tui.cli.task_cmds",
    "kanban_tui.cli.read_cmds",
    "kanban_tui.cli.admin_cmds",
    "kanban_tui.cli.tool_cmd",
    "kanban_tui.cli.dispatch_cmd",
    "kanban_tui.cli.demo_cmd",
    "kanban_tui.cli.import_cmd",
    "kanban_tui.cli.profile_cmds",
)


class _Exit(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose to the terminal; keeps indented lines (examples) and blank lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        lines: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                lines.append(textwrap.fill(" ".join(prose), width, initial_indent=indent,
                                           subsequent_indent=indent, break_on_hyphens=False))
                prose.clear()

        for line in text.splitlines():
            if line and not line[0].isspace():
                prose.append(line)
            else:
                flush()
                lines.append(indent + line if line else "")
        flush()
        return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one line (exit 2) and never exits the interpreter."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{self.prog.removeprefix('kanban-tui ')}: {message}"
                         if self.prog != "kanban-tui" else message)

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            output.stderr().write(message)
        raise _Exit(status)

    def _print_message(self, message: str, file=None) -> None:  # help and usage: to the run's streams
        if message:
            (output.stderr() if file is sys.stderr else output.stdout()).write(message)


def checked(check, what: str = "value", **limits):
    """An argparse `type=` from a kanban_tui.validate check, so every flag is checked before any
    lookup; a refusal reads `argument --flag: <problem>` (exit 2)."""
    def convert(text: str):
        try:
            return check(text, what, **limits)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    convert.__name__ = check.__name__  # argparse names the type in some messages
    return convert


def read_stdin(what: str) -> str:
    """All of stdin as text; invalid UTF-8 is a UsageError, not a decoding traceback."""
    from kanban_tui import validate

    stream = output.stdin()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text stream handed in by a caller (tests, embedding)
        return validate.text(stream.read(validate.TEXT_MAX + 1), what)
    return validate.utf8(read_bounded(buffer, what), what)


def read_bounded(stream, what: str) -> bytes:
    """At most what validate.text accepts (in UTF-8), so `--body-file /dev/zero` ends."""
    from kanban_tui import validate

    limit = validate.TEXT_MAX * 4
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{what}: more than {limit} bytes; the limit is {validate.TEXT_MAX} characters")
    return data


# The help of the verb arguments that name cards.
ID_HELP = "the card's id, or a unique prefix of it (4+ characters after t_)"
IDS_HELP = "one or more cards: ids, or unique prefixes (4+ characters after t_)"
GLOBAL_OPTIONS = (
    ("--home", "DIR", "the board's folder: database, config.yaml, logs, workspaces "
                      "(default: $KANBAN_TUI_HOME, else kanban-tui in the user data dir)"),
    ("--db", "FILE|URL", "the database: a file, or a postgresql:// URL (default: $KANBAN_DB, else <home>/kanban.db)"),
    ("--host-id", "ID", "this host's name on a board shared by several machines: its dispatcher's runs, caps and "
                        "lease (default: $KANBAN_HOST_ID, else the hostname)"),
)
EPILOG = """\
start here:
  kanban-tui demo          a live demo board, played by real worker processes
  kanban-tui init          create the board; prints where its config.yaml is
  kanban-tui VERB --help   what a verb does: its flags, defaults and examples
  README.md                the board's keys, workers (profiles in config.yaml)"""


def build_parser() -> Parser:
    parser = Parser(prog="kanban-tui", description="A terminal control room for a fleet of agent workers. "
                    "Without a verb, opens the board (and leads the dispatcher when no other process does).",
                    epilog=EPILOG)
    for flag, metavar, text in GLOBAL_OPTIONS:
        parser.add_argument(flag, metavar=metavar, help=text)
    parser.set_defaults(handler=open_board)
    subparsers = parser.add_subparsers(title="verbs", metavar="VERB")
    for name in VERB_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
        if hasattr(module, "register_options"):
            module.register_options(parser)
    # --home/--db may also follow the verb; SUPPRESS keeps an absent one from hiding the global.
    for verb_parser in {id(p): p for p in subparsers.choices.values()}.values():
        group = verb_parser.add_argument_group("global options")
        for flag, metavar, text in GLOBAL_OPTIONS:
            group.add_argument(flag, metavar=metavar, default=argparse.SUPPRESS, help=text)
    return parser


def open_board(args: argparse.Namespace, session) -> int | None:
    """No verb: open the Textual board (the only place the CLI imports the app). The board's `:`
    line runs verbs through `run`, handed in: the app never imports the CLI."""
    from kanban_tui.app import run_app

    session.open()  # a fresh home is initialised and migrated before the app's connections open it
    config = session.config
    session.close()
    return run_app(session.paths, config, run_verb=run)


def main(argv: Sequence[str] | None = None) -> int:
    from kanban_tui.cli.output import inline, is_captured, stderr, stdout

    session = None
    if not is_captured() and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # a non-UTF-8 terminal never crashes us
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "host_id", None) is not None:
            from kanban_tui import validate

            # through the environment, so the dispatcher, the kernel and this CLI's children agree
            os.environ["KANBAN_HOST_ID"] = validate.name(args.host_id, "--host-id")
        from kanban_tui.cli.session import Session

        session = Session(args.home, args.db)
        status = args.handler(args, session) or 0
        stdout().flush()  # inside the try, so a closed pipe is reported like any other
        return status
    except _Exit as exc:
        return exc.status
    except KanbanError as exc:
        for problem in getattr(exc, "problems", [exc.message]):  # a config error lists every problem
            stderr().write(f"kanban-tui: {inline(problem)}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): point stdout at /dev/null so the final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except sqlite3.Error as exc:
        stderr().write(f"kanban-tui: database error: {inline(exc)}\n")
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        stderr().write(f"kanban-tui: {inline(where + (exc.strerror or str(exc)))}\n")
        return 1
    finally:
        if session is not None:
            session.close()


def run(argv: Sequence[str]) -> tuple[int, str, str]:
    """One CLI run inside another program (the board's `:` line): (exit code, stdout, stderr).
    Its output is captured for the calling thread only and its stdin is empty; the process-wide
    streams are never swapped."""
    from kanban_tui.cli.output import captured

    with captured() as (out, err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
