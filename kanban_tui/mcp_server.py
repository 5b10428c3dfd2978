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
from kanban_tui.mcp_lines import checked_lines

INSTRUCTIONS = (
    "Tools for a kanban board of agent tasks. A worker starts with kanban_show, heartbeats with "
    "kanban_heartbeat during long work, and ends with exactly one kanban_complete (summary + "
    "metadata) or kanban_block (a specific question for a human).")


def _tool(name: str) -> types.Tool:
    schema = tools.SCHEMAS[name]
    return types.Tool(name=name, description=schema["description"], input_schema=schema["input_schema"])


def build_server(env: Mapping[str, str]) -> Server:
    """A server whose tool calls run as the caller that env describes, built once here (a
    malformed KANBAN_RUN_ID is a UsageError at start)."""
    caller = tools.caller_from_env(env)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        # SQLite waits out locks with blocking sleeps: keep them off the event loop.
        names = await anyio.to_thread.run_sync(lambda: tools.available_tools(env, caller))
        return types.ListToolsResult(tools=[_tool(name) for name in names])

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await anyio.to_thread.run_sync(
            lambda: tools.call(params.name, params.arguments, env=env, caller=caller))
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


def serve(env: Mapping[str, str]) -> None:
    """Serve MCP on stdin/stdout until the client closes the connection."""
    anyio.run(_serve, build_server(env))
