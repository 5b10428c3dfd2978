"""Errors every door (CLI, tools, TUI, dispatcher) turns into a one-line message.

`exit_code` follows README "Command line": 2 for what was typed wrong, 1 for what the board refuses.
"""


class KanbanError(Exception):
    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(KanbanError):
    """Malformed input: bad flag value, empty title, bad JSON, short id prefix."""

    exit_code = 2


class NotFound(KanbanError):
    """Unknown or ambiguous id."""


class Refused(KanbanError):
    """A well-formed request the board refuses: wrong state, cycle, cap reached."""


class ConfigError(KanbanError):
    """config.yaml is malformed; the message names the file, line and key.

    `problems` holds one line per problem (all of them, not only the first); `message` joins them.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


class StorageError(KanbanError):
    """The database file cannot be used (not SQLite, from a newer version, unwritable)."""


class SpawnError(KanbanError):
    """A worker could not be started (bad command, workspace failure)."""
