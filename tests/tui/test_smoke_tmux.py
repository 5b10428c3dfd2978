"""The installed `kanban-tui` in tmux, the way an operator over SSH uses it: the board comes up with
its dispatcher leading, a real scripted worker runs and completes through the tool CLI, quit asks
while that worker runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from kanban_tui import paths as paths_mod
from kanban_tui.kernel import db, queries, transitions

KANBAN_TUI = Path(sys.executable).with_name("kanban-tui")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None or not KANBAN_TUI.exists(),
                                reason="needs tmux and the installed kanban-tui")

WORKER = """\
import json, subprocess, sys, time
from pathlib import Path

go = Path(sys.argv[1])
while not go.exists():  # stay in flight until the test has looked at the board
    time.sleep(0.05)
subprocess.run([sys.executable, "-m", "kanban_tui", "tool", "kanban_complete",
                json.dumps({"summary": "smoke worker finished"})], check=True)
"""


class Tmux:
    def __init__(self, width: int, height: int):
        self.socket = f"kanban-smoke-{uuid.uuid4().hex[:8]}"
        self.size = (width, height)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)

    def start(self, command: str) -> None:
        width, height = self.size
        self.run("new-session", "-d", "-s", "board", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "board").stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "board", *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", "board").returncode == 0

    def wait_for(self, predicate, what: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{self.screen()}")

    def kill(self) -> None:
        self.run("kill-server")


def test_board_dispatches_a_real_worker_and_quits(tmp_path):
    home = paths_mod.resolve(home=tmp_path / "home")
    paths_mod.ensure_home(home)
    go = tmp_path / "go"
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    home.config.write_text(textwrap.dedent(f"""\
        dispatch: {{interval_seconds: 60, max_workers: 2}}
        profiles:
          smoke:
            command: {json.dumps([sys.executable, str(worker), str(go)])}
        """))
    conn = db.connect(home.db)
    task = transitions.create(conn, "Smoke the board", assignee="smoke")["task_id"]
    tmux = Tmux(160, 48)
    # COLUMNS/LINES inherited from the test runner would override the pane's real size.
    tmux.start(f"env -u COLUMNS -u LINES {KANBAN_TUI} --home {home.home}")
    try:
        tmux.wait_for(lambda s: all(title in s for title in ("Triage", "Todo", "Ready", "In progress",
                                                             "Blocked", "Done")), "the column titles")
        tmux.keys("D")
        screen = tmux.wait_for(lambda s: "In progress 1" in s and "● leader" in s, "the task in progress")
        assert task in screen
        assert queries.get_task(conn, task)["status"] == "running"

        tmux.keys("4", "Enter")
        tmux.wait_for(lambda s: "Worker log" in s and "Smoke the board" in s, "the drawer")
        tmux.keys("Escape")
        tmux.wait_for(lambda s: "In progress 1" in s and "Worker log" not in s, "the board again")

        tmux.keys("q")
        tmux.wait_for(lambda s: "Quit?" in s, "the quit question while a worker runs")
        tmux.keys("n")
        tmux.wait_for(lambda s: "Quit?" not in s and "In progress 1" in s, "the board after n")

        go.touch()
        tmux.wait_for(lambda s: "Done 1" in s and "smoke worker finished" in s, "the completed card")
        assert queries.runs(conn, task)[-1]["summary"] == "smoke worker finished"
        tmux.wait_for(lambda s: "0/2 workers" in s, "the worker count back at zero")
        tmux.keys("q")
        deadline = time.monotonic() + 10
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not tmux.alive(), tmux.screen()
    finally:
        tmux.kill()
        conn.close()
