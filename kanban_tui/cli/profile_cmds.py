"""`presets`, `profile add` and `profile check`: agent CLIs as workers, set up and checked
without spending a token (SPEC 14)."""

from __future__ import annotations

import argparse
import shlex

from kanban_tui.cli import GLOBAL_OPTIONS, output
from kanban_tui.errors import Refused, UsageError

SAMPLE_LOCK = "<claim lock>"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "presets", help="the agent CLIs a profile can name, with the exact command each runs",
        description="List the presets a profile can name with `preset:` and the exact argv each expands "
                    "to for a sample task: the agent CLI's headless one-shot mode with the run's MCP "
                    "server registered its way and only the kanban tools pre-approved.")
    p.add_argument("--json", action="store_true", help="print an array of {name, description, argv}")
    p.set_defaults(handler=list_presets)

    p = subparsers.add_parser("profile", help="add a profile to config.yaml, or check what one runs",
                              description="Add a preset profile to config.yaml, or check one.")
    verbs = p.add_subparsers(title="actions", metavar="ACTION")
    add = verbs.add_parser(
        "add", help="write a preset profile into config.yaml (comments and order kept)",
        description="Add profile NAME to config.yaml with `preset: P`, editing the file in place so its "
                    "comments and order are kept. An existing profile of that name is refused.",
        epilog="examples:\n  kanban-tui profile add reviewer --preset claude-code --max-workers 2\n"
               "  kanban-tui profile add ops --preset shell --command '/opt/bots/ops.sh {task_id}'")
    add.add_argument("name", metavar="NAME", help="the profile, i.e. the assignee whose cards it runs")
    add.add_argument("--preset", required=True, metavar="P", help="the agent CLI (see `kanban-tui presets`)")
    add.add_argument("--max-workers", type=_positive, metavar="N", help="live workers for this profile")
    add.add_argument("--command", metavar="CMD",
                     help="the program (split shell-style): required for shell, else replaces the CLI's name")
    add.set_defaults(handler=profile_add)
    check = verbs.add_parser(
        "check", help="print what a profile runs for a card: argv, env names, MCP files (a dry run)",
        description="Show what the dispatcher would run for a card of this profile, without claiming or "
                    "starting anything: the argv, the names of the variables added to its environment, "
                    "and the files of the run folder (mcp.json first). The claim lock is a placeholder.")
    check.add_argument("name", metavar="NAME", help="the profile (assignee)")
    check.add_argument("--task", metavar="ID", help="a card to plan for (default: a sample card)")
    check.add_argument("--json", action="store_true", help="print {argv, env, run_dir, files, result_check}")
    check.set_defaults(handler=profile_check)
    p.set_defaults(handler=lambda args, session: p.error("give an action: add or check"))
    for action in (add, check):  # the top-level parser adds these to verbs, not to their actions
        group = action.add_argument_group("global options")
        for flag, metavar, text in GLOBAL_OPTIONS:
            group.add_argument(flag, metavar=metavar, default=argparse.SUPPRESS, help=text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--max-workers must be a positive integer, got {text!r}")
    return int(text)


def _sample(session, assignee: str, config, task_id: str | None = None):
    from kanban_tui.kernel import invocation, run_folder, spawn
    from kanban_tui.presets import SAMPLE_RUN, SAMPLE_TASK

    tenant, skills, workspace = None, [], session.paths.workspaces / SAMPLE_TASK
    if task_id is not None:
        from kanban_tui.kernel import queries

        task = queries.get_task(session.conn, session.task_id(task_id))
        task_id, tenant, skills = task["id"], task["tenant"], task["skills"]
        workspace = spawn.workspace_path(session.paths, task)
    planned = invocation.plan(config, session.paths, task_id=task_id or SAMPLE_TASK, assignee=assignee,
                              tenant=tenant, skills=skills, run_id=SAMPLE_RUN, claim_lock=SAMPLE_LOCK,
                              workspace=workspace, base_env={})
    if planned is None:
        raise Refused(f"{assignee} is not spawnable: no profile of that name and no default_command")
    return planned, {run_folder.MCP_CONFIG: run_folder.mcp_json(planned.server), **planned.files}


def list_presets(args, session) -> int:
    from kanban_tui.config import Config, Profile
    from kanban_tui.presets import PRESETS

    rows = []
    for preset in PRESETS.values():
        profile = Profile(name="sample", preset=preset.name,
                          command=None if preset.program else ["/path/to/your-script"])
        planned, _ = _sample(session, "sample", Config(profiles={"sample": profile}))
        rows.append({"name": preset.name, "description": preset.description, "argv": planned.argv})
    if args.json:
        output.emit_json(rows)
        return 0
    for row in rows:
        output.line(f"{row['name']}: {output.inline(row['description'])}")
        output.line(f"  {output.inline(shlex.join(row['argv']))}")
    return 0


def profile_add(args, session) -> int:
    from kanban_tui.config import default_config_text
    from kanban_tui.config_edit import add_profile
    from kanban_tui.paths import ensure_home
    from kanban_tui.presets import NAMES

    if args.preset not in NAMES:
        raise UsageError(f"profile add: unknown preset {args.preset!r}; the presets are {', '.join(NAMES)}")
    settings: dict = {"preset": args.preset}
    if args.command is not None:
        try:
            settings["command"] = shlex.split(args.command)
        except ValueError as exc:
            raise UsageError(f"--command: cannot split {args.command!r}: {exc}") from None
        if not settings["command"]:
            raise UsageError("--command must not be empty")
    elif args.preset == "shell":
        raise UsageError("preset shell runs your own script: give it with --command")
    if args.max_workers is not None:
        settings["max_workers"] = args.max_workers
    ensure_home(session.paths)  # a fresh home is created private, as every verb does
    name = add_profile(session.paths.config, args.name, settings, default_config_text())
    output.line(f"Added profile {name} (preset {args.preset}) to {session.paths.config}")
    output.line(f"  check it without spending tokens: kanban-tui profile check {name}")
    return 0


def profile_check(args, session) -> int:
    planned, files = _sample(session, args.name, session.config, args.task)
    report = {"argv": planned.argv, "env": sorted(planned.env), "run_dir": str(planned.run_dir),
              "files": files, "result_check": planned.result_check}
    if args.json:
        output.emit_json(report)
        return 0
    output.line(f"argv: {output.inline(shlex.join(planned.argv))}")
    output.line(f"env (added): {' '.join(report['env'])}")
    output.line(f"result check: {planned.result_check or '-'}")
    for name, text in files.items():
        output.line(f"{planned.run_dir / name}:")
        output.line(output.indented(text))
    return 0
