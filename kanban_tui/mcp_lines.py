"""The MCP server's stdin, line by line, with every line the SDK could not parse answered here.

The SDK's stdio transport drops a line it cannot parse (invalid UTF-8 is even replaced, not
refused; JSON nested deeper than its parser allows, or not a JSON-RPC message, is logged and
forgotten), so the client that sent it waits forever. Each such line gets a JSON-RPC error
instead, carrying the request's id when one can be found, and the server reads on.
"""

from __future__ import annotations

import json
import re
from typing import Any, AsyncIterable, AsyncIterator, Awaitable, Callable

import mcp_types as types

from kanban_tui import validate
from kanban_tui.errors import UsageError

Reply = Callable[[types.JSONRPCError], Awaitable[None]]

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SPACE = re.compile(r"\s*")


async def checked_lines(source: AsyncIterable[bytes], reply: Reply) -> AsyncIterator[str]:
    """The lines of source the SDK can parse, as text; the others are answered with reply."""
    async for raw in source:
        text, error = check_line(raw)
        if error is not None:
            await reply(error)
        elif text is not None:
            yield text


def check_line(raw: bytes) -> tuple[str | None, types.JSONRPCError | None]:
    """(text to pass on, None) or (None, the error to answer); a blank line is neither."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        return None, _error(text, types.PARSE_ERROR, f"the message is not valid UTF-8 (byte {exc.start})")
    if not text.strip():
        return None, None
    try:
        message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except Exception as exc:  # pydantic's ValidationError, or whatever its JSON parser raises
        return None, _error(text, types.PARSE_ERROR, f"the message cannot be read: {_reason(exc)}")
    if isinstance(message, types.JSONRPCNotification) and _top_level_id(text)[0]:
        # An id the SDK does not accept (1.5, true, a list) makes the request a notification,
        # which is never answered.
        return None, types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(
            code=types.INVALID_REQUEST, message="a request id must be an integer or a string"))
    return text, None


def _reason(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return first.get("msg", str(exc))
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _error(text: str, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=_top_level_id(text)[1],
                              error=types.ErrorData(code=code, message=message))


def _top_level_id(text: str) -> tuple[bool, int | str | None]:
    """(whether the message has a top-level "id" key, its value when usable as a JSON-RPC id),
    found by scanning, not parsing: nested values are skipped by counting brackets, so depth
    costs no recursion."""
    depth, i, key_next = 0, 0, False
    while i < len(text):
        ch = text[i]
        if ch == '"':
            match = _STRING.match(text, i)
            if match is None:
                return False, None
            end = match.end()
            if depth == 1 and key_next:
                key_next = False
                colon = _SPACE.match(text, end).end()
                if match.group() == '"id"' and text.startswith(":", colon):
                    return True, _scalar(text, _SPACE.match(text, colon + 1).end())
            i = end
            continue
        if ch in "{[":
            depth += 1
            key_next = depth == 1 and ch == "{"
        elif ch in "}]":
            depth -= 1
        elif ch == "," and depth == 1:
            key_next = True
        i += 1
    return False, None


def _scalar(text: str, start: int) -> Any:
    """A JSON-RPC id (an integer or a string) at start, else None."""
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return validate.integer(value, "id") if isinstance(value, int) else validate.text(value, "id")
    except UsageError:
        return None
