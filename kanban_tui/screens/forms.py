"""Small modal forms that return a value with `dismiss`: task create/edit, text, confirm, profile.

Each form validates inline and never touches the board except `TaskForm`, which resolves the
parent id prefixes in a thread worker so a typo is reported before the form closes.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from kanban_tui import validate
from kanban_tui.errors import KanbanError
from kanban_tui.kernel import queries
from kanban_tui.kernel.models import COLUMN_TITLES, clean_title
from kanban_tui.text import inline

UNASSIGN = "none"

DIALOG_CSS = """
{screen} {
    align: center middle;
}
{screen} > Vertical {
    width: 76;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: round $accent;
    border-title-color: $text;
    background: $surface;
    padding: 0 1;
}
{screen} .form-error {
    color: $text-error;
    display: none;
}
{screen} .form-error.-shown {
    display: block;
}
{screen} .form-hint {
    color: $text-muted;
}
{screen} Input, {screen} TextArea {
    border-title-color: $text-muted;
}
"""


def _dialog_css(screen: str, extra: str = "") -> str:
    return DIALOG_CSS.replace("{screen}", screen) + extra


def _show_error(widget: Static, message: str | None) -> None:
    """Inline validation: the message as plain text, hidden when there is none."""
    widget.update(Text(message or ""))
    widget.set_class(bool(message), "-shown")


def _titled(widget, title: str):
    widget.border_title = title
    return widget


class TaskForm(ModalScreen[dict | None]):
    """Create or edit a card. Dismisses {title, body, assignee, priority, tenant, parents} or None.

    In edit mode only title, body and priority are editable; assignee and tenant come back as
    given and parents as [] (dependencies are edited in the drawer, assignment with `a`).
    """

    DEFAULT_CSS = _dialog_css("TaskForm", """
    TaskForm #form-body {
        height: 8;
    }
    TaskForm #form-fields {
        height: auto;
    }
    TaskForm #form-fields Input {
        width: 1fr;
    }
    TaskForm #form-priority {
        max-width: 14;
    }
    """)

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "save", "Save", id="form.save"),
    ]

    def __init__(self, title: str = "", body: str = "", mode: str = "create", column: str = "ready", *,
                 assignee: str | None = None, priority: int = 0, tenant: str | None = None):
        super().__init__()
        self.mode = mode
        self.column = column
        self.initial = {"title": title, "body": body, "assignee": assignee, "priority": priority,
                        "tenant": tenant}

    def compose(self) -> ComposeResult:
        creating = self.mode == "create"
        with Vertical() as dialog:
            dialog.border_title = (f"New card in {COLUMN_TITLES.get(self.column, self.column)}"
                                   if creating else "Edit card")
            yield _titled(Input(self.initial["title"], placeholder="what needs doing, one line",
                                id="form-title"), "Title")
            yield Static(id="form-title-error", classes="form-error")
            yield _titled(TextArea(self.initial["body"], id="form-body"), "Body (markdown)")
            with Horizontal(id="form-fields"):
                if creating:
                    profiles = sorted(self.app.gateway.config.profiles)
                    yield _titled(Input(self.initial["assignee"] or "", placeholder="profile",
                                        suggester=SuggestFromList(profiles, case_sensitive=False),
                                        id="form-assignee"), "Assignee")
                yield _titled(Input(str(self.initial["priority"]), type="integer", id="form-priority"),
                              "Priority")
                if creating:
                    yield _titled(Input(self.initial["tenant"] or "", placeholder="namespace",
                                        id="form-tenant"), "Tenant")
            if creating:
                yield _titled(Input(placeholder="id prefixes, e.g. t_ab12 t_cd34", id="form-parents"),
                              "Parents")
            yield Static(id="form-error", classes="form-error")
            yield Static("enter or ctrl+s saves · esc cancels", classes="form-hint")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def action_save(self) -> None:
        title_error = self.query_one("#form-title-error", Static)
        form_error = self.query_one("#form-error", Static)
        try:
            title = clean_title(self.query_one("#form-title", Input).value)
        except KanbanError as exc:
            _show_error(title_error, exc.message)
            self.query_one("#form-title", Input).focus()
            return
        _show_error(title_error, None)
        priority_text = self._value("form-priority")
        try:
            priority = validate.integer(priority_text, "priority") if priority_text else 0
        except KanbanError as exc:
            _show_error(form_error, exc.message)
            return
        _show_error(form_error, None)
        creating = self.mode == "create"
        values = {
            "title": title,
            "body": self.query_one("#form-body", TextArea).text,
            "assignee": (self._value("form-assignee") or None) if creating else self.initial["assignee"],
            "priority": priority,
            "tenant": (self._value("form-tenant") or None) if creating else self.initial["tenant"],
        }
        prefixes = re.split(r"[\s,]+", self._value("form-parents")) if creating else []
        prefixes = [prefix for prefix in prefixes if prefix]
        if prefixes:
            self._resolve_parents(values, prefixes, self.app.gateway)
        else:
            self.dismiss({**values, "parents": []})

    @work(thread=True, exclusive=True, exit_on_error=False, group="parents")
    def _resolve_parents(self, values: dict, prefixes: list[str], gateway) -> dict:
        conn = gateway.conn()
        return {**values, "parents": list(dict.fromkeys(queries.resolve_id(conn, p) for p in prefixes))}

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.state is WorkerState.SUCCESS:
            self.dismiss(worker.result)
        elif worker.state is WorkerState.ERROR:
            _show_error(self.query_one("#form-error", Static), f"parents: {worker.error}")
            self.query_one("#form-parents", Input).focus()


class TextPrompt(ModalScreen[str | None]):
    """One line of text (block reason, summary, comment, search). Dismisses the text or None."""

    DEFAULT_CSS = _dialog_css("TextPrompt")

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, label: str, placeholder: str = "", required: bool = True, *, value: str = ""):
        super().__init__()
        self.label = label
        self.placeholder = placeholder
        self.required = required
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical() as dialog:
            dialog.border_title = self.label
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static(id="prompt-error", classes="form-error")
            yield Static("enter accepts · esc cancels", classes="form-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if self.required and not text:
            _show_error(self.query_one("#prompt-error", Static), f"{self.label}: this cannot be empty")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: `y`/`enter` dismiss True, `n`/`esc` dismiss False."""

    DEFAULT_CSS = _dialog_css("ConfirmScreen", """
    ConfirmScreen > Vertical {
        width: 60;
    }
    ConfirmScreen Horizontal {
        height: auto;
        align-horizontal: right;
    }
    ConfirmScreen Button {
        margin-left: 2;
    }
    """)

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical() as dialog:
            dialog.border_title = "Confirm"
            yield Static(Text(self.question), id="confirm-question")
            with Horizontal():
                yield Button("Yes (y)", variant="error", id="confirm-yes", compact=True)
                yield Button("No (n)", id="confirm-no", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ProfilePicker(ModalScreen[str | None]):
    """Choose a profile, `none` to unassign, or type a new name. Dismisses the name or None.

    Typing filters the list; `enter` in the field takes what was typed, `enter` in the list
    (reached with `down` or `tab`) takes the highlighted profile.
    """

    DEFAULT_CSS = _dialog_css("ProfilePicker", """
    ProfilePicker > Vertical {
        width: 50;
    }
    ProfilePicker OptionList {
        height: auto;
        max-height: 12;
    }
    """)

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down", "focus_list", "Profiles", show=False, id="picker.list"),
    ]

    def __init__(self, profiles: list[str], current: str | None = None):
        super().__init__()
        self.profiles = sorted(dict.fromkeys(p for p in profiles if p))
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical() as dialog:
            dialog.border_title = "Assign to profile"
            yield Input(placeholder="type to filter or name a new profile",
                        suggester=SuggestFromList(self.profiles, case_sensitive=False), id="picker-input")
            yield OptionList(id="picker-list")
            yield Static(id="picker-error", classes="form-error")
            yield Static("enter picks · down/tab to the list · esc cancels", classes="form-hint")

    def on_mount(self) -> None:
        self._show_matches("")

    def _show_matches(self, typed: str) -> None:
        needle = typed.strip().lower()
        options = []
        for name in [*self.profiles, UNASSIGN]:
            if needle and needle not in name:
                continue
            label = Text(inline(name) if name != UNASSIGN else "none (unassign)")
            if name == (self.current or UNASSIGN):
                label.append("  (current)", style="dim")
            options.append(Option(label, id=name))
        picker = self.query_one("#picker-list", OptionList)
        picker.set_options(options)
        current = self.current or UNASSIGN
        if any(option.id == current for option in options):
            picker.highlighted = picker.get_option_index(current)
        elif options:
            picker.highlighted = 0

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_matches(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip().lower()
        if not name:
            _show_error(self.query_one("#picker-error", Static), "type a profile name or pick one below")
            return
        self.dismiss(name)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option_id)

    def action_focus_list(self) -> None:
        self.query_one("#picker-list", OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
