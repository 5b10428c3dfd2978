"""The worker tools over MCP stdio (`kanban-tui mcp`), built on the official `mcp` SDK.

It lists exactly the tools `tools.available_tools()` grants this process, with the same
schemas, and answers each call with the tool's JSON result as text (plus the same object as
structured content); `isError` is set when the result says `ok: false`, so the model sees the
refusal and can correct itself.
"""

from __future__ import annotations

import json
from typing import Mapping

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server

from kanban_tui import __version__, tools

INSTRUCTIONS = (
    "Tools for a kanban board of agent tasks. A worker starts with kanban_show, heartbeats with "
    "kanban_heartbeat during long work, and ends with exactly one kanban_complete (summary + "
    "metadata) or kanban_block (a specific question for a human).")


def _tool(name: str) -> types.Tool:
    schema = tools.SCHEMAS[name]
    return types.Tool(name=name, description=schema["description"], input_schema=schema["input_schema"])


def _pinned_refusal(env: Mapping[str, str]) -> str | None:
    """Why a server started for one run (`mcp --task --run-id`) must not act, if it must not: the run
    is not that card's, or it has ended. Such a server then answers every call with this error,
    so it never acts for anyone else (nor, its worker scope aside, as an operator)."""
    from kanban_tui.kernel import db, queries

    task_id, run_id = env["KANBAN_TASK"], int(env["KANBAN_RUN_ID"])
    conn = db.connect(tools.database_path(env))
    try:
        run = next((run for run in queries.runs(conn, task_id) if run["id"] == run_id), None)
    finally:
        conn.close()
    started = f"this MCP server was started for run {run_id} of {task_id}"
    if run is None:
        return f"{started}, which is not a run of that card; it acts for no one and changed nothing"
    if run["status"] != "running":
        return (f"{started}, which has ended ({run['outcome']}); it acts for no one now and changed nothing. "
                "A new run of the card gets its own server")
    return None


def build_server(env: Mapping[str, str], *, pinned: bool = False) -> Server:
    """A server whose tool calls run as the caller that env describes (see tools.Caller); a
    `pinned` one (started for a run) first checks that its run is still open."""

    def call(name: str, arguments) -> dict:
        refusal = _pinned_refusal(env) if pinned else None
        return {"ok": False, "error": refusal} if refusal else tools.call(name, arguments, env=env)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_tool(name) for name in tools.available_tools(env)])

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        # SQLite waits out locks with blocking sleeps: keep them off the event loop.
        result = await anyio.to_thread.run_sync(lambda: call(params.name, params.arguments))
        text = json.dumps(result, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=result,
                                    is_error=not result["ok"])

    return Server("kanban-tui", version=__version__, instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


async def _serve(env: Mapping[str, str], pinned: bool) -> None:
    server = build_server(env, pinned=pinned)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def serve(env: Mapping[str, str], *, pinned: bool = False) -> None:
    """Serve MCP on stdin/stdout until the client closes the connection."""
    anyio.run(_serve, env, pinned)
