"""What the doors' bad-input tests share: a seeded board, a digest proving a refusal changed
nothing, and the checks every CLI refusal must pass (exit code, one line on stderr, no traceback)."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from pathlib import Path

from kanban_tui.kernel import db, transitions


def board_digest(db_path: Path) -> dict[str, tuple[int, str]]:
    """{table: (row count, sha256 of its rows)} for every table in the file."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        digest = {}
        for table in tables:
            rows = sorted(map(repr, conn.execute(f'SELECT * FROM "{table}"')))
            digest[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return digest
    finally:
        conn.close()


def assert_refused(code: int, out: str, err: str, expected_code: int, fragment: str) -> None:
    """The CLI's answer to bad input: the exit code, one line on stderr naming the problem."""
    assert code == expected_code, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("kanban-tui: ") and err.count("\n") == 1, err
    assert fragment in err, err


class Seeded:
    """A board with a card in each state a verb may meet: ready, running (claimed), blocked."""

    def __init__(self, home):
        self.home = home
        conn = db.connect(home.db)
        try:
            self.ready = transitions.create(conn, "ready card", assignee="dev")["task_id"]
            self.running = transitions.create(conn, "running card", assignee="dev")["task_id"]
            self.run_id = transitions.claim(conn, self.running)["run_id"]
            self.blocked = transitions.create(conn, "blocked card", assignee="dev")["task_id"]
            transitions.block(conn, self.blocked, reason="waiting")
        finally:
            conn.close()

    def digest(self) -> dict[str, tuple[int, str]]:
        return board_digest(self.home.db)

    def ids(self, argv: list[str]) -> list[str]:
        """argv with READY, RUNNING and BLOCKED replaced by the seeded ids."""
        names = {"READY": self.ready, "RUNNING": self.running, "BLOCKED": self.blocked}
        return [names.get(arg, arg) for arg in argv]


KANBAN_TUI = Path(sys.executable).with_name("kanban-tui")  # the installed command
