"""A task's parents and children as one list: `enter` opens the linked task, `x` removes the link."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from kanban_tui.text import inline

RELATIONS = ("parent", "child")


def _prompt(relation: str, task: dict) -> Text:
    text = Text()
    text.append("↑ parent " if relation == "parent" else "↓ child  ", style="dim")
    text.append(task["id"], style="bold")
    text.append(f"  {task['status']:<8} ")
    text.append(inline(task["title"]))
    if task["assignee"]:
        text.append(f"  @{inline(task['assignee'])}", style="dim")
    return text


class LinkList(OptionList):
    """Options are `parent:<id>` and `child:<id>`; messages name the relation and the other task."""

    BINDINGS = [
        Binding("x,delete", "unlink", "Remove link", id="drawer.unlink"),
    ]

    class Open(Message):
        """The operator chose a linked task."""

        def __init__(self, task_id: str):
            super().__init__()
            self.task_id = task_id

    class Unlink(Message):
        """The operator asked to remove the link to `task_id` (`relation` is what it is to us)."""

        def __init__(self, relation: str, task_id: str):
            super().__init__()
            self.relation = relation
            self.task_id = task_id

    def show_links(self, parents: list[dict], children: list[dict]) -> None:
        """Replace the options, keeping the highlight on the same row when it still exists."""
        highlighted = self.highlighted
        options = [Option(_prompt(relation, task), id=f"{relation}:{task['id']}")
                   for relation, tasks in zip(RELATIONS, (parents, children)) for task in tasks]
        self.set_options(options or [Option(Text("no parents or children", style="dim"), disabled=True)])
        if options:
            self.highlighted = min(highlighted or 0, len(options) - 1)

    def _chosen(self) -> tuple[str, str] | None:
        option = self.highlighted_option
        if option is None or option.id is None:
            return None
        relation, _, task_id = option.id.partition(":")
        return relation, task_id

    def action_unlink(self) -> None:
        chosen = self._chosen()
        if chosen is not None:
            self.post_message(self.Unlink(*chosen))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = self._chosen()
        if chosen is not None:
            self.post_message(self.Open(chosen[1]))
