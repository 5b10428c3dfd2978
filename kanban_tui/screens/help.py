"""`?`: where to start, then every binding of the screen underneath, with its key (after the
user's keymap) and what it does.

Generated from the live binding tables; what does not apply right now is listed dimmed.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.actions import parse as parse_action
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from kanban_tui.keymap import (
    APP_BINDINGS,
    BOARD_BINDINGS,
    BOARD_WIDE_BINDINGS,
    CARD_BINDINGS,
    CARD_LIST_BINDINGS,
    NAVIGATION_BINDINGS,
    effective_keys,
)

Row = tuple[str, str, bool]

# The board's first steps, by binding id: the keys shown are the live ones.
START_HERE = (
    ("new_card", "New card in the focused column"),
    ("open_drawer", "Open the card: runs, events, comments, worker log, recovery"),
    ("nudge", "Nudge the dispatcher: spawn ready work now"),
    ("command_line", "Command line taking any CLI verb: block t_ab12 waiting for creds"),
    ("help", "This help, from any screen"),
    ("quit", "Quit the board; in a drawer or a tail, go back (like esc)"),
)


def key_display(app: App, binding: Binding) -> str:
    """The keys a binding answers to once the user's keymap is applied, as the footer names them."""
    keys = effective_keys(binding, app.keymap).split(",")
    return " ".join(app.get_key_display(Binding(key.strip(), "")) for key in keys)


def binding_key(app: App, binding_id: str) -> str:
    """The live keys of one of the app's or the board's bindings."""
    return key_display(app, next(b for b in (*APP_BINDINGS, *BOARD_BINDINGS) if b.id == binding_id))


def _rows(node: DOMNode, bindings: list[Binding]) -> list[Row]:
    rows = []
    for binding in bindings:
        _, name, params = parse_action(binding.action)
        rows.append((key_display(node.app, binding), binding.description, bool(node.check_action(name, params))))
    return rows


def start_here(app: App) -> list[Row]:
    rows = [(binding_key(app, binding_id), text, True) for binding_id, text in START_HERE]
    rows.append(("config", f"{app.gateway.paths.config}: dispatch settings and profiles; each profile is "
                           "a worker (README: Workers)", True))
    return rows


def binding_sections(screen: Screen) -> list[tuple[str, list[Row]]]:
    """(section title, rows) for a screen: where to start and the board's full tables, else the
    screen's active bindings."""
    from kanban_tui.screens.board import BoardScreen

    app = screen.app
    help_binding, quit_binding = APP_BINDINGS
    palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
    anywhere = ("Anywhere", _rows(app, [help_binding, palette]))
    if isinstance(screen, BoardScreen):
        navigate = _rows(screen.card_list, CARD_LIST_BINDINGS) + _rows(screen, NAVIGATION_BINDINGS)
        board = _rows(screen, BOARD_WIDE_BINDINGS) + _rows(app, [quit_binding])
        return [("Start here", start_here(app)), ("Navigate", navigate), ("Cards", _rows(screen, CARD_BINDINGS)),
                ("Board", board), anywhere]
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


def _section(title: str, rows: list[Row]) -> Vertical:
    return Vertical(Static(Text(title), classes="help-section-title"), Static(_table(rows)),
                    classes="help-section")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "close", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[Row]]]):
        super().__init__(id="help")
        self.sections = sections

    def compose(self) -> ComposeResult:
        (lead_title, lead_rows), *rest = self.sections
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys"
            body.border_subtitle = "esc closes"
            yield _section(lead_title, lead_rows)
            with Grid(id="help-sections"):
                for title, rows in rest:
                    yield _section(title, rows)

    def action_close(self) -> None:
        self.dismiss(None)
