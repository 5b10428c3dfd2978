"""The layers keep to themselves: checked in fresh interpreters, where sys.modules tells the truth.

The kernel, the worker tools and the CLI's data verbs load no Textual (a worker's every tool
call and every cron job pays for what it imports); the board's screens and widgets load no CLI
module (the `:` line gets the CLI's runner handed in)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import kanban_tui

PACKAGE = Path(kanban_tui.__file__).parent


def modules_under(folder: str) -> list[str]:
    return [f"kanban_tui.{folder}.{info.name}" for info in pkgutil.iter_modules([str(PACKAGE / folder)])]


def loaded_after(code: str) -> list[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_kernel_tools_and_cli_data_verbs_load_no_textual(tmp_path):
    kernel = "; ".join(f"import {name}" for name in modules_under("kernel"))
    verbs = [["list", "--json"], ["stats", "--json"], ["hosts", "--json"], ["create", "x", "--json"]]
    runs = "; ".join(f"main({['--home', str(tmp_path / 'home'), *argv]!r})" for argv in verbs)
    loaded = loaded_after(f"{kernel}; import kanban_tui.tools; from kanban_tui.cli import main; {runs}")
    assert "kanban_tui.kernel.dispatcher" in loaded and "kanban_tui.cli.read_cmds" in loaded
    assert [name for name in loaded if name == "textual" or name.startswith("textual.")] == []


def test_screens_and_widgets_load_no_cli_module():
    board = "; ".join(f"import {name}" for name in ["kanban_tui.app", *modules_under("screens"),
                                                     *modules_under("widgets")])
    loaded = loaded_after(board)
    assert "kanban_tui.screens.command_line" in loaded and "textual" in loaded
    assert [name for name in loaded if name == "kanban_tui.cli" or name.startswith("kanban_tui.cli.")] == []
