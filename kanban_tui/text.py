"""Showing stored text and times, for every door (the CLI, the board, the worker context).

Stored text comes from workers and may hold terminal escape sequences. Shown text makes every
control character a visible escape (ESC -> `\\x1b`); JSON output carries text verbatim. No
Textual, no CLI: the kernel, the CLI and the board all import this.
"""

from __future__ import annotations

import json
import time
from typing import Any

# Format characters that reorder text on screen (bidi overrides and isolates) and line
# separators that some terminals honour: as deceptive as control characters.
_INVISIBLE = (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029)
_CONTROLS = (*range(0x20), 0x7F, *range(0x80, 0xA0))
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


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


def duration(seconds: float | None, units: int = 2) -> str:
    """A compact span in its `units` largest units: 42s, 3m05s, 30m, 2h07m, 1d04h; with one
    unit (ages on cards): 42s, 3m, 2h, 1d."""
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    for index, (unit, size) in enumerate(_UNITS[:-1]):
        if seconds >= size:
            text = f"{seconds // size}{unit}"
            if units > 1:
                sub_unit, sub_size = _UNITS[index + 1]
                rest = seconds % size // sub_size
                text += f"{rest:02d}{sub_unit}" if rest else ""
            return text
    return f"{seconds}s"


def age(seconds: float) -> str:
    """How long ago, in one unit: 42s, 5m, 3h, 2d."""
    return duration(seconds, units=1)


def compact_json(value: Any) -> str:
    """JSON on one line, for payloads inside shown text (escaped like any stored text)."""
    return inline(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")), empty="null")
