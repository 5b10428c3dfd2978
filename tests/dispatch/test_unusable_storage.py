"""A board that cannot be written while running (a full disk).

The faults are real: a read-only bind mount of the database file and a small tmpfs filled up
(both need root: mount), or a 0444 file when not root. Nothing in the kernel is mocked.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

import pytest
from harness import PYTHON, complete

from kanban_tui.kernel import db

ROOT = os.geteuid() == 0


@contextlib.contextmanager
def mounted(*argv: str, target):
    done = subprocess.run(["mount", *argv, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


@pytest.mark.skipif(not ROOT, reason="needs root to mount a small tmpfs")
def test_a_full_disk_backs_off_logs_little_and_recovers(tmp_path):
    """The disk fills under a running worker, which then dies: the dispatcher cannot record it
    (its pidfd stays readable meanwhile), backs off, logs the repeats once, and recovers."""
    from harness import Board

    home = tmp_path / "home"
    home.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=4m", "tmpfs", target=home):
        board = Board(tmp_path)  # the board's home is the tmpfs; logs and plans stay outside it
        try:
            task = board.create("crasher", [{"do": "sleep", "seconds": 1.5}, {"do": "exit", "code": 3}],
                                complete("done"), assignee="dev")
            board.headless()
            board.wait_for(lambda: board.status(task) == "running", what="the worker to start")
            filler = home / "filler"
            with open(filler, "wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            time.sleep(7)
            log = board.headless_log()
            errors = [line for line in log.splitlines() if "error:" in line]
            assert 1 <= len(errors) <= 3, log  # backed off, and repeats folded into one line
            assert "database or disk is full" in errors[0]
            assert board.status(task) == "running"  # the crash is not recorded yet: no room
            filler.unlink()
            board.wait_for(lambda: board.status(task) == "done", timeout=30, what="the card once the disk has room")
            assert board.outcomes(task) == ["crashed", "completed"]
        finally:
            board.close()
