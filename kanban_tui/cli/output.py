"""Printing for the command line: inert text, local times, tables and JSON.

Stored text comes from workers and may hold terminal escape sequences. Plain output shows
every control character as a visible escape (ESC -> `\\x1b`); `--json` carries text verbatim.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable, Sequence

# Format characters that reorder text on screen (bidi overrides and isolates) and line
# separators that some terminals honour: as deceptive as control characters.
_INVISIBLE = (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029)
_CONTROLS = (*range(0x20), 0x7F, *range(0x80, 0xA0))


def _escapes(keep: str) -> dict[int, str]:
    table = {code: f"\\x{code:02x}" for code in _CONTROLS if chr(code) not in keep}
    table.update({code: f"\\u{code:04x}" for code in _INVISIBLE})
    return table


_ONE_LINE = _escapes("")
_MULTI_LINE = _escapes("\n\t")


def inline(value: Any, empty: str = "-") -> str:
    """One-line text (titles, names, payloads) with every control character escaped."""
    if value is None or value == "":
        return empty
    return str(value).translate(_ONE_LINE)


def block(value: Any) -> str:
    """Multi-line text (bodies, comments, logs): newlines and tabs kept, other controls escaped."""
    return "" if value is None else str(value).translate(_MULTI_LINE)


def indented(value: Any, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in block(value).splitlines())


def when(timestamp: float | None) -> str:
    """Unix seconds as local `YYYY-MM-DD HH:MM:SS`."""
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def duration(seconds: float | None) -> str:
    """A compact span in its two largest units: 42s, 3m05s, 30m, 2h07m, 1d04h."""
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    for unit, size, sub_unit, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if seconds >= size:
            rest = seconds % size // sub_size
            return f"{seconds // size}{unit}" + (f"{rest:02d}{sub_unit}" if rest else "")
    return f"{seconds}s"


def compact_json(value: Any) -> str:
    """JSON on one line, for payloads inside plain output (escaped like any stored text)."""
    return inline(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")), empty="null")


def emit_json(value: Any) -> None:
    """`--json` output: verbatim text, one document; indented only for a person at a terminal."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=indent) + "\n")


def line(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def columns(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart (header first); the last column is never padded."""
    rows = [headers, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip()
            for row in rows]


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    sys.stdout.write("\n".join(columns(headers, rows)) + "\n")


def warn(message: str) -> None:
    sys.stderr.write(f"kanban-tui: warning: {inline(message)}\n")
