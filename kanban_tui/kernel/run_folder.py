"""A run's MCP registration (SPEC 14): `<home>/runs/<run_id>/`, written at spawn, removed when
the run ends.

Agent CLIs start `kanban-tui mcp` as their own child and many pass it almost no environment,
so the worker's identity travels in the registration instead: `mcp.json` (the `mcpServers`
format most clients read) names this `kanban-tui` by absolute path, pins the task and run in
its argv and carries the identity in its `env`. Presets add their own CLI's format beside it.
The folder is 0700 and its files 0600: `mcp.json` holds the claim lock.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Mapping

from kanban_tui.paths import Paths

SERVER_NAME = "kanban"
MCP_CONFIG = "mcp.json"
# The worker identity SPEC 6 gives a worker process; the server needs the same.
IDENTITY_VARS = ("KANBAN_TASK", "KANBAN_RUN_ID", "KANBAN_CLAIM_LOCK", "KANBAN_DB", "KANBAN_TUI_HOME",
                 "KANBAN_PROFILE", "KANBAN_TENANT", "KANBAN_ROLE")


class McpServer:
    """How an agent CLI starts the run's `kanban-tui mcp`: command, args and env."""

    __slots__ = ("command", "args", "env")

    def __init__(self, command: str, args: list[str], env: dict[str, str]):
        self.command = command
        self.args = args
        self.env = env

    @property
    def argv(self) -> list[str]:
        return [self.command, *self.args]

    def entry(self) -> dict:
        return {"command": self.command, "args": list(self.args), "env": dict(self.env)}


def kanban_command() -> list[str]:
    """This installation's `kanban-tui`: the console script beside the interpreter (a venv or
    pipx install), else the interpreter running the package, so the agent never picks up a
    different `kanban-tui` from its PATH."""
    script = Path(sys.executable).with_name("kanban-tui")
    if os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "kanban_tui"]


def server_for(worker_env: Mapping[str, str], *, task_id: str, run_id: int) -> McpServer:
    """The server registration for a run, its identity taken from the worker's environment."""
    program, *prefix = kanban_command()
    env = {name: worker_env[name] for name in IDENTITY_VARS if worker_env.get(name)}
    return McpServer(program, [*prefix, "mcp", "--task", task_id, "--run-id", str(run_id)], env)


def mcp_json(server: McpServer) -> str:
    return json.dumps({"mcpServers": {SERVER_NAME: server.entry()}}, indent=2, ensure_ascii=False) + "\n"


def folder(paths: Paths, run_id: int) -> Path:
    return paths.home / "runs" / str(run_id)


def write(paths: Paths, run_id: int, server: McpServer, extra: Mapping[str, str] | None = None) -> Path:
    """Create the run folder with `mcp.json` plus `extra` files (relative path -> text)."""
    target = folder(paths, run_id)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.mkdir(mode=0o700, exist_ok=True)
    for name, text in {MCP_CONFIG: mcp_json(server), **(extra or {})}.items():
        path = target / name
        if path.parent != target:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_TRUNC: a retried run id never exists, but a folder left by a crash may.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    return target


def remove(paths: Paths, run_id: int) -> None:
    shutil.rmtree(folder(paths, run_id), ignore_errors=True)


def sweep(paths: Paths, open_runs: set[int]) -> None:
    """Remove the folders of runs that are no longer open (only run-numbered folders)."""
    try:
        names = os.listdir(paths.home / "runs")
    except FileNotFoundError:
        return
    for name in names:
        if name.isdigit() and int(name) not in open_runs:
            remove(paths, int(name))


def identity(home: Path, run_id: int) -> dict[str, str]:
    """The identity written for a run (empty when its folder is gone or unreadable)."""
    try:
        with open(home / "runs" / str(run_id) / MCP_CONFIG, encoding="utf-8") as handle:
            env = json.load(handle)["mcpServers"][SERVER_NAME]["env"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {name: value for name, value in env.items() if name in IDENTITY_VARS and isinstance(value, str)}
