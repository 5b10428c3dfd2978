"""What every fake agent CLI does once it has found the run's MCP server the way its real CLI
would: start the server with the environment that CLI gives it, call kanban_show, then
finish as $FAKE_AGENT_THEN says (read from the CLI's own environment, i.e. the profile's env):

  complete (default)  kanban_complete with a summary naming the CLI
  block               kanban_block with a question
  exit:N              leave with exit code N without reporting (75 rate limit, 78 config...)
  error               a failed turn: report an error the CLI's way and exit 0 without reporting

Uses the official MCP SDK's stdio client: `env` here is exactly what the server process gets
(the SDK adds HOME, LOGNAME, PATH, SHELL, TERM and USER, as the TypeScript SDK does).
"""

from __future__ import annotations

import json
import os
import sys

import anyio
from mcp import Client, StdioServerParameters

# The variables an MCP stdio client built on the TypeScript SDK passes on by default.
TS_SDK_ENV = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER")


def then() -> str:
    return os.environ.get("FAKE_AGENT_THEN", "complete")


def fail(message: str, code: int = 1):
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


def work(cli: str, command: str, args: list[str], env: dict[str, str], *, approved=lambda tool: True) -> str:
    """One turn against the server; returns the reply text, or exits as told."""
    params = StdioServerParameters(command=command, args=args, env=env, cwd=os.getcwd())

    async def turn():
        async with Client(params) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            if "kanban_show" not in names:
                fail(f"{cli}: the kanban server offers no kanban_show (tools: {names})")
            shown = await call(client, "kanban_show", {})
            plan = then()
            if plan.startswith("exit:"):
                print(f"{cli}: giving up on {shown['task']['id']} as told", flush=True)
                os._exit(int(plan.split(":", 1)[1]))
            if plan == "error":
                return None
            if plan == "block":
                await call(client, "kanban_block", {"reason": f"{cli} needs a human"})
                return "blocked"
            done = await call(client, "kanban_complete", {
                "summary": f"{cli} finished {shown['task']['title']}", "metadata": {"agent": cli}})
            return f"completed {done['task_id']}"

    async def call(client, tool: str, arguments: dict) -> dict:
        if not approved(tool):
            fail(f"{cli}: {tool} needs approval, and a headless run cannot ask")
        result = await client.call_tool(tool, arguments)
        payload = json.loads(result.content[0].text)
        if result.is_error:
            fail(f"{cli}: {tool} refused: {payload['error']}")
        return payload

    return anyio.run(turn)


def inherited(names) -> dict[str, str]:
    return {name: os.environ[name] for name in names if name in os.environ}
