"""Everything needed to start one worker process: workspace, argv, env, log, exec (what a worker
receives is in the README, "Workers: make any agent a worker").

No database access: the dispatcher claims, then calls these, then records the pid.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from pathlib import Path
from typing import Mapping

from kanban_tui.errors import SpawnError
from kanban_tui.kernel.run_folder import MCP_CONFIG
from kanban_tui.paths import Paths

WORKER_SKILL = "kanban-worker"
LOG_ROTATE_BYTES = 2 * 1024 * 1024
_PLACEHOLDER = re.compile(r"\{(task_id|profile|workspace|prompt|home|db|mcp_config|mcp_dir)\}")
# Set for some workers only: a dispatcher that itself runs inside an orchestrator worker
# must not hand its own role or tenant down to every worker it starts.
_INHERITED_VARS = ("KANBAN_ROLE", "KANBAN_TENANT")


# -- workspaces -------------------------------------------------------------------------


def workspace_path(paths: Paths, task: Mapping) -> Path:
    """Where the task's worker will run, without creating anything (for dry runs)."""
    kind = task["workspace_kind"]
    if kind == "worktree":
        return Path(task["workspace_path"]) / ".worktrees" / task["id"]
    if kind == "dir":
        return Path(task["workspace_path"])
    return paths.workspaces / task["id"]


def resolve_workspace(paths: Paths, task: Mapping) -> tuple[Path, bool]:
    """(workspace path, managed). Only managed paths may ever be deleted by gc.

    scratch   -> <home>/workspaces/<task_id>, created or reused across attempts (managed)
    dir       -> the absolute path; created when missing if its parent exists, so a typo
                 deep in a path fails instead of conjuring a tree of folders
    worktree  -> <repo>/.worktrees/<task_id> on branch wt/<task_id>, reused across attempts
    """
    kind = task.get("workspace_kind") or "scratch"
    if kind == "scratch":
        return _scratch(paths, task["id"]), True
    if kind == "dir":
        return _directory(task.get("workspace_path")), False
    if kind == "worktree":
        return _worktree(task.get("workspace_path"), task["id"]), False
    raise SpawnError(f"unknown workspace kind {kind!r}")


def _scratch(paths: Paths, task_id: str) -> Path:
    workspace = paths.workspaces / task_id
    try:
        workspace.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SpawnError(f"cannot create workspace {workspace}: {exc.strerror}") from None
    return workspace


def _absolute(kind: str, value: str | None) -> Path:
    if not value or not os.path.isabs(value):
        raise SpawnError(f"{kind} workspace path must be absolute, got {value!r}")
    return Path(value)


def _directory(value: str | None) -> Path:
    folder = _absolute("dir", value)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise SpawnError(f"workspace {folder} is not a directory")
    if not folder.parent.is_dir():
        raise SpawnError(f"workspace {folder} does not exist, nor does its parent folder")
    try:
        folder.mkdir()
    except FileExistsError:
        pass
    except OSError as exc:
        raise SpawnError(f"cannot create workspace {folder}: {exc.strerror}") from None
    return folder


def _worktree(value: str | None, task_id: str) -> Path:
    repo = _absolute("worktree", value)
    worktree = repo / ".worktrees" / task_id
    if (worktree / ".git").exists():
        return worktree
    branch = f"wt/{task_id}"
    if _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False):
        # A previous attempt's worktree folder was removed; its branch (and work) remains.
        _git(repo, "worktree", "prune")
        _git(repo, "worktree", "add", str(worktree), branch)
    else:
        _git(repo, "worktree", "add", str(worktree), "-b", branch)
    return worktree


def _git(repo: Path, *args: str, check: bool = True) -> bool:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
    except OSError as exc:
        raise SpawnError(f"cannot run git: {exc.strerror}") from None
    if check and done.returncode != 0:
        detail = "; ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise SpawnError(f"git {' '.join(args[:2])} failed in {repo}: {detail or f'exit {done.returncode}'}")
    return done.returncode == 0


# -- argv and environment ---------------------------------------------------------------


def build_argv(command: list[str], *, task_id: str, profile: str, workspace: Path | str,
               home: Path | str, db: Path | str, skills: list[str],
               skill_args: list[str], mcp_dir: Path | str | None = None) -> list[str]:
    """Fill placeholders in each element; an element exactly `{skill_args}` becomes the
    skill_args template once per skill (kanban-worker first, duplicates dropped).
    `{mcp_config}`/`{mcp_dir}` name the run folder when there is one, else stay as written."""
    values = {"task_id": task_id, "profile": profile, "workspace": str(workspace),
              "prompt": f"work kanban task {task_id}", "home": str(home), "db": str(db)}
    if mcp_dir is not None:
        values.update(mcp_dir=str(mcp_dir), mcp_config=os.path.join(mcp_dir, MCP_CONFIG))

    def fill(element: str) -> str:
        # One pass, so a substituted value containing "{...}" is never expanded again.
        return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), element)

    argv: list[str] = []
    for element in command:
        if element == "{skill_args}":
            for skill in dict.fromkeys([WORKER_SKILL, *skills]):
                argv.extend(fill(arg.replace("{skill}", skill)) for arg in skill_args)
        else:
            argv.append(fill(element))
    return argv


def build_env(base_env: Mapping[str, str], *, task_id: str, run_id: int, claim_lock: str,
              workspace: Path | str, db: Path | str, home: Path | str, profile: str,
              tenant: str | None, role: str,
              profile_env: Mapping[str, str] | None) -> dict[str, str]:
    """The dispatcher's environment plus the worker's identity; the profile's env wins."""
    env = dict(base_env)
    for name in _INHERITED_VARS:
        env.pop(name, None)
    env.update({
        "KANBAN_TASK": task_id,
        "KANBAN_RUN_ID": str(run_id),
        "KANBAN_CLAIM_LOCK": claim_lock,
        "KANBAN_WORKSPACE": str(workspace),
        "KANBAN_DB": str(db),
        "KANBAN_TUI_HOME": str(home),
        "KANBAN_PROFILE": profile,
    })
    if tenant:
        env["KANBAN_TENANT"] = tenant
    if role == "orchestrator":
        env["KANBAN_ROLE"] = "orchestrator"
    env.update(profile_env or {})
    return env


# -- log and process --------------------------------------------------------------------


def open_log(log_path: Path):
    """The task's log opened for appending (0600), rotated to `.log.1` when over 2 MiB."""
    try:
        if log_path.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(log_path, log_path.with_name(log_path.name + ".1"))
    except FileNotFoundError:
        log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "ab", buffering=0)


# The worker is held at a gate until the dispatcher has recorded it: `sh` waits for one line on
# its stdin (a pipe only the dispatcher writes), then execs the worker in place (same pid, same
# start time, stdin back to /dev/null). So the `spawned` event always precedes anything the
# worker does, and a worker whose record failed never starts (EOF: the shim just exits).
GATE_SHIM = ("/bin/sh", "-c", 'read -r go && exec "$@" </dev/null', "kanban-worker-gate")


def spawn(argv: list[str], env: Mapping[str, str], cwd: Path | str, log_path: Path) -> subprocess.Popen:
    """Start argv (no shell of its own) in its own session, output appended to the log, held at
    the gate: call `release` once the worker is recorded, `cancel` when it must not run."""
    if not argv:
        raise SpawnError("cannot start worker: the command is empty")
    executable = _executable(argv[0], env, cwd)
    try:
        log = open_log(log_path)
    except OSError as exc:
        raise SpawnError(f"cannot open log {log_path}: {exc.strerror}") from None
    with log:
        try:
            return subprocess.Popen([*GATE_SHIM, executable, *argv[1:]], stdin=subprocess.PIPE, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=cwd, env=env, start_new_session=True,
                                    close_fds=True)
        except OSError as exc:
            raise SpawnError(_start_failure(argv[0], cwd, exc)) from None


def release(proc: subprocess.Popen) -> None:
    """Let a gated worker exec (it is recorded); a shim that already died is left to be reaped."""
    try:
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass


def cancel(proc: subprocess.Popen) -> None:
    """Close the gate without releasing it: the shim exits and the worker never runs."""
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass


def _executable(name: str, env: Mapping[str, str], cwd: Path | str) -> str:
    """Resolve argv[0] the way exec would (PATH of the worker's env), so a missing or non-executable
    command is still a spawn failure rather than the gate shim's exit 127."""
    if "/" in name:
        candidates = [os.path.join(cwd, name)]
    else:
        candidates = [os.path.join(folder or ".", name) for folder in os.get_exec_path(dict(env))]
    denied = None
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return os.path.abspath(candidate)
            denied = candidate
    errno_ = errno.EACCES if denied else errno.ENOENT
    raise SpawnError(f"cannot start {name!r}: {os.strerror(errno_)}")


def _start_failure(executable: str, cwd: Path | str, exc: OSError) -> str:
    if exc.filename is not None and os.fspath(exc.filename) == os.fspath(cwd):
        return f"cannot enter workspace {cwd}: {exc.strerror}"
    return f"cannot start {executable!r}: {exc.strerror or exc}"
