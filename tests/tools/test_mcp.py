"""`python -m kanban_tui mcp` driven by the official MCP client over stdio, as an agent would."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from kanban_tui import tools
from kanban_tui.kernel import queries, transitions

pytestmark = pytest.mark.slow


def server(env: dict) -> StdioServerParameters:
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_")}
    return StdioServerParameters(command=sys.executable, args=["-m", "kanban_tui", "mcp"],
                                 env={**inherited, **env})


def run(session):
    return anyio.run(session)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_worker_lists_its_tools_and_completes_its_task(db_path, conn, mode):
    task_id = transitions.create(conn, "Design auth schema", assignee="backend-dev")["task_id"]
    claimed = transitions.claim(conn, task_id)
    run_id = claimed["run_id"]
    child = transitions.create(conn, "Implement auth API", assignee="backend-dev", parents=[task_id])["task_id"]
    env = {"KANBAN_DB": str(db_path), "KANBAN_TASK": task_id, "KANBAN_RUN_ID": str(run_id),
           "KANBAN_CLAIM_LOCK": claimed["claim_lock"], "KANBAN_PROFILE": "backend-dev"}
    metadata = {"changed_files": ["migrations/001_users.sql"], "decisions": ["bcrypt for hashing"]}

    async def session():
        async with Client(server(env), mode=mode) as client:
            listed = await client.list_tools()
            beat = await client.call_tool("kanban_heartbeat", {"note": "schema drafted"})
            done = await client.call_tool("kanban_complete", {"summary": "users and sessions tables",
                                                              "metadata": metadata})
            return listed, beat, done

    listed, beat, done = run(session)

    assert [tool.name for tool in listed.tools] == list(tools.WORKER_TOOLS)
    by_name = {tool.name: tool for tool in listed.tools}
    assert by_name["kanban_complete"].input_schema == tools.SCHEMAS["kanban_complete"]["input_schema"]
    assert by_name["kanban_complete"].description == tools.SCHEMAS["kanban_complete"]["description"]
    assert beat.is_error is False
    assert json.loads(done.content[0].text) == {"ok": True, "task_id": task_id, "run_id": run_id}
    assert done.structured_content == {"ok": True, "task_id": task_id, "run_id": run_id}

    assert queries.get_task(conn, task_id)["status"] == "done"
    run_row = queries.runs(conn, task_id)[-1]
    assert (run_row["outcome"], run_row["summary"], run_row["metadata"]) == (
        "completed", "users and sessions tables", metadata)
    assert queries.get_task(conn, child)["status"] == "ready"
    assert [event["payload"] for event in queries.events(conn, task_id, kinds=["heartbeat"])] == [
        {"note": "schema drafted"}]


def test_refusals_come_back_as_tool_errors_and_change_nothing(db_path, conn):
    task_id = transitions.create(conn, "mine", assignee="backend-dev")["task_id"]
    claimed = transitions.claim(conn, task_id)
    run_id = claimed["run_id"]
    env = {"KANBAN_DB": str(db_path), "KANBAN_TASK": task_id, "KANBAN_RUN_ID": str(run_id),
           "KANBAN_CLAIM_LOCK": claimed["claim_lock"], "KANBAN_PROFILE": "backend-dev"}

    async def session():
        async with Client(server(env)) as client:
            phantom = await client.call_tool("kanban_complete", {"summary": "done", "created_cards": ["t_deadbeef"]})
            orchestrator_only = await client.call_tool("kanban_list", {})
            return phantom, orchestrator_only

    phantom, orchestrator_only = run(session)

    assert phantom.is_error is True
    assert "still in flight" in json.loads(phantom.content[0].text)["error"]
    assert orchestrator_only.is_error is True
    assert queries.get_task(conn, task_id)["status"] == "running"
    assert queries.events(conn, task_id)[-1]["kind"] == "completion_blocked_hallucination"


def test_an_orchestrator_sees_all_nine_tools(db_path, conn):
    env = {"KANBAN_DB": str(db_path)}

    async def session():
        async with Client(server(env)) as client:
            listed = await client.list_tools()
            created = await client.call_tool("kanban_create", {"title": "Spec: password reset flow",
                                                               "assignee": "pm"})
            return listed, created

    listed, created = run(session)

    assert [tool.name for tool in listed.tools] == list(tools.SCHEMAS)
    task_id = json.loads(created.content[0].text)["task_id"]
    assert queries.get_task(conn, task_id)["assignee"] == "pm"
