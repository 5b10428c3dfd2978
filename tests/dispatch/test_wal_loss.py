"""The WAL: the idle leader checkpoints it; doctor notices one deleted under a live board."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from harness import PYTHON

from kanban_tui.kernel import db

pytestmark = pytest.mark.sqlite_only  # files, mounts and the WAL of an SQLite board


def cli(board, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "kanban_tui", "--home", str(board.paths.home), *args],
                          capture_output=True, text=True, timeout=60)


def test_acknowledged_creates_survive_losing_the_wal_and_the_dispatcher(board):
    # the test's own connection would checkpoint on close: only CLI processes and the leader hold the board
    board.conn.close()
    try:
        leader = board.headless()
        board.wait_for(lambda: "leading" in board.headless_log(), what="the headless dispatcher to lead")
        created = [json.loads(cli(board, "create", f"card {n}", "--json").stdout)["id"] for n in range(20)]
        wal = f"{board.paths.db}-wal"

        board.wait_for(lambda: _leader_checkpointed(board, len(created)),
                       what="the idle leader's checkpoint")
        os.unlink(wal)

        doctor = cli(board, "doctor")
        assert doctor.returncode == 1
        assert doctor.stdout.strip() == (f"kanban.db-wal is missing while process(es) {leader.pid} still write to "
                                         "the deleted file: writes not yet checkpointed are lost when they exit")
        assert doctor.stderr == ""
        assert not os.path.exists(wal), "doctor must not open the board (that would create a fresh WAL)"

        leader.send_signal(signal.SIGKILL)
        leader.wait()
    finally:
        board.conn = db.connect(board.paths.db)
    listed = [task["id"] for task in json.loads(cli(board, "list", "--json").stdout)]
    assert sorted(listed) == sorted(created)
    assert cli(board, "doctor").returncode == 0


def _leader_checkpointed(board, count: int) -> bool:
    """The database file alone (read with the WAL ignored) already holds every card."""
    import sqlite3

    raw = sqlite3.connect(f"file:{board.paths.db}?immutable=1", uri=True)
    try:
        return raw.execute("SELECT count(*) FROM tasks").fetchone()[0] == count
    finally:
        raw.close()
