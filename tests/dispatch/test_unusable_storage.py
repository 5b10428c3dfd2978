"""A board that cannot be written: at start (exit 1, one line) and while running (a full disk).

The faults are real: a read-only bind mount of the database file and a small tmpfs filled up
(both need root: mount), or a 0444 file when not root. Nothing in the kernel is mocked.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

import pytest
from harness import PYTHON

from kanban_tui.kernel import db

pytestmark = pytest.mark.sqlite_only  # files, mounts and the WAL of an SQLite board

ROOT = os.geteuid() == 0


@contextlib.contextmanager
def mounted(*argv: str, target):
    done = subprocess.run(["mount", *argv, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        # as root these tests need a real read-only mount: a machine that refuses one fails them
        pytest.fail(f"cannot mount here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def dispatch_only(home, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "kanban_tui", "--home", str(home), *extra, "--dispatch-only"],
                          capture_output=True, text=True, timeout=20)


@contextlib.contextmanager
def read_only(path):
    if not ROOT:  # a plain permission suffices when the kernel will not override it
        path.chmod(0o444)
        yield
        return
    with mounted("--bind", str(path), target=path):
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield


def test_dispatch_only_on_a_read_only_database_exits_1_with_one_line(home):
    db.connect(home.db).close()
    with read_only(home.db):
        done = dispatch_only(home.home)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"kanban-tui: {home.db}: cannot write the database "
                                        "(attempt to write a readonly database)"]
    assert done.stdout == ""


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"not a database at all" * 100), "not an SQLite database (refusing to touch it)"),
    (lambda p: p.mkdir(), "unusable database"),
    (lambda p: (db.connect(p).execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)"), None),
     "is newer than this kanban-tui understands"),
])
def test_dispatch_only_on_an_unusable_database_exits_1_with_one_line(tmp_path, make, message):
    path = tmp_path / "board.db"
    make(path)
    done = dispatch_only(tmp_path / "home", "--db", str(path))
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr and "Traceback" not in done.stderr



def fill(path) -> None:
    """Write zeros to `path` until the file system has no byte left (unbuffered, so the last short
    write raises here and not in close())."""
    with open(path, "ab", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)


@pytest.mark.skipif(not ROOT, reason="needs root to mount a small tmpfs")
def test_a_full_disk_backs_off_logs_little_and_recovers(tmp_path):
    """The disk fills under a running worker, which then dies: the dispatcher cannot record it
    (its pidfd stays readable meanwhile), backs off, logs the repeats once, and recovers."""
    from harness import Board, complete

    home = tmp_path / "home"
    home.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=4m", "tmpfs", target=home):
        board = Board(tmp_path)  # the board's home is the tmpfs; plan and trace stay outside it
        try:
            task = board.create("crasher", [{"do": "heartbeat"}, {"do": "sleep", "seconds": 2}, {"do": "exit", "code": 3}],
                                complete("done"), assignee="dev")
            board.headless()
            # the worker is past its start-up (which reads and writes the board) before the disk fills
            board.wait_for(lambda: "heartbeat" in [e["kind"] for e in board.events(task)], what="the worker's heartbeat")
            filler = home / "filler"
            for _ in range(3):
                # An existing WAL is rewritten in place after a checkpoint, needing no new block; so
                # truncate it to nothing and take the freed space too: every write must now grow it.
                fill(filler)
                board.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            fill(filler)
            time.sleep(7)
            log = board.headless_log()
            errors = [line for line in log.splitlines() if "error:" in line]
            assert 1 <= len(errors) <= 3, log  # backed off, and repeats folded into one line
            assert "database or disk is full" in errors[0], log
            assert board.status(task) == "running", log  # the crash is not recorded yet: no room
            filler.unlink()
            board.wait_for(lambda: board.status(task) == "done", timeout=30, what="the card once the disk has room")
            assert board.outcomes(task) == ["crashed", "completed"]
        finally:
            board.close()
