"""App-wide messages that come from outside the DOM (the bridge and the dispatcher thread)."""

from __future__ import annotations

from textual.message import Message


class BoardChanged(Message):
    """New events were committed. `events` are event dicts (models.event_dict), oldest first."""

    def __init__(self, events: list[dict], cursor: int, task_ids: frozenset[str]):
        super().__init__()
        self.events = events
        self.cursor = cursor
        self.task_ids = task_ids


class DispatcherStatus(Message):
    """The in-process dispatcher's status dict changed (role, leader, last tick, workers, cap)."""

    def __init__(self, status: dict):
        super().__init__()
        self.status = status
