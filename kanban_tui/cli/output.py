"""Printing for the command line: tables, JSON, warnings; the text helpers of kanban_tui.text
(inert stored text, local times, durations) are re-exported for the verbs."""

from __future__ import annotations

import io
import json
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterable, Iterator, Sequence, TextIO

from kanban_tui.text import block, compact_json, duration, indented, inline, when

__all__ = ["block", "captured", "columns", "compact_json", "duration", "emit_json", "indented", "inline", "line",
           "stderr", "stdin", "stdout", "table", "warn", "when"]

# The streams of a CLI run inside another program (the board's `:` line): per thread and task,
# so capturing one run never touches the process-wide sys.stdout/stderr/stdin.
_captured: ContextVar[tuple[TextIO, TextIO, TextIO] | None] = ContextVar("kanban_cli_streams", default=None)


def stdout() -> TextIO:
    streams = _captured.get()
    return sys.stdout if streams is None else streams[0]


def stderr() -> TextIO:
    streams = _captured.get()
    return sys.stderr if streams is None else streams[1]


def stdin() -> TextIO:
    streams = _captured.get()
    return sys.stdin if streams is None else streams[2]


def is_captured() -> bool:
    return _captured.get() is not None


@contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Within the block, CLI output goes to two StringIOs (out, err) and stdin is empty."""
    out, err = io.StringIO(), io.StringIO()
    token = _captured.set((out, err, io.StringIO()))
    try:
        yield out, err
    finally:
        _captured.reset(token)


def emit_json(value: Any) -> None:
    """`--json` output: verbatim text, one document; indented only for a person at a terminal."""
    out = stdout()
    indent = 2 if out.isatty() else None
    out.write(json.dumps(value, ensure_ascii=False, indent=indent) + "\n")


def line(text: str = "") -> None:
    stdout().write(text + "\n")


def columns(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart (header first); the last column is never padded."""
    rows = [headers, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip()
            for row in rows]


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    stdout().write("\n".join(columns(headers, rows)) + "\n")


def warn(message: str) -> None:
    stderr().write(f"kanban-tui: warning: {inline(message)}\n")
