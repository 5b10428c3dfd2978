"""Every key of the board, as `Binding`s with ids that `keymap:` in config.yaml can remap.

The tables live here so the screens that bind them, the help screen and the command palette
all read one source. Ids are stable names; descriptions are what help and the palette show.
"""

from __future__ import annotations

from typing import Iterable

from textual.binding import Binding

from kanban_tui.kernel.models import COLUMN_TITLES, COLUMNS

# `?` is a priority binding, so it also works over the drawer, the tails and the dialogs (a modal
# screen hides the app's other bindings), except while a text field takes the key as typing.
APP_BINDINGS = [
    Binding("?", "help", "Help", id="help", priority=True),
    Binding("q", "quit", "Quit", id="quit"),
]

CARD_LIST_BINDINGS = [
    Binding("j,down", "cursor_down", "Next card", id="cursor_down", show=False),
    Binding("k,up", "cursor_up", "Previous card", id="cursor_up", show=False),
    Binding("pagedown", "page_down", "Page down", id="page_down", show=False),
    Binding("pageup", "page_up", "Page up", id="page_up", show=False),
    Binding("home", "first", "First card", id="first_card", show=False),
    Binding("end", "last", "Last card", id="last_card", show=False),
]

NAVIGATION_BINDINGS = [
    Binding("h,left", "column(-1)", "Column left", id="column_left", show=False),
    Binding("l,right", "column(1)", "Column right", id="column_right", show=False),
    *(Binding(str(n), f"jump({n - 1})", f"Jump to {COLUMN_TITLES[status]}", id=f"jump_column_{n}", show=False)
      for n, status in enumerate(COLUMNS, start=1)),
    Binding("enter", "open_drawer", "Open", id="open_drawer"),
    Binding("/", "search", "Search", id="search"),
    Binding("f", "filter('tenant')", "Tenant filter", id="filter_tenant", show=False),
    Binding("@", "filter('assignee')", "Assignee filter", id="filter_assignee", show=False),
    Binding("escape", "back", "Back / clear", id="back", show=False),
    Binding("g", "next_flagged", "Next flagged card", id="next_flagged", show=False),
]

CARD_BINDINGS = [
    Binding("n", "new_card", "New", id="new_card"),
    Binding("e", "edit_card", "Edit", id="edit_card", show=False),
    Binding("a", "assign", "Assign", id="assign", show=False),
    Binding("p", "priority(1)", "Priority up", id="priority_up", show=False),
    Binding("P", "priority(-1)", "Priority down", id="priority_down", show=False),
    Binding("H", "move(-1)", "Move card left", id="move_left", show=False),
    Binding("L", "move(1)", "Move card right", id="move_right", show=False),
    Binding("b", "block", "Block", id="block", show=False),
    Binding("U", "unblock", "Unblock", id="unblock", show=False),
    Binding("c", "complete", "Complete", id="complete", show=False),
    Binding("C", "comment", "Comment", id="comment", show=False),
    Binding("R", "reclaim", "Reclaim", id="reclaim", show=False),
    Binding("A", "archive", "Archive", id="archive", show=False),
    Binding("space", "select", "Select", id="select", show=False),
    Binding("v", "select_range", "Select range", id="select_range", show=False),
]

BOARD_WIDE_BINDINGS = [
    Binding("D", "nudge", "Nudge dispatcher", id="nudge"),
    Binding("=", "toggle_lanes", "Lanes by profile", id="toggle_lanes", show=False),
    Binding("x", "dismiss_attention", "Dismiss attention", id="dismiss_attention", show=False),
    Binding("t", "task_tail", "Task events", id="task_tail", show=False),
    Binding("T", "global_tail", "All events", id="global_tail", show=False),
    Binding(":", "command_line", "Command", id="command_line"),
]

BOARD_BINDINGS = [*NAVIGATION_BINDINGS, *CARD_BINDINGS, *BOARD_WIDE_BINDINGS]


def effective_keys(binding: Binding, keymap: dict[str, str]) -> str:
    """The keys a binding answers to once the user's keymap is applied."""
    return keymap.get(binding.id or "", binding.key)


def unknown_ids(keymap: dict[str, str], others: Iterable[Binding]) -> list[str]:
    """Keymap entries that name no binding here or in `others` (typos the user should hear about)."""
    bindings = (*APP_BINDINGS, *CARD_LIST_BINDINGS, *BOARD_BINDINGS, *others)
    known = {binding.id for binding in bindings if isinstance(binding, Binding)}
    return sorted(set(keymap) - known)
