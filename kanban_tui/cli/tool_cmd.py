"""`kanban-tui tool NAME [JSON|-]`, `kanban-tui tool --list` and `kanban-tui mcp`.

The shell and MCP surfaces of the worker tools (kanban_tui.tools). `tool` always prints one
JSON object: the tool's result (exit 0 when ok, 1 when not) or, for arguments that are not a
JSON object, an error in the same shape (exit 2), so an agent reading stdout never has to
parse a stderr message.
"""

from __future__ import annotations

from kanban_tui import validate
from kanban_tui.cli import read_stdin
from kanban_tui.cli.output import emit_json
from kanban_tui.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "tool", help="call a worker tool with JSON arguments (prints JSON)",
        description="Call one worker tool, as an agent would over MCP, and print its JSON result: exit 0 "
                    "when ok, 1 when refused, 2 when the arguments are not a JSON object. Inside a worker "
                    "(KANBAN_TASK set) they default to its own card; a worker gets seven tools, an "
                    "orchestrator or a person all nine.",
        epilog="examples:\n"
               "  kanban-tui tool --list\n"
               "  kanban-tui tool kanban_heartbeat '{\"note\": \"tests pass, writing docs\"}'\n"
               "  echo '{\"summary\": \"done\"}' | kanban-tui tool kanban_complete -")
    p.add_argument("name", nargs="?", metavar="NAME", help="the tool, e.g. kanban_heartbeat (--list names them)")
    p.add_argument("arguments", nargs="?", metavar="JSON|-",
                   help="a JSON object of arguments, or - to read it from stdin (default: {})")
    p.add_argument("--list", action="store_true", help="print the schemas of the tools this caller may use")
    p.set_defaults(handler=tool)

    p = subparsers.add_parser(
        "mcp", help="serve the worker tools over MCP on stdin/stdout",
        description="Serve the worker tools to an agent over MCP on stdin/stdout. The dispatcher registers "
                    "it for each run (see <home>/runs/<run id>/mcp.json) as `kanban-tui mcp --task ID "
                    "--run-id N`: the identity is pinned in argv, and what the agent's MCP client does not "
                    "pass on (many pass almost no environment) is read from that run's folder. Without "
                    "--task it serves whoever its environment describes.",
        epilog="examples:\n  kanban-tui mcp\n  kanban-tui mcp --task t_1a2b3c4d --run-id 12")
    p.add_argument("--task", metavar="ID", help="the worker's task, pinned (needs --run-id)")
    p.add_argument("--run-id", metavar="N", help="the run the worker holds, pinned (needs --task)")
    p.set_defaults(handler=mcp)


def _parse_arguments(text: str | None) -> dict:
    """The JSON arguments (stdin for '-'); raises UsageError with a one-line reason."""
    if text == "-":
        text = read_stdin("arguments on stdin")
    if text is None or not text.strip():
        return {}
    return validate.json_object(text, "arguments", """'{"note": "tests pass"}'""")


def tool(args, session) -> int:
    from kanban_tui import tools

    if args.list:
        if args.name or args.arguments:
            raise UsageError("tool --list takes no tool name or arguments")
        granted = tools.granted_tools(session.open(), tools.caller_from_env(session.env))
        emit_json([tools.SCHEMAS[name] for name in granted])
        return 0
    if not args.name:
        raise UsageError("tool: give a tool name (see `kanban-tui tool --list`)")
    try:
        arguments = _parse_arguments(args.arguments)
    except UsageError as exc:
        emit_json({"ok": False, "error": str(exc)})
        return 2
    result = tools.call(args.name, arguments, env=session.env, conn=session.open())
    emit_json(result)
    return 0 if result["ok"] else 1


def mcp(args, session) -> int:
    from kanban_tui.mcp_server import serve

    env = {**session.env, "KANBAN_DB": str(session.paths.db), "KANBAN_TUI_HOME": str(session.paths.home)}
    pinned = args.task is not None or args.run_id is not None
    if pinned:
        env = _pinned(args.task, args.run_id, env, session.paths.home)
    session.open()  # create the home and migrate now, so a bad database fails at start
    session.close()
    serve(env, pinned=pinned)
    return 0


def _pinned(task_id: str | None, run_text: str | None, env: dict, home) -> dict:
    """The worker identity for `mcp --task ID --run-id N`: argv names the run, its folder holds
    the rest (the claim lock is never on a command line), and an environment that contradicts
    argv is refused rather than silently overridden."""
    from kanban_tui.kernel import run_folder

    if not task_id or not run_text:
        raise UsageError("mcp: --task and --run-id go together")
    if not run_text.isdigit():
        raise UsageError(f"mcp: --run-id must be a run number, got {run_text!r}")
    run_id = str(int(run_text))
    recorded = run_folder.identity(home, int(run_id))
    for source, values in (("environment", env), ("run folder", recorded)):
        for name, pinned in (("KANBAN_TASK", task_id), ("KANBAN_RUN_ID", run_id)):
            if values.get(name) and values[name] != pinned:
                raise UsageError(f"mcp: {name}={values[name]} in the {source} contradicts the pinned {pinned}")
    return {**env, **recorded, "KANBAN_TASK": task_id, "KANBAN_RUN_ID": run_id}
