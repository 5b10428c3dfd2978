"""What one run of a task executes: argv, environment and run-folder files (SPEC 6, 14).

The dispatcher spawns from this, and `kanban-tui profile check` prints it without spawning,
so a profile can be checked without spending tokens. No database access, nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, NamedTuple

from kanban_tui import presets
from kanban_tui.config import DEFAULT_SKILL_ARGS, Config
from kanban_tui.kernel import run_folder, spawn
from kanban_tui.paths import Paths


class Invocation(NamedTuple):
    argv: list[str]
    env: dict[str, str]
    run_dir: Path
    server: run_folder.McpServer
    files: dict[str, str]       # besides mcp.json, relative to run_dir
    result_check: str | None    # presets.RESULT_CHECKS name


def plan(config: Config, paths: Paths, *, task_id: str, assignee: str, tenant: str | None, skills: list[str],
         run_id: int, claim_lock: str, workspace: Path | str, base_env: Mapping[str, str]) -> Invocation | None:
    """The invocation for run `run_id` of task `task_id`; None when `assignee` has no command
    (not spawnable)."""
    command = config.command_for(assignee)
    if command is None:
        return None
    profile = config.profile(assignee)
    run_dir = run_folder.folder(paths, run_id)
    profile_env = profile.env if profile else {}
    env = spawn.build_env(base_env, task_id=task_id, run_id=run_id, claim_lock=claim_lock,
                          workspace=workspace, db=paths.db, home=paths.home, profile=assignee,
                          tenant=tenant, role=profile.role if profile else "worker", profile_env=profile_env)
    server = run_folder.server_for(env, task_id=task_id, run_id=run_id)

    def fill(words: list[str]) -> list[str]:
        return spawn.build_argv(words, task_id=task_id, profile=assignee, workspace=workspace,
                                home=paths.home, db=paths.db, skills=skills,
                                skill_args=profile.skill_args if profile else list(DEFAULT_SKILL_ARGS),
                                mcp_dir=run_dir)

    if profile is None or profile.preset is None:
        return Invocation(fill(command), env, run_dir, server, {}, None)
    expansion = presets.expand(profile.preset, server, run_dir, task_id=task_id,
                               command=fill(profile.command) if profile.command else None,
                               args=fill(profile.args))
    # The preset's variables go in beneath the profile's own, which still win.
    return Invocation(expansion.argv, {**env, **expansion.env, **profile_env}, run_dir, server,
                      expansion.files, expansion.result_check)
