"""The board: six columns of cards, the top bar, the attention strip and every board key.

Reads: one `board_snapshot` (a page of cards per column, more on scroll; plus `attention` when the
events could change a flag) in a thread worker, applied column by column: a column whose cards
did not change is not touched. Writes: kernel verbs in thread workers, then a reload (the bridge
also reports the change, and every change made elsewhere). A single-card refusal becomes the
app's error notification, in the kernel's words; a bulk operation reports card by card.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable, Iterable

from rich.text import Text
from textual import on
from textual.actions import parse as parse_action
from textual.app import ComposeResult
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Container, Grid
from textual.events import DescendantFocus
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Select, Static, Tab, Tabs
from textual.worker import Worker, WorkerState

from kanban_tui.errors import KanbanError
from kanban_tui.kernel import queries, stopping, transitions
from kanban_tui.kernel.models import COLUMN_TITLES, COLUMNS
from kanban_tui.keymap import BOARD_BINDINGS
from kanban_tui.messages import BoardChanged, DispatcherStatus
from kanban_tui.screens.command_line import CommandLine
from kanban_tui.screens.drawer import OPERATOR, TUI_CALLER, TaskDrawer
from kanban_tui.screens.forms import ConfirmScreen, ProfilePicker, TaskForm, TextPrompt
from kanban_tui.screens.help import binding_key
from kanban_tui.screens.tail import EventTail
from kanban_tui.text import inline
from kanban_tui.widgets.attention import AttentionStrip
from kanban_tui.widgets.card import CardContext
from kanban_tui.widgets.column import CardList, ColumnTitle
from kanban_tui.widgets.top_bar import TopBar

Conn = sqlite3.Connection
# Cards read per column: a page at first, more as the operator scrolls, up to the cap.
PAGE = 50
MAX_PER_COLUMN = 1000
# Events that can neither raise nor clear an attention flag, and events that may name a new assignee.
QUIET_KINDS = frozenset({"edited", "reprioritized", "commented", "linked", "unlinked"})
NAMING_KINDS = frozenset({"created", "assigned", "reassigned"})
SEARCH_DEBOUNCE = 0.2
CLOCK_SECONDS = 10.0
ATTENTION_SECONDS = 30.0

# Actions on the card under the cursor (or the selection, for BULK ones) and where they apply.
CARD_ACTIONS = {"open_drawer", "edit_card", "comment", "task_tail", "select", "select_range", "move"}
BULK_ACTIONS = {
    "assign": ("triage", "todo", "ready", "blocked", "done"),
    "priority": COLUMNS,
    "block": ("triage", "todo", "ready", "running"),
    "unblock": ("blocked",),
    "complete": ("ready", "running", "blocked"),
    "archive": COLUMNS,
}


# What H (-1) and L (+1) do from each column: a status to move to, or a kernel verb.
# Running -> left and done -> left have no verb; `move_refusal` says why.
MOVES = {
    ("triage", 1): "todo", ("todo", -1): "triage", ("todo", 1): "ready", ("ready", -1): "todo",
    ("ready", 1): "claim", ("running", 1): "block", ("blocked", -1): "unblock", ("blocked", 1): "complete",
}


@dataclass(frozen=True)
class Filters:
    search: str | None = None
    tenant: str | None = None
    assignee: str | None = None

    @property
    def active(self) -> bool:
        return any((self.search, self.tenant, self.assignee))

    def describe(self) -> str:
        """What is filtered, as the operator typed or picked it: `"auth", tenant ops, @qa-dev`."""
        parts = [f'"{self.search}"' if self.search else "", f"tenant {self.tenant}" if self.tenant else "",
                 f"@{self.assignee}" if self.assignee else ""]
        return ", ".join(part for part in parts if part)


@dataclass
class BoardData:
    snapshot: dict
    flagged: list[dict] | None
    assignees: list[str] | None
    filters: Filters


def read_board(gateway, filters: Filters, per_column: int, now: float, *, attention: bool,
               assignees: bool) -> BoardData:
    """What the board shows, read in a thread on the thread's own connection (None: not re-read)."""
    conn = gateway.conn()
    snapshot = queries.board_snapshot(conn, per_column=per_column, search=filters.search,
                                      tenant=filters.tenant, assignee=filters.assignee, now=now)
    flagged = queries.attention(conn, now=now) if attention else None
    names = queries.assignee_names(conn, gateway.config.profiles) if assignees else None
    return BoardData(snapshot, flagged, names, filters)


def run_each(gateway, verb: Callable[[Conn, str], object], task_ids: list[str]) -> dict[str, str | None]:
    """Apply a verb card by card: {task_id: None when done, else why it was refused}."""
    conn = gateway.conn()
    results: dict[str, str | None] = {}
    for task_id in task_ids:
        try:
            verb(conn, task_id)
            results[task_id] = None
        except KanbanError as exc:
            results[task_id] = exc.message
    return results


def bump_priority(conn: Conn, task_id: str, delta: int) -> None:
    transitions.edit(conn, task_id, priority_delta=delta)


def create_in_column(conn: Conn, values: dict, column: str) -> dict:
    """New card: triage makes a triage card, todo holds it in todo, ready lets the kernel decide."""
    created = transitions.create(conn, values["title"], body=values["body"], assignee=values["assignee"],
                                 parents=values["parents"], tenant=values["tenant"],
                                 priority=values["priority"], triage=column == "triage",
                                 created_by=OPERATOR)
    if column == "todo" and created["status"] == "ready":
        transitions.move(conn, created["task_id"], "todo")
    return created


def claim_within_caps(conn: Conn, task_id: str, config) -> None:
    """A manual claim (H/L into In progress), bound by the same caps as the dispatcher's."""
    profile = config.profile(queries.get_task(conn, task_id)["assignee"])
    transitions.claim(conn, task_id, ttl=config.dispatch.claim_ttl_seconds,
                      max_workers=config.dispatch.max_workers,
                      profile_max_workers=profile.max_workers if profile else None,
                      role=profile.role if profile else "worker", caller=TUI_CALLER)


def move_refusal(card: dict, delta: int) -> str | None:
    """Why H/L cannot move this card that way (no kernel verb does it), or None."""
    task_id = card["id"]
    if card["status"] == "running" and delta < 0:
        worker = f"worker pid {card['worker_pid']}" if card["worker_pid"] else "a claim with no worker yet"
        who = f" as @{inline(card['assignee'])}" if card["assignee"] else ""
        return f"{task_id} is running ({worker}{who}): press R to reclaim it first"
    if card["status"] == "done" and delta < 0:
        return f"{task_id} is done: nothing reopens a finished task; create a new card instead"
    return None


def empty_board_hint(new_card: str, help_key: str, config: str) -> Text:
    """What a board without a single card says: how to make one, the demo, where workers come from."""
    hint = Text.assemble(("No cards yet.", "bold"), "\n\n")
    steps = ((new_card, "create a card in the focused column"), (help_key, "every key, and where to start"),
             ("kanban-tui demo", "a live demo board, played by real workers"))
    for keys, what in steps:
        hint.append(f"{keys:<17}", "bold")
        hint.append(f"{what}\n")
    hint.append("\nWorkers are the profiles in\n")
    hint.append(inline(config), "bold")
    hint.append('\nAny agent CLI or script can be one: see "Workers" in the README.')
    return hint


class BoardCommands(Provider):
    """The board's actions in the command palette (ctrl+p), as the bindings describe them."""

    def _commands(self) -> Iterable[tuple[str, str, str]]:
        board = self.screen
        if not isinstance(board, BoardScreen):
            return
        keymap = board.app.keymap
        for binding in BOARD_BINDINGS:
            _, name, params = parse_action(binding.action)
            if board.check_action(name, params):
                yield binding.description, binding.action, keymap.get(binding.id, binding.key)

    async def discover(self) -> Hits:
        for description, action, keys in self._commands():
            yield DiscoveryHit(description, partial(self.screen.run_action, action), help=f"key: {keys}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for description, action, keys in self._commands():
            score = matcher.match(description)
            if score > 0:
                yield Hit(score, matcher.highlight(description), partial(self.screen.run_action, action),
                          help=f"key: {keys}")


class BoardScreen(Screen):
    BINDINGS = BOARD_BINDINGS
    COMMANDS = {BoardCommands}
    AUTO_FOCUS = "CardList"

    def __init__(self, *, lanes: bool):
        super().__init__(id="board")
        self.lanes = lanes
        self.filters = Filters()
        self.titles = {status: ColumnTitle(status) for status in COLUMNS}
        self.lists = {status: CardList(status, id=f"cards-{status}") for status in COLUMNS}
        self.top_bar = TopBar(lanes=lanes)
        self.empty_hint = Static(id="empty-hint")
        self.attention = AttentionStrip()
        self.tabs = Tabs(*(Tab(COLUMN_TITLES[status], id=f"tab-{status}") for status in COLUMNS),
                         id="column-tabs")
        self.current = COLUMNS[0]
        self.selected: set[str] = set()
        self.anchor: str | None = None
        self.flagged: list[dict] = []
        self.dismissed: set[tuple[str, str]] = set()
        self.assignee_names: list[str] = []
        self.loaded = False
        self.per_column = PAGE
        self._binding_state: tuple = ()
        self._cards: dict[str, list[dict]] = {status: [] for status in COLUMNS}
        self._tenants: set[str] = set()
        self._search_timer: Timer | None = None
        self._stale = False

    def compose(self) -> ComposeResult:
        yield self.top_bar
        yield self.attention
        yield self.tabs
        with Container(id="board-area"):
            with Grid(id="columns"):
                yield from self.titles.values()
                yield from self.lists.values()
            yield self.empty_hint
        yield Footer()

    def on_mount(self) -> None:
        self.top_bar.show_selection(0)
        self._mark_current(self.current)
        self._tick_clock()
        self.set_interval(CLOCK_SECONDS, self._tick_clock)
        self.set_interval(ATTENTION_SECONDS, self.reload)
        self.reload()

    # ------------------------------------------------------------------ reading

    def reload(self, *, attention: bool = True, assignees: bool = True) -> None:
        """Re-read the board (in a thread); the newest request wins."""
        read = partial(read_board, self.app.gateway, self.filters, self.per_column, self.app.clock(),
                       attention=attention, assignees=assignees)
        self.run_worker(read, name="read board", group="board", exclusive=True, thread=True,
                        exit_on_error=False)

    def on_board_changed(self, message: BoardChanged) -> None:
        kinds = {event["kind"] for event in message.events}
        self.reload(attention=not kinds <= QUIET_KINDS, assignees=bool(kinds & NAMING_KINDS))

    def defer_while_covered(self) -> bool:
        """True when an opaque screen (the event tail) hides the board: it re-reads on resume.

        The app then holds the change back: a background screen woken by a message makes Textual
        repaint the screen on top, which would delay that screen's own frame."""
        top = self.app.screen
        if top is self or top.styles.background.a < 1:
            return False
        self._stale = True
        return True

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self.reload()

    def on_dispatcher_status(self, message: DispatcherStatus) -> None:
        self.top_bar.status.show_status(message.status, self.app.clock())

    @on(Worker.StateChanged)
    def _worker_done(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.state is WorkerState.ERROR:
            self.app.report_failure(worker)
        if worker.state is not WorkerState.SUCCESS:
            return
        if worker.group == "board":
            self._apply(worker.result)
        elif worker.group == "write":
            self.reload()  # our own change: show it now rather than at the bridge's next poll
        elif worker.group == "bulk":
            label, results = worker.result
            self._report(label, results)
            self.reload()
        elif worker.group == "edit":
            self._edit(worker.result)

    def _apply(self, data: BoardData) -> None:
        if data.filters != self.filters:
            return
        snapshot = data.snapshot
        for status, card_list in self.lists.items():
            cards = snapshot["columns"][status]
            count = self.titles[status].count = snapshot["counts"][status]
            if cards != self._cards[status] or card_list.total != count:
                self._cards[status] = cards
                self._show_column(status)
                self._tenants.update(card["tenant"] for card in cards if card["tenant"])
        if self.tabs.display:
            self._label_tabs()
        if data.assignees is not None:
            self.assignee_names = data.assignees
            self.top_bar.set_choices("assignee", data.assignees)
        self.top_bar.set_choices("tenant", sorted(self._tenants))
        if data.flagged is not None:
            self.flagged = data.flagged
            self._show_attention()
        self._show_empty(not any(snapshot["counts"][status] for status in COLUMNS))
        if not self.loaded:
            self.loaded = True
            self._focus_first_card()
        self._update_bindings()

    def _label_tabs(self) -> None:
        """The tab strip (narrow terminals) carries the counts too. A relabel lays the screen out
        again, so the hidden strip is relabelled on resize (which may show it), not on each refresh."""
        for status in COLUMNS:
            label = f"{COLUMN_TITLES[status]} {self.titles[status].count}"
            tab = self.tabs.query_one(f"#tab-{status}", Tab)
            if tab.label_text != label:
                tab.label = label

    def on_resize(self) -> None:
        self._label_tabs()

    def _show_empty(self, empty: bool) -> None:
        """No card to show: say what to do next (or that the filter hides everything)."""
        self.set_class(empty, "-empty")
        if not empty:
            return
        if self.filters.active:
            clear = binding_key(self.app, "back")
            hint = Text(inline(f"No cards match {self.filters.describe()} — {clear} clears"))
        else:
            hint = empty_board_hint(binding_key(self.app, "new_card"), binding_key(self.app, "help"),
                                    str(self.app.gateway.paths.config))
        self.empty_hint.update(hint)

    def _show_column(self, status: str) -> None:
        self.lists[status].show(self._cards[status], total=self.titles[status].count,
                                lanes=self.lanes and status == "running", more=self.per_column < MAX_PER_COLUMN)

    @on(CardList.NearEnd)
    def _load_more(self) -> None:
        if self.per_column < MAX_PER_COLUMN:
            self.per_column = min(MAX_PER_COLUMN, self.per_column * 2)
            self.reload(attention=False, assignees=False)

    def _tick_clock(self) -> None:
        """Ages and staleness move with the clock: every list re-renders what it shows."""
        config = self.app.gateway.config
        context = CardContext(self.app.clock(), frozenset(config.profiles), config.default_command is not None)
        for card_list in self.lists.values():
            card_list.set_context(context)

    def _focus_first_card(self) -> None:
        """After the first load, start on the first column with cards (unless the operator moved)."""
        if self.focused is self.lists[COLUMNS[0]] and not self._cards[COLUMNS[0]]:
            status = next((s for s in COLUMNS if self._cards[s]), COLUMNS[0])
            self.focus_column(status)

    # ------------------------------------------------------------------ where the cursor is

    @property
    def card_list(self) -> CardList:
        return self.lists[self.current]

    @property
    def card(self) -> dict | None:
        return self.card_list.current

    def _mark_current(self, status: str) -> None:
        self.current = status
        for other in COLUMNS:
            self.titles[other].set_class(other == status, "-current")
            self.lists[other].set_class(other == status, "-current")
        if self.tabs.active != f"tab-{status}":
            self.tabs.active = f"tab-{status}"

    def focus_column(self, status: str) -> None:
        """Focus a column now: keys already queued behind this one act on it, not on the old one."""
        self._mark_current(status)
        self.lists[status].focus()
        self._update_bindings()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        if isinstance(event.widget, CardList):
            self._mark_current(event.widget.status)
            self._update_bindings()

    @on(Tabs.TabActivated, "#column-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        status = (event.tab.id or "").removeprefix("tab-")
        if status in self.lists and status != self.current:
            self.focus_column(status)

    def focus_task(self, task_id: str) -> bool:
        """Put the cursor on a task shown on the board; False when it is not on screen."""
        for status, card_list in self.lists.items():
            index = card_list.index_of(task_id)
            if index is not None:
                self.focus_column(status)
                card_list.move_to(index)
                return True
        return False

    def targets(self) -> list[str]:
        """The selection, else the card under the cursor."""
        if self.selected:
            return sorted(self.selected)
        return [self.card["id"]] if self.card else []

    def _update_bindings(self) -> None:
        """Refresh the footer and palette only when what `check_action` looks at has changed."""
        state = (self.current, self.card is not None, bool(self.selected), bool(self._visible_flags()))
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        card = self.card
        if action in BULK_ACTIONS:
            if self.selected:
                return True
            return card is not None and card["status"] in BULK_ACTIONS[action]
        if action == "move":
            if card is None:
                return False
            return not ((parameters[0] < 0 and card["status"] == COLUMNS[0])
                        or (parameters[0] > 0 and card["status"] == COLUMNS[-1]))
        if action in CARD_ACTIONS:
            return card is not None
        if action == "reclaim":
            return card is not None and card["status"] == "running"
        if action in ("next_flagged", "dismiss_attention"):
            return bool(self._visible_flags())
        return True

    # ------------------------------------------------------------------ navigation

    def action_column(self, delta: int) -> None:
        index = COLUMNS.index(self.current) + delta
        if 0 <= index < len(COLUMNS):
            self.focus_column(COLUMNS[index])

    def action_jump(self, index: int) -> None:
        self.focus_column(COLUMNS[index])

    def action_open_drawer(self) -> None:
        if self.card:
            self.open_drawer(self.card["id"])

    def open_drawer(self, task_id: str) -> None:
        self.app.push_screen(TaskDrawer(task_id, clock=self.app.clock))

    @on(CardList.Opened)
    def _card_clicked(self, event: CardList.Opened) -> None:
        self.open_drawer(event.task_id)

    def action_search(self) -> None:
        self.top_bar.search.focus()

    def action_filter(self, name: str) -> None:
        select = self.top_bar.filters[name]
        select.focus()
        select.expanded = True

    def action_back(self) -> None:
        if not isinstance(self.focused, CardList):
            self.card_list.focus()
        elif self.selected:
            self._set_selection(set())
        elif self.filters.active:
            self.top_bar.clear()
            self._set_filters(Filters())

    def action_toggle_lanes(self) -> None:
        self.lanes = not self.lanes
        self.top_bar.show_lanes(self.lanes)
        self._show_column("running")

    def action_nudge(self) -> None:
        self.app.nudge_dispatcher()

    def action_task_tail(self) -> None:
        if self.card:
            self.app.push_screen(EventTail(self.card["id"]))

    def action_global_tail(self) -> None:
        self.app.push_screen(EventTail())

    def action_command_line(self) -> None:
        self.app.push_screen(CommandLine())

    # ------------------------------------------------------------------ search and filters

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        text = event.value.strip() or None
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE,
                                            lambda: self._set_filters(replace(self.filters, search=text)))

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self.card_list.focus()

    @on(Select.Changed)
    def _filter_changed(self, event: Select.Changed) -> None:
        name = (event.select.id or "").removesuffix("-filter")
        if name in self.top_bar.filters:
            self._set_filters(replace(self.filters, **{name: self.top_bar.filter_value(name)}))

    def _set_filters(self, filters: Filters) -> None:
        if filters != self.filters:
            self.filters = filters
            self.per_column = PAGE
            self.reload(attention=False, assignees=False)

    # ------------------------------------------------------------------ attention

    def _visible_flags(self) -> list[dict]:
        return [item for item in self.flagged if (item["task_id"], item["reason"]) not in self.dismissed]

    def _show_attention(self) -> None:
        self.attention.show_items(self._visible_flags())

    @on(AttentionStrip.Jump)
    def _jump(self, event: AttentionStrip.Jump) -> None:
        self.go_to(event.task_id)

    def go_to(self, task_id: str) -> None:
        """Cursor to the card when it is on the board, else open its drawer."""
        if not self.focus_task(task_id):
            self.open_drawer(task_id)

    def action_next_flagged(self) -> None:
        flags = [item["task_id"] for item in self._visible_flags()]
        card = self.card
        after = flags.index(card["id"]) + 1 if card and card["id"] in flags else 0
        self.go_to(flags[after % len(flags)])

    @on(AttentionStrip.Dismissed)
    def action_dismiss_attention(self) -> None:
        self.dismissed.update((item["task_id"], item["reason"]) for item in self.flagged)
        self._show_attention()
        self._update_bindings()

    # ------------------------------------------------------------------ selection

    def _set_selection(self, selected: set[str]) -> None:
        self.selected = selected
        frozen = frozenset(selected)
        for card_list in self.lists.values():
            card_list.set_selected(frozen)
        self.top_bar.show_selection(len(selected))
        self._update_bindings()

    def action_select(self) -> None:
        card = self.card
        if card is None:
            return
        self.anchor = card["id"]
        self._set_selection(self.selected ^ {card["id"]})

    def action_select_range(self) -> None:
        cards = self.card_list.cards
        if not cards:
            return
        start = self.card_list.index_of(self.anchor) if self.anchor else None
        if start is None:
            self.action_select()
            return
        low, high = sorted((start, self.card_list.cursor))
        self._set_selection(self.selected | {card["id"] for card in cards[low:high + 1]})

    # ------------------------------------------------------------------ writes

    def _write(self, verb: Callable[[Conn, str], object], task_ids: list[str], label: str) -> None:
        """One card: errors go to the app's handler. Several: a per-card report."""
        gateway = self.app.gateway
        if len(task_ids) == 1:
            task_id = task_ids[0]
            self.run_worker(lambda: verb(gateway.conn(), task_id), name=label, group="write",
                            thread=True, exit_on_error=False)
        elif task_ids:
            self.run_worker(lambda: (label, run_each(gateway, verb, task_ids)), name=label, group="bulk",
                            thread=True, exit_on_error=False)

    def _report(self, label: str, results: dict[str, str | None]) -> None:
        """One notification per bulk operation; the selection stays for the next one (esc clears),
        less the cards archived off the board."""
        failed = {task_id: why for task_id, why in results.items() if why}
        if label == "Archive":
            self._set_selection(self.selected - {task_id for task_id in results if task_id not in failed})
        done = len(results) - len(failed)
        lines = [f"{label}: {done} of {len(results)} done"]
        lines += [why or "" for why in failed.values()]
        self.notify("\n".join(lines), title=label, severity="warning" if failed else "information",
                    markup=False)

    def action_new_card(self) -> None:
        # Triage and Todo hold a new card; anywhere else it starts where the kernel puts it (Ready,
        # or Todo while a parent is open), and the form says so.
        column = self.current if self.current in ("triage", "todo") else "ready"
        gateway = self.app.gateway

        def create(values: dict | None) -> None:
            if values:
                self.run_worker(lambda: create_in_column(gateway.conn(), values, column), name="create",
                                group="write", thread=True, exit_on_error=False)

        self.app.push_screen(TaskForm(mode="create", column=column), create)

    def action_edit_card(self) -> None:
        if self.card:
            gateway, task_id = self.app.gateway, self.card["id"]
            self.run_worker(lambda: queries.get_task(gateway.conn(), task_id), name="read for edit",
                            group="edit", thread=True, exit_on_error=False)

    def _edit(self, task: dict) -> None:
        def save(values: dict | None) -> None:
            if values:
                self._write(partial(_edit_values, values=values), [task["id"]], "Edit")

        self.app.push_screen(TaskForm(task["title"], task["body"], mode="edit", column=task["status"],
                                      assignee=task["assignee"], priority=task["priority"],
                                      tenant=task["tenant"]), save)

    def action_assign(self) -> None:
        task_ids = self.targets()
        current = self.card["assignee"] if self.card and not self.selected else None

        def assign(name: str | None) -> None:
            if name:
                self._write(lambda conn, task_id: transitions.assign(conn, task_id, name), task_ids, "Assign")

        self.app.push_screen(ProfilePicker(self.assignee_names, current), assign)

    def action_priority(self, delta: int) -> None:
        self._write(partial(bump_priority, delta=delta), self.targets(), "Priority")

    def action_move(self, delta: int) -> None:
        card = self.card
        if card is None:
            return
        refusal = move_refusal(card, delta)
        if refusal:
            self.notify(refusal, title="Cannot move", severity="warning", markup=False)
            return
        task_id = card["id"]
        verb = MOVES[card["status"], delta]
        if verb in ("triage", "todo", "ready"):
            self._write(lambda conn, tid: transitions.move(conn, tid, verb), [task_id], "Move")
        elif verb == "claim":
            self._write(partial(claim_within_caps, config=self.app.gateway.config), [task_id], "Claim")
        elif verb == "block":
            self._ask_reason_and_block([task_id])
        elif verb == "unblock":
            self._write(transitions.unblock, [task_id], "Unblock")
        else:
            self._write(_complete, [task_id], "Complete")

    def action_block(self) -> None:
        self._ask_reason_and_block(self.targets())

    def _ask_reason_and_block(self, task_ids: list[str]) -> None:
        def block(reason: str | None) -> None:
            if reason is not None:
                self._write(partial(_block, reason=reason), task_ids, "Block")

        self.app.push_screen(TextPrompt("Block reason", "what a human must answer or do", required=False),
                             block)

    def action_unblock(self) -> None:
        self._write(transitions.unblock, self.targets(), "Unblock")

    def action_complete(self) -> None:
        task_ids = self.targets()
        if len(task_ids) > 1:
            self._write(_complete, task_ids, "Complete")
            return

        def complete(summary: str | None) -> None:
            if summary is not None:
                self._write(partial(_complete, summary=summary or None), task_ids, "Complete")

        self.app.push_screen(TextPrompt("Completion summary", "what was done (optional)", required=False),
                             complete)

    def action_comment(self) -> None:
        if self.card is None:
            return
        task_id = self.card["id"]

        def comment(body: str | None) -> None:
            if body:
                self._write(lambda conn, tid: transitions.comment(conn, tid, body, caller=TUI_CALLER),
                            [task_id], "Comment")

        self.app.push_screen(TextPrompt(f"Comment on {task_id}", "as operator"), comment)

    def action_reclaim(self) -> None:
        card = self.card
        if card is None:
            return
        worker = f"its worker (pid {card['worker_pid']})" if card["worker_pid"] else "its claim"
        self._confirm(f"Reclaim {card['id']}? This stops {worker} and puts the task back in Ready.",
                      lambda: self._write(_reclaim, [card["id"]], "Reclaim"))

    def action_archive(self) -> None:
        task_ids = self.targets()
        what = task_ids[0] if len(task_ids) == 1 else f"{len(task_ids)} cards"
        self._confirm(f"Archive {what}? Archived cards leave the board; live workers are stopped.",
                      lambda: self._write(_archive, task_ids, "Archive"))

    def _confirm(self, question: str, then: Callable[[], None]) -> None:
        self.app.push_screen(ConfirmScreen(question), lambda yes: then() if yes else None)


def _edit_values(conn: Conn, task_id: str, values: dict) -> None:
    transitions.edit(conn, task_id, title=values["title"], body=values["body"], priority=values["priority"])


# Verbs that can end a run under a live worker: stop it here when no dispatcher leads on this
# host (they run in thread workers, so the wait never blocks the UI).

def _block(conn: Conn, task_id: str, reason: str) -> None:
    transitions.block(conn, task_id, reason=reason or None, comment=bool(reason), caller=TUI_CALLER)
    stopping.stop_unowned(conn)


def _complete(conn: Conn, task_id: str, summary: str | None = None) -> None:
    transitions.complete(conn, task_id, summary=summary, caller=TUI_CALLER)
    stopping.stop_unowned(conn)


def _archive(conn: Conn, task_id: str) -> None:
    transitions.archive(conn, task_id, caller=TUI_CALLER)
    stopping.stop_unowned(conn)


def _reclaim(conn: Conn, task_id: str) -> None:
    transitions.reclaim(conn, task_id, reason="reclaimed from the board", caller=TUI_CALLER)
    stopping.stop_unowned(conn)

