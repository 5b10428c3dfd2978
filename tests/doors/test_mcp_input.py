"""Bad input at the MCP door: every request gets an answer (a tool error result, or a JSON-RPC
error for a line that cannot be read), the server keeps serving the next request, and the
board is unchanged. Driven by raw JSON-RPC lines on the server's stdin and by the official
MCP client."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

import anyio
import pytest
from doors_support import KANBAN_TUI
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.slow

ANSWER_TIMEOUT = 30


class RawServer:
    """`kanban-tui mcp` fed one line at a time; each answer is read with a timeout, so a server
    that goes silent fails the test instead of hanging it."""

    def __init__(self, home):
        env = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_")}
        self.process = subprocess.Popen([KANBAN_TUI, "--home", str(home), "mcp"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, line: bytes) -> None:
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def answer(self) -> dict:
        try:
            return json.loads(self.lines.get(timeout=ANSWER_TIMEOUT))
        except queue.Empty:
            raise AssertionError("the MCP server stopped answering") from None

    def request(self, request_id: int, method: str, params: dict | None = None) -> dict:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        self.send(json.dumps({**message, **({"params": params} if params is not None else {})}).encode())
        return self.answer()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        assert b"Traceback" not in self.process.stderr.read()


@pytest.fixture
def raw(seeded):
    server = RawServer(seeded.home.home)
    init = server.request(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                            "clientInfo": {"name": "doors", "version": "1"}})
    assert "result" in init, init
    server.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
    yield server
    server.close()


def call_line(request_id: int, arguments_json: str, tool: str = "kanban_comment") -> bytes:
    return (f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", '
            f'"params": {{"name": "{tool}", "arguments": {arguments_json}}}}}').encode()


DEEP = "[" * 60_000 + "]" * 60_000

# (the line, the id the answer carries, a fragment of the error): lines the SDK cannot read
UNREADABLE = [
    (call_line(1, '{"task_id": "READY", "body": ' + DEEP + "}"), 1, "recursion limit"),
    (call_line(2, '{"task_id": "READY", "body": "XX"}').replace(b"XX", b"\xff\xfe"), 2, "not valid UTF-8"),
    (call_line(3, '{"task_id": "READY", "body": "\\ud800"}'), 3, "cannot be read"),
    (b'{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": 5}', 4, "cannot be read"),
    (b'{"jsonrpc": "2.0", "method": "tools/call", "params": {"x": ' + DEEP.encode() + b'}, "id": 5}', 5,
     "recursion limit"),
    (b"hello", None, "cannot be read"),
    (b"[1, 2]", None, "cannot be read"),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "kanban_show", '
     b'"arguments": {"task_id": "\\ud800"}}}', 7, "cannot be read"),
    (b'{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "kanban_show"', 8, "cannot be read"),
    (b'{"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}', None, "id must be an integer or a string"),
    (b'{"jsonrpc": "2.0", "id": [9], "method": "tools/list"}', None, "id must be an integer or a string"),
]


def test_unreadable_lines_get_an_error_answer_and_the_server_goes_on(seeded, raw):
    before = seeded.digest()
    for line, request_id, fragment in UNREADABLE:
        line = line.replace(b"READY", seeded.ready.encode())
        raw.send(line)
        answer = raw.answer()
        assert answer["id"] == request_id and fragment in answer["error"]["message"], answer
        listed = raw.request(100, "tools/list")
        assert listed["result"]["tools"], listed
    raw.send(b"")  # a blank line is no message: nothing to answer
    assert raw.request(101, "tools/list")["id"] == 101
    assert seeded.digest() == before


# (tool, arguments, a fragment of the tool's error): readable requests the tool refuses
REFUSED = [
    ("kanban_comment", '{"task_id": "READY", "body": "a\\u0000b"}', "body contains a NUL byte"),
    ("kanban_comment", '{"task_id": "READY", "body": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}",
     "body must be a string"),
    ("kanban_complete", '{"task_id": "READY", "summary": "s", "metadata": {"a": NaN}}', "not a JSON number"),
    ("kanban_complete", '{"task_id": "READY", "summary": "s", "metadata": {"a": Infinity}}', "not a JSON number"),
    ("kanban_show", '{"task_id": NaN}', "task_id must be a string"),
    ("kanban_create", '{"title": "x", "assignee": "dev", "priority": ' + str(10**30) + "}", "priority must be from"),
    ("kanban_create", '{"title": "x", "assignee": ""}', "assignee must not be empty"),
    ("kanban_create", '{"title": "x", "assignee": "dev", "max_runtime_seconds": -1}', "must be positive"),
]


def test_refused_tool_calls_are_error_results(seeded, raw):
    before = seeded.digest()
    for request_id, (tool, arguments, fragment) in enumerate(REFUSED, start=10):
        raw.send(call_line(request_id, arguments.replace("READY", seeded.ready), tool))
        answer = raw.answer()
        assert answer["id"] == request_id and answer["result"]["isError"] is True, answer
        result = answer["result"]["structuredContent"]
        assert result["ok"] is False and fragment in result["error"], result
    assert seeded.digest() == before


def nested(levels: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(levels - 1):
        node["a"] = {}
        node = node["a"]
    return root


def test_the_official_client_gets_answers_and_keeps_its_session(seeded):
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "kanban_tui", "mcp"],
                                   env={**inherited, "KANBAN_DB": str(seeded.home.db)})
    before = seeded.digest()

    async def session():
        async with Client(params) as client:
            too_deep_for_the_sdk = None  # 250 levels: the SDK's parser stops at 200
            with anyio.fail_after(ANSWER_TIMEOUT):
                try:
                    await client.call_tool("kanban_complete", {"task_id": seeded.ready, "summary": "s",
                                                               "metadata": nested(250)})
                except Exception as exc:  # the JSON-RPC error the server answered with
                    too_deep_for_the_sdk = exc
                too_deep = await client.call_tool("kanban_complete", {"task_id": seeded.ready, "summary": "s",
                                                                      "metadata": nested(100)})
                huge = await client.call_tool("kanban_create", {"title": "x", "assignee": "dev",
                                                                "priority": 10**30})
                shown = await client.call_tool("kanban_show", {"task_id": seeded.ready})
            return too_deep_for_the_sdk, too_deep, huge, shown

    too_deep_for_the_sdk, too_deep, huge, shown = anyio.run(session)
    assert too_deep_for_the_sdk is not None and "cannot be read" in str(too_deep_for_the_sdk)
    assert too_deep.is_error and "nested too deeply" in too_deep.structured_content["error"]
    assert huge.is_error and "priority must be from" in huge.structured_content["error"]
    assert shown.structured_content["ok"] is True
    assert seeded.digest() == before
