"""`?`: every binding of the screen underneath, with its key (after the user's keymap) and what it does.

Generated from the live binding tables; what does not apply right now is listed dimmed.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.actions import parse as parse_action
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from kanban_tui.keymap import (
    APP_BINDINGS, BOARD_WIDE_BINDINGS, CARD_BINDINGS, CARD_LIST_BINDINGS, NAVIGATION_BINDINGS, effective_keys,
)

Row = tuple[str, str, bool]


def _rows(node: DOMNode, bindings: list[Binding]) -> list[Row]:
    app = node.app
    rows = []
    for binding in bindings:
        keys = effective_keys(binding, app.keymap).split(",")
        shown = " ".join(app.get_key_display(Binding(key.strip(), "")) for key in keys)
        _, name, params = parse_action(binding.action)
        rows.append((shown, binding.description, bool(node.check_action(name, params))))
    return rows


def binding_sections(screen: Screen) -> list[tuple[str, list[Row]]]:
    """(section title, rows) for a screen: the board's full tables, else its active bindings."""
    from kanban_tui.screens.board import BoardScreen

    app = screen.app
    palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
    anywhere = ("Anywhere", _rows(app, [*APP_BINDINGS, palette]))
    if isinstance(screen, BoardScreen):
        navigate = _rows(screen.card_list, CARD_LIST_BINDINGS) + _rows(screen, NAVIGATION_BINDINGS)
        return [("Navigate", navigate), ("Cards", _rows(screen, CARD_BINDINGS)),
                ("Board", _rows(screen, BOARD_WIDE_BINDINGS)), anywhere]
    rows = [(app.get_key_display(active.binding), active.binding.description or active.binding.action,
             active.enabled) for active in screen.active_bindings.values()]
    return [(type(screen).__name__, rows), anywhere]


def _table(rows: list[Row]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for keys, description, available in rows:
        style = "" if available else "dim"
        table.add_row(Text(keys, style=style), Text(description + ("" if available else " (n/a here)"),
                                                    style=style))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[Row]]]):
        super().__init__(id="help")
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys"
            body.border_subtitle = "esc closes"
            for title, rows in self.sections:
                with Vertical(classes="help-section"):
                    yield Static(Text(title), classes="help-section-title")
                    yield Static(_table(rows))

    def action_close(self) -> None:
        self.dismiss(None)
