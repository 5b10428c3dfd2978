"""The worker tools over MCP stdio (`kanban-tui mcp`), built on the official `mcp` SDK.

It lists exactly the tools `tools.available_tools()` grants this process, with the same
schemas, and answers each call with the tool's JSON result as text (plus the same object as
structured content); `isError` is set when the result says `ok: false`, so the model sees the
refusal and can correct itself. A line on stdin that the SDK cannot parse is answered with a
JSON-RPC error (kanban_tui.mcp_lines), so a client never waits on a request that was dropped.
"""

from __future__ import annotations

import json
import sys
from contextlib import suppress
from typing import Mapping

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from kanban_tui import __version__, tools
from kanban_tui.kernel import db, queries
from kanban_tui.mcp_lines import checked_lines

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
    """A server whose tool calls run as the caller that env describes, built once here (a
    malformed KANBAN_RUN_ID is a UsageError at start); a `pinned` one (started for a run) first
    checks that its run is still open."""
    caller = tools.caller_from_env(env)

    def call(name: str, arguments) -> dict:
        refusal = _pinned_refusal(env) if pinned else None
        if refusal:
            return {"ok": False, "error": refusal}
        return tools.call(name, arguments, env=env, caller=caller)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        # SQLite waits out locks with blocking sleeps: keep them off the event loop.
        names = await anyio.to_thread.run_sync(lambda: tools.available_tools(env, caller))
        return types.ListToolsResult(tools=[_tool(name) for name in names])

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await anyio.to_thread.run_sync(lambda: call(params.name, params.arguments))
        text = json.dumps(result, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=result,
                                    is_error=not result["ok"])

    return Server("kanban-tui", version=__version__, instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


async def _serve(server: Server) -> None:
    writer_ready = anyio.Event()
    writer: list = []

    async def reply(error: types.JSONRPCError) -> None:
        await writer_ready.wait()
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await writer[0].send(SessionMessage(error))

    stdin = checked_lines(anyio.wrap_file(sys.stdin.buffer), reply)
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):
        writer.append(write_stream)
        writer_ready.set()
        await server.run(read_stream, write_stream, server.create_initialization_options())


def serve(env: Mapping[str, str], *, pinned: bool = False) -> None:
    """Serve MCP on stdin/stdout until the client closes the connection."""
    anyio.run(_serve, build_server(env, pinned=pinned))
