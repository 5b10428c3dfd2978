"""TUI benchmarks at 10k live tasks, with the real terminal driver inside a pseudo-terminal.

The parent seeds a board, then runs this module as a child process (`child board|empty`) in a
160x48 pty and drains its output. The child times, from inside the app:
- first frame: process start to the first painted frame holding the board's cards;
- incremental refresh: 10 cards change (another connection, like the CLI or a worker); from the
  board's reload to the painted frame after it; and from the commit to that frame;
- full repaint: a SIGWINCH resize to the first frame painted at the new size;
- RSS once the board is loaded.
Baselines from the same run: an empty Textual app (first frame, resize, RSS) in the same pty and
the raw `board_snapshot` query the refresh has to make.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from bench.common import median_seconds, result, scratch_home, seed_tasks
from kanban_tui.screens.board import PAGE

TASKS = 10_000
RUNNING = 150
ROUNDS = 15
CHANGES = 10
SIZE = (160, 48)
RESIZED = (150, 46)


# ---------------------------------------------------------------- parent


def _seed(home: Path) -> None:
    from kanban_tui.kernel import db, queries
    from kanban_tui.kernel import transitions as T

    seed_tasks(home / "kanban.db", TASKS)
    conn = db.connect(home / "kanban.db")
    for card in queries.board_snapshot(conn, per_column=RUNNING)["columns"]["ready"]:
        T.claim(conn, card["id"])
    conn.close()


def _set_size(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def _run_child(kind: str, home: Path) -> dict:
    """Run `child <kind>` in a pty; returns its measurements plus the spawn wall time."""
    out = home / f"{kind}.json"
    master, slave = os.openpty()
    _set_size(slave, *SIZE)
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    spawned = time.time()
    child = subprocess.Popen([sys.executable, "-m", "bench.bench_tui", "child", kind, str(home), str(out)],
                             stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                             cwd=Path(__file__).resolve().parent.parent)
    os.close(slave)
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                os.read(master, 65536)
            except OSError:
                break
    if child.poll() is None:
        child.kill()
    child.wait()
    os.close(master)
    data = json.loads(out.read_text())
    data["first_frame"] = data["first_frame_at"] - spawned
    return data


def _snapshot_seconds(home: Path) -> float:
    from kanban_tui.kernel import db, queries

    conn = db.connect(home / "kanban.db")
    seconds = median_seconds(lambda: queries.board_snapshot(conn, per_column=PAGE), 20)
    conn.close()
    return seconds


def run() -> list[dict]:
    home = scratch_home("tui")
    _seed(home)
    empty = _run_child("empty", home)
    board = _run_child("board", home)
    query = _snapshot_seconds(home)
    ms = 1000
    return [
        result(f"first frame at {TASKS // 1000}k tasks", board["first_frame"] * ms, "ms",
               "empty Textual app first frame", empty["first_frame"] * ms, "<= 1000 ms",
               board["first_frame"] <= 1.0),
        result(f"incremental refresh, {CHANGES} cards changed", board["refresh"] * ms, "ms",
               f"raw board_snapshot query ({PAGE}/column)", query * ms, "<= 50 ms", board["refresh"] <= 0.050),
        result("commit to painted (bridge poll included)", board["commit_to_paint"] * ms, "ms",
               f"raw board_snapshot query ({PAGE}/column)", query * ms, "<= 500 ms", board["commit_to_paint"] <= 0.5),
        result("full repaint after resize", board["resize"] * ms, "ms", "empty Textual app resize",
               empty["resize"] * ms, "<= 40 ms", board["resize"] <= 0.040),
        result(f"RSS at {TASKS // 1000}k tasks", board["rss"] / 2**20, "MiB", "empty Textual app RSS",
               empty["rss"] / 2**20, "<= 150 MiB", board["rss"] <= 150 * 2**20),
    ]


# ---------------------------------------------------------------- child (inside the pty)


class _Stamps:
    """Times taken inside the app's event loop, after the frame that follows a change is painted."""

    def __init__(self, app):
        self.app = app
        self.painted = asyncio.Event()
        self.painted_at = 0.0

    def after_next_frame(self) -> None:
        self.painted.clear()
        self.app.call_after_refresh(self._stamp)

    def _stamp(self) -> None:
        self.painted_at = time.perf_counter()
        self.painted.set()


async def _resize_seconds(app) -> float:
    """SIGWINCH to the first frame painted at the new size (the full repaint)."""
    screen = app.screen
    frames: list[tuple[float, tuple[int, int]]] = []
    refresh = screen._compositor_refresh

    def timed_refresh() -> None:
        refresh()
        frames.append((time.perf_counter(), tuple(screen.size)))

    screen._compositor_refresh = timed_refresh
    samples = []
    for columns, rows in [RESIZED, SIZE] * 5:
        frames.clear()
        _set_size(sys.stdin.fileno(), columns, rows)
        started = time.perf_counter()
        os.kill(os.getpid(), signal.SIGWINCH)
        await asyncio.sleep(0.3)
        samples.append(next(at for at, size in frames if size == (columns, rows)) - started)
    screen._compositor_refresh = refresh
    return statistics.median(samples)


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _child_empty(out: Path) -> None:
    from textual.app import App
    from textual.widgets import Static

    class Empty(App):
        def compose(self):
            yield Static("hello")

        async def on_mount(self) -> None:
            self.call_after_refresh(self._first_frame)

        def _first_frame(self) -> None:
            self.first_frame_at = time.time()
            self.run_worker(self._measure())

        async def _measure(self) -> None:
            resize = await _resize_seconds(self)
            out.write_text(json.dumps({"first_frame_at": self.first_frame_at, "resize": resize, "rss": _rss()}))
            self.exit()

    Empty().run()


def _child_board(home: Path, out: Path) -> None:
    from kanban_tui.app import KanbanApp
    from kanban_tui.config import Config
    from kanban_tui.gateway import Gateway
    from kanban_tui.kernel import db, queries
    from kanban_tui.kernel import transitions as T
    from kanban_tui.paths import Paths

    app = KanbanApp(Gateway(Paths(home=home, db=home / "kanban.db"), Config()), start_dispatcher=False,
                    tune_gc=True)
    board = app.board
    stamps = _Stamps(app)
    reload_started: list[float] = []
    apply, reload = board._apply, board.reload

    def timed_reload(**kwargs) -> None:
        reload_started.append(time.perf_counter())
        reload(**kwargs)

    def timed_apply(data) -> None:
        apply(data)
        stamps.after_next_frame()

    board.reload, board._apply = timed_reload, timed_apply

    async def measure() -> None:
        await stamps.painted.wait()
        first_frame_at = time.time()
        rss = _rss()
        writer = db.connect(home / "kanban.db")
        cards = queries.board_snapshot(writer, per_column=CHANGES)["columns"]["ready"]
        refresh, commit_to_paint = [], []
        for round_ in range(ROUNDS):
            await asyncio.sleep(0.3)  # let the periodic timers and the previous round settle
            reload_started.clear()
            stamps.painted.clear()
            committed = await asyncio.to_thread(_change_cards, T, writer, cards, round_)
            await stamps.painted.wait()
            while not reload_started or stamps.painted_at < reload_started[-1]:
                stamps.painted.clear()
                await stamps.painted.wait()
            refresh.append(stamps.painted_at - reload_started[-1])
            commit_to_paint.append(stamps.painted_at - committed)
        resize = await _resize_seconds(app)
        writer.close()
        out.write_text(json.dumps({"first_frame_at": first_frame_at, "refresh": statistics.median(refresh),
                                   "commit_to_paint": statistics.median(commit_to_paint),
                                   "resize": resize, "rss": max(rss, _rss())}))
        app.exit()

    app.call_later(lambda: app.run_worker(measure()))
    app.run()


def _change_cards(T, conn, cards: list[dict], round_: int) -> float:
    """Re-prioritise CHANGES visible cards, one transaction each; returns when the last committed."""
    for card in cards:
        T.edit(conn, card["id"], priority=card["priority"] + 1 + round_ % 2)
    return time.perf_counter()


def _child(argv: list[str]) -> None:
    kind, home, out = argv[0], Path(argv[1]), Path(argv[2])
    if kind == "empty":
        _child_empty(out)
    else:
        _child_board(home, out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        _child(sys.argv[2:])
    else:
        for row in run():
            print(row)
