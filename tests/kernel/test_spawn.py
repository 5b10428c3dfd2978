import json
import os
import stat
import subprocess
import sys
import time

import pytest

from kanban_tui.errors import SpawnError
from kanban_tui.kernel import spawn
from kanban_tui.paths import Paths

TASK_ID = "t_0123abcd"
GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


@pytest.fixture
def paths(tmp_path):
    home = tmp_path / "home"
    return Paths(home=home, db=home / "kanban.db")


def argv_for(command, *, skills=(), skill_args=("--skills", "{skill}")):
    return spawn.build_argv(command, task_id=TASK_ID, profile="backend-dev", workspace="/ws",
                            home="/h", db="/h/kanban.db", skills=list(skills),
                            skill_args=list(skill_args))


# -- argv ---------------------------------------------------------------------------------


def test_placeholders_are_substituted_inside_elements():
    argv = argv_for(["agent", "--task={task_id}", "-p", "{profile}", "{prompt}", "--cwd", "{workspace}",
                     "{home}:{db}"])
    assert argv == ["agent", "--task=t_0123abcd", "-p", "backend-dev", "work kanban task t_0123abcd",
                    "--cwd", "/ws", "/h:/h/kanban.db"]


def test_other_braces_survive():
    assert argv_for(["agent", '{"json": {task_id}}', "{unknown}", "{}"]) == \
        ["agent", '{"json": t_0123abcd}', "{unknown}", "{}"]


def test_substituted_values_are_not_expanded_again():
    argv = spawn.build_argv(["a", "{workspace}"], task_id=TASK_ID, profile="p", workspace="/x/{task_id}",
                            home="/h", db="/d", skills=[], skill_args=[])
    assert argv == ["a", "/x/{task_id}"]


def test_skill_args_expand_once_per_skill_worker_skill_first_deduplicated():
    argv = argv_for(["agent", "{skill_args}", "--go"], skills=["rust", "kanban-worker", "sql", "rust"])
    assert argv == ["agent", "--skills", "kanban-worker", "--skills", "rust", "--skills", "sql", "--go"]


def test_skill_args_template_may_use_other_placeholders():
    argv = argv_for(["agent", "{skill_args}"], skills=["sql"], skill_args=["--skill={home}/skills/{skill}"])
    assert argv == ["agent", "--skill=/h/skills/kanban-worker", "--skill=/h/skills/sql"]


def test_skill_args_only_expand_as_a_whole_element():
    assert argv_for(["agent", "x{skill_args}"]) == ["agent", "x{skill_args}"]


# -- env ----------------------------------------------------------------------------------


def env_for(base, **overrides):
    args = dict(task_id=TASK_ID, run_id=7, claim_lock="lock-1", workspace=f"/ws/{TASK_ID}", db="/h/kanban.db",
                home="/h", profile="backend-dev", tenant=None, role="worker", profile_env={})
    args.update(overrides)
    return spawn.build_env(base, **args)


def test_env_carries_the_worker_identity():
    env = env_for({"PATH": "/bin", "HOME": "/root"})
    assert env == {"PATH": "/bin", "HOME": "/root", "KANBAN_TASK": TASK_ID, "KANBAN_RUN_ID": "7",
                   "KANBAN_CLAIM_LOCK": "lock-1", "KANBAN_WORKSPACE": f"/ws/{TASK_ID}",
                   "KANBAN_DB": "/h/kanban.db", "KANBAN_TUI_HOME": "/h", "KANBAN_PROFILE": "backend-dev"}


def test_inherited_role_and_tenant_are_dropped_for_plain_workers():
    env = env_for({"KANBAN_ROLE": "orchestrator", "KANBAN_TENANT": "old", "KANBAN_TASK": "t_ffffffff"})
    assert "KANBAN_ROLE" not in env and "KANBAN_TENANT" not in env
    assert env["KANBAN_TASK"] == TASK_ID


def test_orchestrators_and_tenants_are_marked():
    env = env_for({}, tenant="acme", role="orchestrator")
    assert env["KANBAN_TENANT"] == "acme" and env["KANBAN_ROLE"] == "orchestrator"


def test_profile_env_wins():
    env = env_for({"MODEL": "slow"}, profile_env={"MODEL": "fast", "KANBAN_PROFILE": "override"})
    assert env["MODEL"] == "fast" and env["KANBAN_PROFILE"] == "override"


def test_base_env_is_not_modified():
    base = {"KANBAN_ROLE": "orchestrator"}
    env_for(base)
    assert base == {"KANBAN_ROLE": "orchestrator"}


# -- workspaces ---------------------------------------------------------------------------


def test_scratch_workspace_is_managed_and_reused(paths):
    workspace, managed = spawn.resolve_workspace(paths, {"id": TASK_ID, "workspace_kind": "scratch",
                                                         "workspace_path": None})
    assert (workspace, managed) == (paths.workspaces / TASK_ID, True)
    (workspace / "notes.txt").write_text("from attempt 1")
    again, _ = spawn.resolve_workspace(paths, {"id": TASK_ID, "workspace_kind": "scratch",
                                               "workspace_path": None})
    assert (again / "notes.txt").read_text() == "from attempt 1"


def test_dir_workspace_is_used_as_is_and_never_managed(paths, tmp_path):
    task = {"id": TASK_ID, "workspace_kind": "dir", "workspace_path": str(tmp_path)}
    assert spawn.resolve_workspace(paths, task) == (tmp_path, False)


def test_dir_workspace_is_created_when_only_the_leaf_is_missing(paths, tmp_path):
    task = {"id": TASK_ID, "workspace_kind": "dir", "workspace_path": str(tmp_path / "new")}
    assert spawn.resolve_workspace(paths, task) == (tmp_path / "new", False)
    assert (tmp_path / "new").is_dir()


@pytest.mark.parametrize("path, message", [
    ("relative/path", "must be absolute"),
    (None, "must be absolute"),
    ("/nonexistent-kanban-parent/leaf", "nor does its parent"),
])
def test_bad_dir_workspaces_are_spawn_errors(paths, path, message):
    with pytest.raises(SpawnError, match=message):
        spawn.resolve_workspace(paths, {"id": TASK_ID, "workspace_kind": "dir", "workspace_path": path})


def test_dir_workspace_that_is_a_file_is_refused(paths, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpawnError, match="not a directory"):
        spawn.resolve_workspace(paths, {"id": TASK_ID, "workspace_kind": "dir",
                                        "workspace_path": str(tmp_path / "file")})


def git(repo, *args):
    subprocess.run(["git", *GIT_IDENTITY, "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "README").write_text("hello\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def test_worktree_workspace_gets_its_own_branch_and_is_reused(paths, repo):
    task = {"id": TASK_ID, "workspace_kind": "worktree", "workspace_path": str(repo)}
    workspace, managed = spawn.resolve_workspace(paths, task)
    assert (workspace, managed) == (repo / ".worktrees" / TASK_ID, False)
    assert (workspace / "README").read_text() == "hello\n"
    branch = subprocess.run(["git", "-C", str(workspace), "branch", "--show-current"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert branch == f"wt/{TASK_ID}"
    (workspace / "wip.txt").write_text("attempt 1")
    assert spawn.resolve_workspace(paths, task) == (workspace, False)
    assert (workspace / "wip.txt").read_text() == "attempt 1"


def test_worktree_is_recreated_from_its_branch_after_removal(paths, repo):
    task = {"id": TASK_ID, "workspace_kind": "worktree", "workspace_path": str(repo)}
    workspace, _ = spawn.resolve_workspace(paths, task)
    (workspace / "done.txt").write_text("committed work")
    git(workspace, "add", "done.txt")
    git(workspace, "commit", "-q", "-m", "attempt 1")
    subprocess.run(["rm", "-rf", str(workspace)], check=True)
    again, _ = spawn.resolve_workspace(paths, task)
    assert (again / "done.txt").read_text() == "committed work"


def test_worktree_failure_is_a_one_line_spawn_error(paths, tmp_path):
    not_a_repo = tmp_path / "plain"
    not_a_repo.mkdir()
    with pytest.raises(SpawnError) as caught:
        spawn.resolve_workspace(paths, {"id": TASK_ID, "workspace_kind": "worktree",
                                        "workspace_path": str(not_a_repo)})
    message = str(caught.value)
    assert message.startswith(f"git worktree add failed in {not_a_repo}: ")
    assert "not a git repository" in message and "\n" not in message


# -- log ----------------------------------------------------------------------------------


def test_log_is_appended_with_mode_0600(tmp_path):
    log_path = tmp_path / "logs" / f"{TASK_ID}.log"
    for line in (b"first\n", b"second\n"):
        with spawn.open_log(log_path) as log:
            log.write(line)
    assert log_path.read_bytes() == b"first\nsecond\n"
    assert stat.S_IMODE(os.stat(log_path).st_mode) == 0o600


def test_log_over_2_mib_is_rotated_once(tmp_path):
    log_path = tmp_path / f"{TASK_ID}.log"
    backup = tmp_path / f"{TASK_ID}.log.1"
    log_path.write_bytes(b"x" * spawn.LOG_ROTATE_BYTES)
    spawn.open_log(log_path).close()
    assert not backup.exists(), "exactly 2 MiB is not over the limit"
    log_path.write_bytes(b"y" * (spawn.LOG_ROTATE_BYTES + 1))
    backup.write_bytes(b"older backup")
    with spawn.open_log(log_path) as log:
        log.write(b"fresh\n")
    assert log_path.read_bytes() == b"fresh\n"
    assert backup.read_bytes() == b"y" * (spawn.LOG_ROTATE_BYTES + 1)


# -- spawn --------------------------------------------------------------------------------


WORKER = """
import json, os, sys
print(json.dumps({"env": {k: v for k, v in os.environ.items() if k.startswith("KANBAN_")},
                  "cwd": os.getcwd(), "argv": sys.argv[1:], "sid": os.getsid(0),
                  "stdin": sys.stdin.read()}), flush=True)
print("to stderr", file=sys.stderr)
"""


def test_spawn_runs_a_real_worker_in_its_own_session(paths, tmp_path):
    workspace, _ = spawn.resolve_workspace(paths, {"id": TASK_ID, "workspace_kind": "scratch",
                                                   "workspace_path": None})
    env = spawn.build_env(os.environ, task_id=TASK_ID, run_id=3, claim_lock="lock", workspace=workspace,
                          db=paths.db, home=paths.home, profile="backend-dev", tenant="acme",
                          role="worker", profile_env={"KANBAN_EXTRA": "1"})
    argv = spawn.build_argv([sys.executable, "-c", WORKER, "{task_id}", "{skill_args}"], task_id=TASK_ID,
                            profile="backend-dev", workspace=workspace, home=paths.home, db=paths.db,
                            skills=["sql"], skill_args=["--skills", "{skill}"])
    log_path = paths.log_for(TASK_ID)
    log_path.parent.mkdir(parents=True)
    log_path.write_text("previous attempt\n")

    proc = spawn.spawn(argv, env, workspace, log_path)
    spawn.release(proc)
    assert proc.wait(timeout=20) == 0

    first, report, stderr_line = log_path.read_text().splitlines()
    assert first == "previous attempt"
    assert stderr_line == "to stderr"
    seen = json.loads(report)
    assert seen["env"]["KANBAN_TASK"] == TASK_ID
    assert seen["env"]["KANBAN_RUN_ID"] == "3"
    assert seen["env"]["KANBAN_TENANT"] == "acme"
    assert seen["env"]["KANBAN_EXTRA"] == "1"
    assert seen["cwd"] == str(workspace)
    assert seen["argv"] == [TASK_ID, "--skills", "kanban-worker", "--skills", "sql"]
    assert seen["sid"] == proc.pid
    assert seen["stdin"] == ""


def test_missing_executable_is_a_spawn_error(tmp_path):
    with pytest.raises(SpawnError) as caught:
        spawn.spawn(["deploy-agent-that-does-not-exist", "--go"], {"PATH": "/usr/bin:/bin"}, tmp_path,
                    tmp_path / "w.log")
    assert str(caught.value) == "cannot start 'deploy-agent-that-does-not-exist': No such file or directory"


def test_non_executable_file_is_a_spawn_error(tmp_path):
    script = tmp_path / "agent.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(SpawnError, match=r"cannot start '.*agent\.sh': Permission denied"):
        spawn.spawn([str(script)], {}, tmp_path, tmp_path / "w.log")


def test_missing_workspace_is_named(tmp_path):
    with pytest.raises(SpawnError, match="cannot enter workspace .*gone: No such file or directory"):
        spawn.spawn([sys.executable, "-c", "pass"], {}, tmp_path / "gone", tmp_path / "w.log")


def test_empty_command_is_a_spawn_error(tmp_path):
    with pytest.raises(SpawnError, match="empty"):
        spawn.spawn([], {}, tmp_path, tmp_path / "w.log")


def test_a_gated_worker_runs_only_once_released(tmp_path):
    marker = tmp_path / "ran"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write(str(__import__('os').getpid()))"]
    held = spawn.spawn(argv, {}, tmp_path, tmp_path / "held.log")
    time.sleep(0.3)
    assert not marker.exists() and held.poll() is None  # waiting at the gate
    spawn.release(held)
    assert held.wait(timeout=20) == 0
    assert marker.read_text() == str(held.pid)  # exec'd in place: the pid the dispatcher records

    marker.unlink()
    cancelled = spawn.spawn(argv, {}, tmp_path, tmp_path / "cancelled.log")
    spawn.cancel(cancelled)
    assert cancelled.wait(timeout=20) != 0
    assert not marker.exists()
