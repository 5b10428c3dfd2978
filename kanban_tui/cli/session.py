"""What a verb handler gets besides its arguments: the board, the config and who is calling."""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING, Mapping

from kanban_tui import paths as paths_module
from kanban_tui.errors import Refused, UsageError

if TYPE_CHECKING:
    from kanban_tui.config import Config
    from kanban_tui.kernel.caller import Caller


class Session:
    """Opens the home and database on first use (creating a fresh home) and config on demand."""

    def __init__(self, home: str | None, db: str | None, env: Mapping[str, str] | None = None):
        self.env = os.environ if env is None else env
        self.paths = paths_module.resolve(home, db, self.env)
        self._conn: sqlite3.Connection | None = None
        self._config: Config | None = None
        self._caller: Caller | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn or self.open()

    def open(self) -> sqlite3.Connection:
        """Create the home when missing and open (and migrate) the database."""
        if self._conn is None:
            from kanban_tui.kernel import db

            paths_module.ensure_home(self.paths)
            self._conn = db.connect(self.paths.db)
        return self._conn

    @property
    def config(self) -> "Config":
        if self._config is None:
            from kanban_tui.config import load_config

            self._config = load_config(self.paths.config)
        return self._config

    def close(self) -> None:
        if self._conn is not None:
            from kanban_tui.kernel import db

            db.close(self._conn, self.paths.db)
            self._conn = None

    def task_id(self, text: str) -> str:
        """A full id or unique prefix -> the full id."""
        from kanban_tui.kernel import queries

        return queries.resolve_id(self.conn, text)

    def task_ids(self, texts: list[str]) -> list[str]:
        """Resolve every id before acting on any, so a typo changes nothing."""
        return list(dict.fromkeys(self.task_id(text) for text in texts))

    # -- who is calling -----------------------------------------------------------------

    @property
    def caller(self) -> "Caller":
        """Built once: a worker when KANBAN_TASK is set (the kernel proves its run), else $USER."""
        if self._caller is None:
            from kanban_tui.kernel.caller import Caller

            self._caller = Caller.from_env(self.env, operator_name=self.env.get("USER"))
        return self._caller

    @property
    def worker_tenant(self) -> str | None:
        """A worker's new cards stay in its tenant unless told otherwise."""
        return (self.env.get("KANBAN_TENANT") or None) if self.caller.is_worker else None

    def refuse_in_worker(self, explicit: str | None, flag: str) -> None:
        """Naming who signs is for people: a worker signs as its run's profile."""
        if explicit is not None and self.caller.is_worker:
            raise Refused(f"{flag} is refused inside a worker: workers sign as their profile")

    def own_profile(self) -> str:
        """`--mine`: KANBAN_PROFILE, else $USER."""
        name = self.env.get("KANBAN_PROFILE") or self.env.get("USER")
        if not name:
            raise UsageError("--mine needs KANBAN_PROFILE or USER in the environment")
        return name
