"""The board's top bar: search, tenant and assignee filters, lanes toggle, dispatcher health, nudge.

It only holds the controls; the board screen listens to their `Changed`/`Pressed` messages.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal
from textual.widgets import Button, Input, Select, Static

from kanban_tui.text import inline
from kanban_tui.widgets.dispatcher_status import DispatcherStatusBar

FILTERS = ("tenant", "assignee")


class TopBar(Container):
    """Two rows (filters, then dispatcher health) that sit side by side on wide terminals."""

    def __init__(self, *, lanes: bool):
        super().__init__(id="top-bar")
        self.search = Input(placeholder="/ search id, title, body, assignee, tenant", id="search",
                            compact=True)
        self.filters = {name: Select[str]([], prompt=f"all {name}s", id=f"{name}-filter", compact=True)
                        for name in FILTERS}
        self.lanes = Button(self._lanes_label(lanes), id="lanes-toggle", compact=True)
        self.selection = Static(id="selection-count")
        self.status = DispatcherStatusBar(id="dispatcher-status")
        self.nudge = Button("nudge D", id="nudge", compact=True)
        self._choices: dict[str, tuple[str, ...]] = {name: () for name in FILTERS}

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield self.search
            yield from self.filters.values()
            yield self.lanes
        with Horizontal(id="health-row"):
            yield self.selection
            yield self.status
            yield self.nudge

    @staticmethod
    def _lanes_label(lanes: bool) -> str:
        return "lanes = on" if lanes else "lanes = off"

    def show_lanes(self, lanes: bool) -> None:
        self.lanes.label = self._lanes_label(lanes)

    def show_selection(self, count: int) -> None:
        self.selection.display = count > 0
        self.selection.update(f"{count} selected")

    def filter_value(self, name: str) -> str | None:
        value = self.filters[name].value
        return value if isinstance(value, str) else None

    def set_choices(self, name: str, choices: list[str]) -> None:
        """Offer these names in a filter (keeping the current pick) when the list changed."""
        choices_tuple = tuple(choices)
        if choices_tuple == self._choices[name]:
            return
        self._choices[name] = choices_tuple
        select = self.filters[name]
        current = self.filter_value(name)
        with select.prevent(Select.Changed):
            select.set_options([(Text(inline(choice)), choice) for choice in choices])
            if current in choices:
                select.value = current

    def clear(self) -> None:
        self.search.value = ""
        for select in self.filters.values():
            select.clear()
