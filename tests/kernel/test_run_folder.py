import json
import os
import stat

from kanban_tui.kernel import run_folder

WORKER_ENV = {"KANBAN_TASK": "t_0123abcd", "KANBAN_RUN_ID": "7", "KANBAN_CLAIM_LOCK": "host:1/abc",
              "KANBAN_DB": "/h/kanban.db", "KANBAN_TUI_HOME": "/h", "KANBAN_PROFILE": "dev",
              "KANBAN_WORKSPACE": "/ws", "PATH": "/usr/bin", "SECRET_TOKEN": "nope"}


def server():
    return run_folder.server_for(WORKER_ENV, task_id="t_0123abcd", run_id=7)


def test_the_server_is_this_kanban_tui_pinned_to_the_run_with_only_the_identity():
    registered = server()
    assert os.path.isabs(registered.command) and os.access(registered.command, os.X_OK)
    assert registered.args[-5:] == ["mcp", "--task", "t_0123abcd", "--run-id", "7"]
    assert registered.env == {key: value for key, value in WORKER_ENV.items()
                              if key in run_folder.IDENTITY_VARS}


def test_the_folder_is_private_and_holds_mcp_json(home):
    folder = run_folder.write(home, 7, server(), {"hermes/config.yaml": "x: 1\n"})
    assert folder == home.home / "runs" / "7"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "hermes").stat().st_mode) == 0o700
    for name in ("mcp.json", "hermes/config.yaml"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    written = json.loads((folder / "mcp.json").read_text())
    assert written == {"mcpServers": {"kanban": server().entry()}}
    assert run_folder.identity(home.home, 7) == server().env


def test_remove_deletes_the_folder_and_identity_of_a_missing_run_is_empty(home):
    run_folder.write(home, 7, server())
    run_folder.remove(home, 7)
    assert not (home.home / "runs" / "7").exists()
    run_folder.remove(home, 7)  # already gone: nothing to do
    assert run_folder.identity(home.home, 7) == {}
