"""`kanban-tui mcp --task ID --run-id N` as an agent CLI starts it: from the run's mcp.json, by
the official MCP SDK's stdio client, with nothing of the worker's environment but what the
registration names (the SDK adds HOME, LOGNAME, PATH, SHELL, TERM, USER)."""

from __future__ import annotations

import json
import os
import subprocess

import anyio
import pytest
from mcp import Client, StdioServerParameters

from kanban_tui.kernel import queries, run_folder, spawn, transitions

pytestmark = pytest.mark.slow


def registered(home, conn, title="Port the parser") -> tuple[str, int, dict]:
    """A claimed card and the mcp.json entry the dispatcher writes for its run."""
    task_id = transitions.create(conn, title, assignee="dev")["task_id"]
    claimed = transitions.claim(conn, task_id)
    env = spawn.build_env({}, task_id=task_id, run_id=claimed["run_id"], claim_lock=claimed["claim_lock"],
                          workspace="/ws", db=home.db, home=home.home, profile="dev", tenant=None,
                          role="worker", profile_env={})
    server = run_folder.server_for(env, task_id=task_id, run_id=claimed["run_id"])
    run_folder.write(home, claimed["run_id"], server)
    entry = json.loads((run_folder.folder(home, claimed["run_id"]) / "mcp.json").read_text())
    return task_id, claimed["run_id"], entry["mcpServers"]["kanban"]


def session(entry: dict, *calls: tuple[str, dict], args: list[str] | None = None) -> list[dict]:
    params = StdioServerParameters(command=entry["command"], args=args or entry["args"], env=entry["env"])

    async def talk():
        async with Client(params) as client:
            return [json.loads((await client.call_tool(name, arguments)).content[0].text)
                    for name, arguments in calls]

    return anyio.run(talk)


def test_the_registration_alone_lets_the_worker_complete_its_card(home, conn, monkeypatch):
    for name in ("KANBAN_TUI_HOME", "KANBAN_DB"):  # nothing of the board reaches the client's env
        monkeypatch.delenv(name, raising=False)
    task_id, run_id, entry = registered(home, conn)
    shown, done = session(entry, ("kanban_show", {}),
                          ("kanban_complete", {"summary": "parser ported", "metadata": {"tests_run": 4}}))
    assert shown["task"]["id"] == task_id
    assert done == {"ok": True, "task_id": task_id, "run_id": run_id}
    assert queries.runs(conn, task_id)[-1]["summary"] == "parser ported"


def test_a_server_pinned_to_a_closed_run_acts_for_no_one(home, conn):
    task_id, run_id, entry = registered(home, conn)
    transitions.reclaim(conn, task_id, reason="operator took it back")
    calls = [("kanban_complete", {"summary": "too late"}), ("kanban_comment", {"body": "still here"}),
             ("kanban_create", {"title": "sneak in a card", "assignee": "dev"}), ("kanban_show", {})]
    for refused in session(entry, *calls):
        assert refused == {"ok": False, "error": f"this MCP server was started for run {run_id} of {task_id}, "
                           "which has ended (reclaimed); it acts for no one now and changed nothing. "
                           "A new run of the card gets its own server"}
    assert queries.get_task(conn, task_id)["status"] == "ready"
    assert queries.comments(conn, task_id) == [] and len(queries.list_tasks(conn)) == 1


def test_a_server_pinned_to_a_run_of_another_card_cannot_complete_either(home, conn):
    task_id, run_id, entry = registered(home, conn, "mine")
    other_id, other_run, _ = registered(home, conn, "someone else's")
    args = [*entry["args"][:-4], "--task", task_id, "--run-id", str(other_run)]
    with pytest.raises(Exception):  # the server refuses to start: the run folder names another card
        session(entry, ("kanban_complete", {"summary": "stolen"}), args=args)
    assert queries.get_task(conn, task_id)["status"] == "running"
    assert queries.get_task(conn, other_id)["status"] == "running"


def test_an_environment_contradicting_the_pinned_identity_is_a_one_line_error(home, conn):
    task_id, run_id, entry = registered(home, conn)
    env = {**os.environ, **entry["env"], "KANBAN_TASK": "t_deadbeef"}
    done = subprocess.run([entry["command"], *entry["args"]], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"kanban-tui: mcp: KANBAN_TASK=t_deadbeef in the environment contradicts the pinned "
                           f"{task_id}\n")


def test_a_server_pinned_to_an_unknown_run_cannot_complete(home, conn):
    task_id, run_id, entry = registered(home, conn)
    located = {name: entry["env"][name] for name in ("KANBAN_TUI_HOME", "KANBAN_DB")}  # as goose passes it
    args = [*entry["args"][:-4], "--task", task_id, "--run-id", str(run_id + 40)]
    refused, = session({**entry, "env": located}, ("kanban_complete", {"summary": "phantom"}), args=args)
    assert refused["error"] == (f"this MCP server was started for run {run_id + 40} of {task_id}, which is not "
                                "a run of that card; it acts for no one and changed nothing")
    assert queries.get_task(conn, task_id)["status"] == "running"
