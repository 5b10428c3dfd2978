"""KanbanApp: the board's Textual app. It owns the bridge and the in-process dispatcher.

The bridge posts `BoardChanged` here and the app forwards it to every open screen; the
dispatcher's status is polled once a second and handed to the board. Any worker that fails
with a `KanbanError` becomes one notification (the kernel's own words).
"""

from __future__ import annotations

import gc
import time
from typing import Callable

from textual.app import App
from textual.message import Message
from textual.worker import Worker, WorkerState

from kanban_tui.bridge import Bridge
from kanban_tui.config import Config
from kanban_tui.errors import KanbanError
from kanban_tui.gateway import Gateway
from kanban_tui.keymap import APP_BINDINGS, unknown_ids
from kanban_tui.kernel import hosts, lease
from kanban_tui.kernel.dispatcher import Dispatcher
from kanban_tui.messages import BoardChanged, DispatcherStatus
from kanban_tui.paths import Paths
from kanban_tui.screens.board import BoardScreen
from kanban_tui.screens.command_line import CommandLine, VerbRunner
from kanban_tui.screens.drawer import TaskDrawer
from kanban_tui.screens.forms import ConfirmScreen, ProfilePicker, TaskForm, TextPrompt
from kanban_tui.screens.help import HelpScreen, binding_sections
from kanban_tui.screens.tail import EventTail
from kanban_tui.widgets.link_list import LinkList

STATUS_SECONDS = 1.0
# Once the first frame is up, the objects alive then (modules, styles, widgets) are moved out of
# the collector's sight. Young objects are then collected on a timer, between frames: left to
# the allocation count, a collection lands inside a full repaint (which allocates ~10k objects)
# and costs it 1-10 ms, more while workers churn the board. The automatic collector stays on as
# a safety net, at a count a second of use does not reach.
GC_THRESHOLDS = (50_000, 50, 50)
GC_SECONDS = 1.0
# Screens and widgets whose binding ids a keymap may also name.
KEYMAP_SCREENS = (TaskDrawer, LinkList, EventTail, CommandLine, TaskForm, TextPrompt, ConfirmScreen,
                  ProfilePicker, HelpScreen)


class KanbanApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "kanban-tui"
    BINDINGS = APP_BINDINGS
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (80, "-medium"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    class DispatcherFailed(Message):
        """The in-process dispatcher hit an error (it keeps running and retries)."""

        def __init__(self, error: BaseException):
            super().__init__()
            self.error = error

    def __init__(self, gateway: Gateway, *, start_dispatcher: bool = True,
                 clock: Callable[[], float] | None = None, tune_gc: bool = False,
                 run_verb: VerbRunner | None = None):
        super().__init__()
        self.gateway = gateway
        self.run_verb = run_verb  # the CLI's `run`, handed in by the entry point (None: no `:` line)
        self.tune_gc = tune_gc
        self.clock = clock or time.time
        self.keymap = dict(gateway.config.keymap)
        self.board = BoardScreen(lanes=gateway.config.ui.lanes_by_profile)
        self.bridge = Bridge(gateway.paths.db, self)
        self.dispatcher = (Dispatcher(gateway.paths, gateway.config,
                                      on_error=lambda exc: self.post_message(self.DispatcherFailed(exc)))
                           if start_dispatcher else None)
        self.dispatcher_status: dict | None = None
        self._dispatcher_error = ""
        self._lease_read: Worker | None = None

    def get_default_screen(self) -> BoardScreen:
        return self.board

    def on_mount(self) -> None:
        theme = self.gateway.config.ui.theme
        if theme in self.available_themes:
            self.theme = theme
        elif theme:
            self.notify(f"config ui.theme: unknown theme {theme!r}", severity="warning", markup=False)
        self.set_keymap(self.keymap)
        typos = unknown_ids(self.keymap, (binding for screen in KEYMAP_SCREENS for binding in screen.BINDINGS))
        if typos:
            self.notify(f"config keymap: no binding named {', '.join(typos)}", severity="warning", markup=False)
        self.bridge.start()
        if self.dispatcher is not None:
            self.dispatcher.start()
        self.set_interval(STATUS_SECONDS, self._poll_dispatcher)
        self._poll_dispatcher()
        if self.tune_gc:
            self.call_after_refresh(_tune_gc)
            self.set_interval(GC_SECONDS, _collect_young)

    def on_unmount(self) -> None:
        self.bridge.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()

    # ------------------------------------------------------------------ feeds

    def on_board_changed(self, message: BoardChanged) -> None:
        """From the bridge: hand a copy to every open screen (copies do not bubble back here),
        except to a board hidden under an opaque screen, which re-reads when it shows again."""
        for screen in self.screen_stack:
            if screen is self.board and self.board.defer_while_covered():
                continue
            forwarded = BoardChanged(message.events, message.cursor, message.task_ids)
            forwarded.bubble = False
            screen.post_message(forwarded)

    def _poll_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self._show_status(self.dispatcher.status())
        elif self._lease_read is None or self._lease_read.is_finished:
            # Skip a beat rather than cancel a slow read: cancelled workers upset wait_for_complete().
            self._lease_read = self.run_worker(self._read_lease, group="lease", thread=True,
                                               exit_on_error=False)

    def _read_lease(self) -> dict:
        conn = self.gateway.conn()
        found = lease.status(conn)
        status = {"role": "observer", **found} if found else {"role": "observer", "leader": None}
        return {**status, "hosts": hosts.listing(conn)}

    def _show_status(self, status: dict) -> None:
        self.dispatcher_status = status
        self.board.post_message(DispatcherStatus(status))

    def nudge_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.nudge()
        else:
            self.run_worker(lambda: lease.nudge(self.gateway.conn()), group="write", thread=True,
                            exit_on_error=False)
        self.notify("Dispatcher nudged", timeout=2)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "lease" and worker.state is WorkerState.SUCCESS:
            self._show_status(worker.result)
        elif worker.state is WorkerState.ERROR:
            self.report_failure(worker)

    def report_failure(self, worker: Worker) -> None:
        """The one place a failed worker becomes a notification (StateChanged does not bubble,
        so screens hand their failed workers here)."""
        error = worker.error
        message = error.message if isinstance(error, KanbanError) else f"{type(error).__name__}: {error}"
        self.notify(message, title=worker.name or "Error", severity="error", markup=False)

    def on_kanban_app_dispatcher_failed(self, message: DispatcherFailed) -> None:
        text = f"dispatcher: {message.error}"
        if text != self._dispatcher_error:  # it retries on a back-off: say it once, not every time
            self._dispatcher_error = text
            self.notify(text, severity="error", markup=False)

    # ------------------------------------------------------------------ keys

    def action_help(self) -> None:
        """`?` from any screen opens help for that screen; pressed again, it closes help."""
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(binding_sections(self.screen)))

    async def action_quit(self) -> None:
        # The dispatcher's own status is current; the polled copy may be a second old.
        status = self.dispatcher.status() if self.dispatcher is not None else self.dispatcher_status or {}
        running = status.get("live_workers") or 0
        if status.get("role") != "leader" or not running:
            self.exit()
            return
        question = (f"This process leads the dispatcher and {running} worker(s) are running. Quit? "
                    "They keep running and the next dispatcher adopts them.")
        self.push_screen(ConfirmScreen(question), lambda yes: self.exit() if yes else None)


def _tune_gc() -> None:
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _collect_young() -> None:
    """The young generations every GC_SECONDS; the old one after as many of these as its
    threshold says (the automatic collector, rarely triggered now, would not get to it)."""
    gc.collect(2 if gc.get_count()[2] >= GC_THRESHOLDS[2] else 1)


def run_app(paths: Paths, config: Config, *, dispatcher: bool = True, run_verb: VerbRunner | None = None) -> int:
    """Open the board of this home; returns the exit code. `run_verb` runs the `:` line's verbs."""
    gateway = Gateway(paths, config)
    app = KanbanApp(gateway, start_dispatcher=dispatcher, tune_gc=True, run_verb=run_verb)
    try:
        app.run()
    finally:
        gateway.close()
    return app.return_code or 0
