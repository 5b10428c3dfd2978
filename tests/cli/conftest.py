"""`kt`: run `kanban-tui --home <tmp home> ...` in-process and capture what it printed."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass

import pytest

from kanban_tui.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


class Cli:
    def __init__(self, home, capsys, monkeypatch):
        self.paths = home
        self._capsys = capsys
        self._monkeypatch = monkeypatch

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        if stdin is not None:
            self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["--home", str(self.paths.home), *args])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str, **kwargs) -> Result:
        result = self(*args, **kwargs)
        assert result.code == 0, result.err
        return result

    def create(self, title: str = "a task", *args: str) -> str:
        return self.ok("create", title, *args, "--json").json["id"]


@pytest.fixture
def kt(home, capsys, monkeypatch) -> Cli:
    return Cli(home, capsys, monkeypatch)
