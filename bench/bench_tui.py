"""TUI benchmarks at 10k live tasks, with the real terminal driver inside a pseudo-terminal.

The parent seeds a board, then runs this module as a child process (`child <kind>`) in a 160x48
pty and drains its output. The children time, from inside the app:
- first frame: process start to the first painted frame holding the board's cards;
- incremental refresh: 10 cards change (another connection, like the CLI or a worker); from the
  board's reload to the painted frame after it (median, and the slowest round against the
  ceiling); and from the commit to that frame;
- full repaint: a SIGWINCH resize to the first frame painted at the new size. Textual holds every
  resize for a fixed 1/120 s (App._on_resize's debounce timer) before the screen sees it; the
  target figure starts when that timer hands the resize to the screen, a second row starts at
  the SIGWINCH itself;
- event tail: 100 events committed in one transaction while the board-wide tail is open; from the
  tail's append of them to the painted frame, and from its notice (the bridge's message), so with
  its thread read of the events;
- RSS once the board is loaded;
- frame times while the in-process dispatcher spawns ~4 real workers a second (`child workers`,
  on a copy of the board whose `bench` profile runs a worker that completes its task and exits):
  the full repaint above and a cursor move (action to painted frame), sampled in phases that
  alternate between an idle dispatcher (leading, nothing to spawn) and a feeder process creating
  4 ready `bench` tasks a second. The spawn rate is counted from the `spawned` events.
Baselines from the same run: an empty Textual app (first frame, resize, RSS) in the same pty, the
raw `board_snapshot` query the refresh has to make, a raw SELECT of the tail's 100 events, and the
same frames with the dispatcher idle.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import select
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

# Only the standard library at import time: the empty-app child imports this module too, and its
# first frame is the baseline (kanban_tui and bench.common are imported where they are used).

TASKS = 10_000
RUNNING = 150
SEED_CLAIM_TTL = 86_400  # the seeded running cards' leases outlast the run (no expiry mid-benchmark)
ROUNDS = 15
CHANGES = 10
SIZE = (160, 48)
RESIZED = (150, 46)
RESIZES = 10
TEXTUAL_RESIZE_DEBOUNCE = 1 / 120  # App._on_resize: set_timer(1 / 120, self._check_resize)
TAIL_EVENTS = 100
TAIL_ROUNDS = 15
SPAWNS_PER_SECOND = 4.0
PHASES = ("idle", "busy", "idle", "busy", "idle", "busy", "idle")
PHASE_SAMPLES = 10         # resizes and cursor moves per phase
BUSY_WARMUP = 1.5          # seconds from starting the feeder to the first busy sample
PROFILE = "bench"
WORKER = ("import sys; from kanban_tui import tools; "
          "sys.exit(0 if tools.call('kanban_complete', {'summary': 'bench worker'}).get('ok') else 9)")
FEEDER = """
import os, sys, time
from kanban_tui.kernel import db, transitions
conn = db.connect(sys.argv[1])
period = 1 / float(sys.argv[2])
parent = os.getppid()
due = time.monotonic()
n = 0
while os.getppid() == parent:  # never outlives the bench child
    transitions.create(conn, f"bench worker task {n}", assignee=sys.argv[3])
    n += 1
    due += period
    time.sleep(max(0.0, due - time.monotonic()))
"""


# ---------------------------------------------------------------- parent


def _seed(home: Path) -> None:
    from bench.common import seed_tasks
    from kanban_tui.kernel import db, queries
    from kanban_tui.kernel import transitions as T

    seed_tasks(home / "kanban.db", TASKS)
    conn = db.connect(home / "kanban.db")
    for card in queries.board_snapshot(conn, per_column=RUNNING)["columns"]["ready"]:
        T.claim(conn, card["id"], ttl=SEED_CLAIM_TTL)
    conn.close()


def _workers_home(seeded: Path) -> Path:
    """A copy of the seeded board whose `bench` profile runs a worker that completes its task.

    The seeded assignees have no command; one dispatcher pass here records that (an event per
    ready task), so the measured dispatcher starts from a board it has already looked at.
    """
    from bench.common import scratch_home
    from kanban_tui import paths as paths_module
    from kanban_tui.config import load_config
    from kanban_tui.kernel import db, tick

    paths = paths_module.resolve(home=scratch_home("tui-workers"))
    paths_module.ensure_home(paths)
    source, target = sqlite3.connect(seeded / "kanban.db"), sqlite3.connect(paths.db)
    source.backup(target)
    source.close()
    target.close()
    paths.config.write_text(json.dumps({
        "dispatch": {"interval_seconds": 60, "max_workers": 1000},
        "profiles": {PROFILE: {"command": [sys.executable, "-c", WORKER], "max_workers": 8}}}))
    conn = db.connect(paths.db)
    tick.tick(conn, paths, load_config(paths.config), max_spawn=0)
    conn.close()
    return paths.home


def _set_size(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def _run_child(kind: str, home: Path) -> dict:
    """Run `child <kind>` in a pty; returns its measurements plus the spawn wall time."""
    out = home / f"{kind}.json"
    out.unlink(missing_ok=True)
    master, slave = os.openpty()
    _set_size(slave, *SIZE)
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    spawned = time.time()
    child = subprocess.Popen([sys.executable, "-m", "bench.bench_tui", "child", kind, str(home), str(out)],
                             stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                             cwd=Path(__file__).resolve().parent.parent)
    os.close(slave)
    deadline = time.monotonic() + 300
    tail = b""  # the end of what the child wrote: its traceback, should it fail
    while child.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                tail = (tail + os.read(master, 65536))[-20_000:]
            except OSError:
                break
    if child.poll() is None:
        child.kill()
    child.wait()
    os.close(master)
    if not out.exists():
        text = tail.decode("utf-8", "replace")
        raise RuntimeError(f"bench child {kind!r} exited {child.returncode} without measurements:\n"
                           f"{text[text.rfind(chr(27) + '[?1049l') + 1:][-4000:]}")
    data = json.loads(out.read_text())
    data["first_frame"] = data["first_frame_at"] - spawned
    return data


def _snapshot_seconds(home: Path) -> float:
    from bench.common import median_seconds
    from kanban_tui.kernel import db, queries
    from kanban_tui.screens.board import PAGE

    conn = db.connect(home / "kanban.db")
    seconds = median_seconds(lambda: queries.board_snapshot(conn, per_column=PAGE), 20)
    conn.close()
    return seconds


def _raw_tail_read_seconds(home: Path) -> float:
    from bench.common import median_seconds
    from kanban_tui.kernel import db, queries

    conn = db.connect(home / "kanban.db")
    after = queries.max_event_id(conn) - TAIL_EVENTS
    seconds = median_seconds(lambda: conn.execute("SELECT * FROM task_events WHERE id > ? ORDER BY id",
                                                  (after,)).fetchall(), 50)
    conn.close()
    return seconds


def _spawn_rate(home: Path, windows: list[list[float]]) -> float:
    """`spawned` events per second inside the busy sampling windows."""
    conn = sqlite3.connect(home / "kanban.db")
    spawned = sum(conn.execute("SELECT count(*) FROM task_events WHERE kind = 'spawned' "
                               "AND created_at BETWEEN ? AND ?", window).fetchone()[0] for window in windows)
    conn.close()
    return spawned / sum(end - start for start, end in windows)


def run() -> list[dict]:
    from bench.common import result, scratch_home
    from kanban_tui.screens.board import PAGE

    home = scratch_home("tui")
    _seed(home)
    workers_home = _workers_home(home)
    empty = _run_child("empty", home)
    board = _run_child("board", home)
    workers = _run_child("workers", workers_home)
    query = _snapshot_seconds(home)
    tail_read = _raw_tail_read_seconds(home)
    rate = _spawn_rate(workers_home, workers["busy_windows"])
    ms = 1000
    med = statistics.median
    refresh, resize, resize_signal = board["refresh"], board["resize"], board["resize_from_signal"]
    rows = [
        result(f"first frame at {TASKS // 1000}k tasks", board["first_frame"] * ms, "ms",
               "empty Textual app first frame", empty["first_frame"] * ms, "<= 1000 ms",
               board["first_frame"] <= 1.0),
        result(f"incremental refresh, {CHANGES} cards changed (median)", med(refresh) * ms, "ms",
               f"raw board_snapshot query ({PAGE}/column)", query * ms, "<= 50 ms", med(refresh) <= 0.050),
        result(f"incremental refresh, slowest of {len(refresh)} rounds", max(refresh) * ms, "ms",
               f"raw board_snapshot query ({PAGE}/column)", query * ms, "<= 100 ms (ceiling)",
               max(refresh) <= 0.100),
        result("commit to painted (bridge poll included)", board["commit_to_paint"] * ms, "ms",
               f"raw board_snapshot query ({PAGE}/column)", query * ms, "<= 500 ms", board["commit_to_paint"] <= 0.5),
        result("full repaint after resize (from Textual's debounced resize)", med(resize) * ms, "ms",
               "empty Textual app, same", med(empty["resize"]) * ms, "<= 40 ms", med(resize) <= 0.040),
        result("full repaint after resize (from SIGWINCH, +8 ms debounce)", med(resize_signal) * ms, "ms",
               "empty Textual app, same", med(empty["resize_from_signal"]) * ms, "<= 48 ms (40 + debounce)",
               med(resize_signal) <= 0.040 + TEXTUAL_RESIZE_DEBOUNCE),
        result(f"event tail: {TAIL_EVENTS} events appended to painted (median)", med(board["tail_append"]) * ms,
               "ms", f"raw SELECT of {TAIL_EVENTS} events", tail_read * ms, "<= 10 ms",
               med(board["tail_append"]) <= 0.010),
        result(f"event tail: notice of {TAIL_EVENTS} events to painted (read included)", med(board["tail"]) * ms,
               "ms", f"raw SELECT of {TAIL_EVENTS} events", tail_read * ms, "<= 10 ms", med(board["tail"]) <= 0.010),
        result(f"RSS at {TASKS // 1000}k tasks", board["rss"] / 2**20, "MiB", "empty Textual app RSS",
               empty["rss"] / 2**20, "<= 150 MiB", board["rss"] <= 150 * 2**20),
    ]
    for name, label in (("resize", "full repaint (debounced resize)"), ("cursor", "cursor move")):
        busy, idle = med(workers[name]["busy"]), med(workers[name]["idle"])
        rows.append(result(f"{label} while spawning {rate:.1f} workers/s", busy * ms, "ms",
                           "same, dispatcher idle", idle * ms, "ratio <= 1.10 at >= 3.6 spawns/s",
                           busy <= 1.10 * idle and rate >= 0.9 * SPAWNS_PER_SECOND))
    return rows


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


class _Frames:
    """Every frame a screen paints: (when it was painted, at what size, the widgets it repainted)."""

    def __init__(self, screen):
        self.screen = screen
        self.log: list[tuple[float, tuple[int, int], frozenset]] = []
        self._new = asyncio.Event()
        self._refresh = screen._compositor_refresh
        screen._compositor_refresh = self._timed

    def _timed(self) -> None:
        dirty = frozenset(self.screen._dirty_widgets)
        self._refresh()
        # the size the compositor painted at (screen.size is the app's, set before the resize is handled)
        self.log.append((time.perf_counter(), tuple(self.screen._compositor.size), dirty))
        self._new.set()

    def mark(self) -> int:
        return len(self.log)

    async def first(self, since: int, match, timeout: float = 5.0) -> float:
        """When the first frame painted after `mark()` satisfying `match(painted_at, size, dirty)` was."""
        deadline = time.perf_counter() + timeout
        while True:
            for painted_at, size, dirty in self.log[since:]:
                if match(painted_at, size, dirty):
                    return painted_at
            since = len(self.log)
            self._new.clear()
            await asyncio.wait_for(self._new.wait(), max(0.001, deadline - time.perf_counter()))


class _ResizeClock:
    """Times one resize: from the SIGWINCH, and from Textual's debounce timer handing it to the screen."""

    def __init__(self, app, frames: _Frames):
        self.frames = frames
        self.handed: list[float] = []
        check = app._check_resize

        def timed_check() -> None:
            self.handed.append(time.perf_counter())
            check()

        app._check_resize = timed_check  # App._on_resize arms its timer with self._check_resize

    async def sample(self, size: tuple[int, int]) -> tuple[float, float]:
        """(SIGWINCH -> first frame at `size`, debounced resize -> that frame)."""
        since = self.frames.mark()
        self.handed.clear()
        _set_size(sys.stdin.fileno(), *size)
        signalled = time.perf_counter()
        os.kill(os.getpid(), signal.SIGWINCH)
        painted = await self.frames.first(since, lambda _at, shown, _dirty: shown == size)
        return painted - signalled, painted - self.handed[0]


async def _resize_samples(app, count: int = RESIZES) -> tuple[list[float], list[float]]:
    frames = _Frames(app.screen)
    clock = _ResizeClock(app, frames)
    from_signal, from_screen = [], []
    for columns, rows in [RESIZED, SIZE] * (count // 2):
        await asyncio.sleep(0.3)  # the previous resize's follow-up frames are done
        whole, after_debounce = await clock.sample((columns, rows))
        from_signal.append(whole)
        from_screen.append(after_debounce)
    return from_signal, from_screen


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
            from_signal, resize = await _resize_samples(self)
            out.write_text(json.dumps({"first_frame_at": self.first_frame_at, "resize": resize,
                                       "resize_from_signal": from_signal, "rss": _rss()}))
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
        from_signal, resize = await _resize_samples(app)
        tail, tail_append = await _tail_samples(app, writer, [card["id"] for card in cards])
        writer.close()
        out.write_text(json.dumps({"first_frame_at": first_frame_at, "refresh": refresh,
                                   "commit_to_paint": statistics.median(commit_to_paint),
                                   "resize": resize, "resize_from_signal": from_signal, "tail": tail,
                                   "tail_append": tail_append,
                                   "rss": max(rss, _rss())}))
        app.exit()

    app.call_later(lambda: app.run_worker(measure()))
    app.run()


def _change_cards(T, conn, cards: list[dict], round_: int) -> float:
    """Re-prioritise CHANGES visible cards, one transaction each; returns when the last committed."""
    for card in cards:
        T.edit(conn, card["id"], priority=card["priority"] + 1 + round_ % 2)
    return time.perf_counter()


async def _tail_samples(app, writer, task_ids: list[str]) -> tuple[list[float], list[float]]:
    """The board-wide tail open; TAIL_EVENTS comments committed at once. Returns the painted frame
    timed from the tail's notice (its read included) and from its append of the events."""
    from kanban_tui.screens.tail import EventTail
    from kanban_tui.widgets.event_log import EventLog

    class TimedTail(EventTail):
        noticed_at = 0.0    # the first notice of a round's commit
        appending_at = 0.0  # when the first of its events reached append_events (read done)
        appended = 0        # events of the round appended so far
        complete_at = 0.0   # when the last of them was appended

        def on_board_changed(self, message) -> None:
            self.noticed_at = self.noticed_at or time.perf_counter()
            super().on_board_changed(message)

        def append_events(self, events: list[dict]) -> None:
            started, before = time.perf_counter(), self.cursor
            super().append_events(events)
            fresh = sum(1 for event in events if event["id"] > before)
            if fresh and not self.appending_at:
                self.appending_at = started
            self.appended += fresh
            if self.appended >= TAIL_EVENTS and not self.complete_at:
                self.complete_at = time.perf_counter()

    tail = TimedTail()
    await app.push_screen(tail)
    while not tail.cursor:
        await asyncio.sleep(0.05)
    frames = _Frames(tail)
    log = tail.query_one(EventLog)
    from_notice, from_append = [], []
    for round_ in range(TAIL_ROUNDS):
        await asyncio.sleep(0.3)
        tail.noticed_at, tail.appending_at, tail.appended, tail.complete_at = 0.0, 0.0, 0, 0.0
        since = frames.mark()
        await asyncio.to_thread(_comment_batch, writer, task_ids, round_)
        painted = await frames.first(since, lambda at, _size, dirty: log in dirty and 0 < tail.complete_at < at)
        from_notice.append(painted - tail.noticed_at)
        from_append.append(painted - tail.appending_at)
    tail.dismiss(None)
    return from_notice, from_append


def _comment_batch(conn, task_ids: list[str], round_: int) -> None:
    """TAIL_EVENTS comments in one transaction (the kernel's own comment insert, batched)."""
    from kanban_tui.kernel import db, transitions

    now = time.time()

    def tx(c) -> None:
        for n in range(TAIL_EVENTS):
            transitions._add_comment(c, task_ids[n % len(task_ids)], "bench",
                                     f"round {round_} note {n}: checked the build, moving on", now)

    db.write(conn, tx)


def _child_workers(home: Path, out: Path) -> None:
    from kanban_tui import paths as paths_module
    from kanban_tui.app import KanbanApp
    from kanban_tui.config import load_config
    from kanban_tui.gateway import Gateway

    paths = paths_module.resolve(home=home)
    app = KanbanApp(Gateway(paths, load_config(paths.config)), start_dispatcher=True, tune_gc=True)
    board = app.board

    async def settle(seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def drained() -> None:
        """No `bench` worker left running (the seeded RUNNING claims stay)."""
        deadline = time.monotonic() + 30
        while app.dispatcher.status()["live_workers"] > RUNNING and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def measure() -> None:
        while not (board.loaded and app.dispatcher.status()["last_tick_at"]):
            await asyncio.sleep(0.05)
        await settle(1.0)
        frames = _Frames(board)
        clock = _ResizeClock(app, frames)
        samples = {"resize": {"idle": [], "busy": []}, "cursor": {"idle": [], "busy": []}}
        jitter = random.Random(0)
        busy_windows = []
        for phase in PHASES:
            feeder = None
            if phase == "busy":
                feeder = subprocess.Popen([sys.executable, "-c", FEEDER, str(paths.db), str(SPAWNS_PER_SECOND),
                                           PROFILE], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                await settle(BUSY_WARMUP)
            started = time.time()
            try:
                for n in range(PHASE_SAMPLES):
                    await settle(0.15 + 0.15 * jitter.random())  # no lockstep with the feeder's beat
                    samples["resize"][phase].append((await clock.sample(RESIZED if n % 2 == 0 else SIZE))[1])
                    await settle(0.15 + 0.15 * jitter.random())
                    card_list = board.card_list
                    since = frames.mark()
                    moved = time.perf_counter()
                    card_list.action_cursor_down() if n % 2 == 0 else card_list.action_cursor_up()
                    painted = await frames.first(since, lambda _at, _size, dirty: card_list in dirty)
                    samples["cursor"][phase].append(painted - moved)
            finally:
                if feeder is not None:
                    feeder.terminate()
                    feeder.wait()
            if feeder is not None:
                busy_windows.append([started, time.time()])
                await drained()
            await settle(0.5)
        out.write_text(json.dumps({"first_frame_at": 0.0, "busy_windows": busy_windows, **samples}))
        app.exit()

    app.call_later(lambda: app.run_worker(measure()))
    app.run()


def _child(argv: list[str]) -> None:
    kind, home, out = argv[0], Path(argv[1]), Path(argv[2])
    if kind == "empty":
        _child_empty(out)
    elif kind == "workers":
        _child_workers(home, out)
    else:
        _child_board(home, out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        _child(sys.argv[2:])
    else:
        for row in run():
            print(row)
