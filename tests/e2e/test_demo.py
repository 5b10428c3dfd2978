"""The demo as an operator meets it: in tmux at 160x48, through the installed command, and
from a fresh clone with the README's `make run`."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kanban_tui.demo import home as demo_home
from kanban_tui.kernel import db, queries

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

REPO = Path(__file__).resolve().parents[2]
KANBAN_TUI = Path(sys.executable).with_name("kanban-tui")
COLUMNS = ("Triage", "Todo", "Ready", "In progress", "Blocked", "Done")
HEADER = re.compile(r"\s+".join(rf"{re.escape(title)}\s*\(?(\d+)\)?" for title in COLUMNS))
DEMO_SECONDS = 60
FIRST_RUN_SECONDS = 300  # `make run` in a fresh clone creates a venv and pip installs first


class Tmux:
    """One tmux server of our own (its socket in cwd), one 160x48 window running a command."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]):
        self.socket = str(cwd / "tmux.sock")
        assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        # Children of the pytest process inherit COLUMNS=80/LINES=24 (set beneath os.environ),
        # which would pin the app at 80x24 inside the 160x48 pane.
        unset = "-u KANBAN_TUI_HOME -u KANBAN_DB -u COLUMNS -u LINES"
        script = f"cd {shlex.quote(str(cwd))} && env {unset} {assignments} {command}"
        self.tmux("new-session", "-d", "-x", "160", "-y", "48", "bash", "-c", f"{script}; sleep 600")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], check=True, capture_output=True,
                              text=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


def column_counts(screen: str) -> dict[str, int] | None:
    for line in screen.splitlines():
        found = HEADER.search(line)
        if found:
            return dict(zip(COLUMNS, map(int, found.groups())))
    return None


def column_at(screen: str, text: str) -> str | None:
    """The column whose header sits above where `text` first shows under the header row."""
    lines = screen.splitlines()
    row = next((i for i, line in enumerate(lines) if HEADER.search(line)), None)
    if row is None:
        return None
    where = next((line.index(text) for line in lines[row + 1:] if text in line), None)
    if where is None:
        return None
    starts = sorted((lines[row].index(title), title) for title in COLUMNS)
    return next((title for start, title in reversed(starts) if start <= where + 1), None)


def stop_leftover_workers(home: Path) -> None:
    """A failed run may leave scripted workers (a hanging one) behind."""
    demo_home.stop_leftover_workers(demo_home.demo_paths(str(home)))


def runs_of(db_path: Path, title: str) -> list[str]:
    conn = db.connect(db_path)
    try:
        task = next(t for t in queries.list_tasks(conn) if t["title"] == title)
        return [run["outcome"] for run in queries.runs(conn, task["id"])]
    finally:
        conn.close()


def test_demo_board_plays_the_stories(tmp_path):
    home = tmp_path / "demo"
    session = Tmux(f"{shlex.quote(str(KANBAN_TUI))} demo --home {shlex.quote(str(home))}", tmp_path,
                   {"TERM": "xterm-256color"})
    seen: set[str] = set()
    deploy_column = migration_column = None
    try:
        deadline = time.monotonic() + DEMO_SECONDS
        while time.monotonic() < deadline:
            screen = session.screen()
            counts = column_counts(screen) or {}
            seen |= {title for title in ("Done", "In progress", "Blocked") if counts.get(title)}
            deploy_column = column_at(screen, "Deploy to staging")
            migration_column = column_at(screen, "Backfill accounts")
            if seen == {"Done", "In progress", "Blocked"} and deploy_column == "Blocked" \
                    and migration_column == "Done":
                break
            time.sleep(0.5)
        assert seen == {"Done", "In progress", "Blocked"}, screen
        assert deploy_column == "Blocked", screen
        assert migration_column == "Done", screen
        assert runs_of(home / "kanban.db", "Deploy to staging (missing creds)") == \
            ["spawn_failed", "spawn_failed", "gave_up"]
        assert runs_of(home / "kanban.db", "Backfill accounts.region (2.4M rows)") == ["crashed", "completed"]
    finally:
        session.close()
        stop_leftover_workers(home)


@pytest.mark.timeout(FIRST_RUN_SECONDS + 60)
def test_make_run_in_a_fresh_clone_opens_the_board(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    data = tmp_path / "data"  # platformdirs puts the demo home here, not in the real user dir
    session = Tmux("make run", clone, {"TERM": "xterm-256color", "XDG_DATA_HOME": str(data)})
    try:
        deadline = time.monotonic() + FIRST_RUN_SECONDS
        screen = ""
        while time.monotonic() < deadline and column_counts(screen) is None:
            time.sleep(2)
            screen = session.screen()
        assert column_counts(screen) is not None, screen
    finally:
        session.close()
        stop_leftover_workers(data / "kanban-tui-demo")
