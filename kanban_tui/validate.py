"""The checks every door applies to what it is given: CLI flags, tool and MCP arguments,
config.yaml values and Python callers of the kernel all go through these.

Each check returns the cleaned value or raises UsageError with one line naming the field.
Nothing here imports the kernel or Textual; the kernel's own models use these checks.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from typing import Any

from kanban_tui.errors import UsageError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DURATION_MAX = 3650 * 86400          # ten years: any longer lease or limit is a typo
COUNT_MAX = 100_000                  # workers, failure limits
NAME_MAX = 200                       # profiles, authors, tenants, skills, keys
TEXT_MAX = 10_000_000                # bodies, comments, summaries (characters)
JSON_MAX_DEPTH = 32                  # nesting of a JSON object (metadata, tool arguments)
JSON_MAX_CHARS = 1_000_000           # a JSON document's length as text
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TASK_ID_RE = re.compile(r"^(t_)?[0-9a-f]+$")


def _shown(value: Any, limit: int = 40) -> str:
    """A short repr for messages: a 5000-digit number or a megabyte of text stays one short line."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {'negative ' if value < 0 else ''}number of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------- text

def text(value: Any, what: str, *, max_chars: int = TEXT_MAX) -> str:
    """Storable text: a str without NUL bytes or lone surrogates, within max_chars."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be text, got {type(value).__name__}")
    if len(value) > max_chars:
        raise UsageError(f"{what} is {len(value)} characters; the limit is {max_chars}")
    if "\x00" in value:
        raise UsageError(f"{what} contains a NUL byte (at character {value.index(chr(0)) + 1})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Undecodable bytes in argv arrive as lone surrogates (surrogateescape).
        raise UsageError(f"{what} is not valid UTF-8 text (character {exc.start + 1})") from None
    return value


def optional_text(value: Any, what: str, *, max_chars: int = TEXT_MAX) -> str | None:
    return None if value is None else text(value, what, max_chars=max_chars)


def utf8(data: bytes, what: str) -> str:
    """Bytes read from a file or stdin -> text, refusing invalid UTF-8."""
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    return text(decoded, what)


def name(value: Any, what: str) -> str:
    """A name (profile, author, tenant, skill, key): one trimmed line, not empty, no controls."""
    cleaned = text(value, what).strip()
    if not cleaned:
        raise UsageError(f"{what} must not be empty")
    if len(cleaned) > NAME_MAX:
        raise UsageError(f"{what} is {len(cleaned)} characters; the limit is {NAME_MAX}")
    control = _CONTROL_RE.search(cleaned)
    if control:
        raise UsageError(f"{what} must not contain control characters ({control.group()!r})")
    return cleaned


def optional_name(value: Any, what: str) -> str | None:
    return None if value is None else name(value, what)


def profile(value: Any, what: str) -> str | None:
    """A profile name, lower-cased; 'none' and '-' mean unassigned (None). '' is refused."""
    cleaned = name(value, what).lower()
    return None if cleaned in ("none", "-") else cleaned


def task_id(value: Any, what: str = "task id") -> str:
    """The shape of an id or prefix (t_ + hex, or bare hex); whether it exists is the kernel's."""
    cleaned = text(value, what, max_chars=NAME_MAX).strip().lower()
    if not _TASK_ID_RE.match(cleaned) or len(cleaned.removeprefix("t_")) > 8:
        raise UsageError(f"{what} {_shown(value)} is not a task id: use t_ plus up to 8 hex digits")
    return cleaned


# ---------------------------------------------------------------- numbers

def integer(value: Any, what: str, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """An int, or decimal text of one, within [minimum, maximum] (64-bit by default)."""
    if isinstance(value, str):
        stripped = value.strip()
        # int() would accept '1_000' and refuses beyond 4300 digits with a ValueError anyway.
        if not re.fullmatch(r"[+-]?\d+", stripped):
            raise UsageError(f"{what} must be an integer, got {_shown(value)}")
        if len(stripped) > 40:
            raise UsageError(f"{what} must be from {minimum} to {maximum}, got a {len(stripped)}-digit number")
        value = int(stripped)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{what} must be an integer, got {_shown(value)}")
    if not minimum <= value <= maximum:
        raise UsageError(f"{what} must be from {minimum} to {maximum}, got {_shown(value)}")
    return value


def count(value: Any, what: str, *, maximum: int = COUNT_MAX) -> int:
    """A positive count (workers, limits)."""
    return integer(value, what, minimum=1, maximum=maximum)


def number(value: Any, what: str, *, minimum: float, maximum: float) -> float:
    """A finite int or float within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{what} must be a number, got {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value) or not minimum <= value <= maximum:
        raise UsageError(f"{what} must be from {minimum:g} to {maximum:g}, got {_shown(value)}")
    return float(value)


_DURATION_RE = re.compile(r"^\s*(\d{1,20}(?:\.\d{1,9})?)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: Any, what: str = "duration") -> int | None:
    """'300', '90s', '30m', '2h', '1d' (or an int of seconds) -> 1 .. DURATION_MAX seconds."""
    if value is None:
        return None
    label = f"bad duration {_shown(value)}" if what == "duration" else f"{what}: bad duration {_shown(value)}"
    if isinstance(value, bool):
        raise UsageError(label)
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"{label}: must be a finite number of seconds")
        seconds = int(value)
    else:
        match = _DURATION_RE.match(text(value, what, max_chars=100).lower())
        if not match:
            raise UsageError(f"{label}: use seconds or a number with s, m, h or d (e.g. 90s, 30m, 2h)")
        seconds = int(Fraction(match.group(1)) * _DURATION_UNITS[match.group(2)])
    if seconds <= 0:
        raise UsageError(f"{label}: must be positive")
    if seconds > DURATION_MAX:
        raise UsageError(f"{label}: the limit is {DURATION_MAX // 86400}d")
    return seconds


# ---------------------------------------------------------------- JSON

def _refuse_constant(constant: str):
    raise ValueError(f"{constant} is not allowed in JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal} is out of range for a number")
    return value


def parse_json(source: str, what: str) -> Any:
    """JSON text -> a value, refusing NaN, Infinity, overflowing numbers and deep nesting."""
    text(source, what, max_chars=JSON_MAX_CHARS)
    try:
        value = json.loads(source, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"{what} is nested too deeply (the limit is {JSON_MAX_DEPTH} levels)") from None
    return json_value(value, what)


def json_value(value: Any, what: str) -> Any:
    """A JSON-ready value (dicts, lists, text, finite numbers) within the depth and size limits.

    Walked with an explicit stack, so a structure nested 100k deep costs no recursion.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > JSON_MAX_DEPTH:
            raise UsageError(f"{what} is nested too deeply (the limit is {JSON_MAX_DEPTH} levels)")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise UsageError(f"{what}: object keys must be text, got {_shown(key)}")
                text(key, f"{what} key", max_chars=JSON_MAX_CHARS)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            text(item, f"{what} text", max_chars=JSON_MAX_CHARS)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise UsageError(f"{what}: {item!r} is not a JSON number")
        elif item is not None and not isinstance(item, (bool, int)):
            raise UsageError(f"{what}: {type(item).__name__} is not a JSON value")
    size = len(json.dumps(value, ensure_ascii=False))
    if size > JSON_MAX_CHARS:
        raise UsageError(f"{what} is {size} characters as JSON; the limit is {JSON_MAX_CHARS}")
    return value


def json_object(value: Any, what: str, example: str = '{"key": "value"}') -> dict:
    """A JSON object given as a dict or as JSON text, checked like json_value."""
    value = parse_json(value, what) if isinstance(value, str) else json_value(value, what)
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object, e.g. {example}")
    return value
