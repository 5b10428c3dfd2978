"""Where a board lives: home folder, database (a file, or a PostgreSQL URL), logs and workspaces."""

from __future__ import annotations

import os
from pathlib import Path

from kanban_tui.kernel.dsn import is_postgres


class Paths:
    """A board's locations. (A plain class: importing dataclasses costs a CLI call ~5 ms.)"""

    __slots__ = ("home", "db")

    def __init__(self, home: Path, db: Path | str):
        self.home = home
        self.db = db

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and (self.home, self.db) == (other.home, other.db)

    def __repr__(self) -> str:
        from kanban_tui.kernel.dsn import redact

        return f"Paths(home={self.home!r}, db={redact(repr(self.db))})"

    @property
    def config(self) -> Path:
        return self.home / "config.yaml"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def workspaces(self) -> Path:
        return self.home / "workspaces"

    def log_for(self, task_id: str) -> Path:
        return self.logs / f"{task_id}.log"


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("kanban-tui"))


def resolve(home: str | os.PathLike | None = None, db: str | os.PathLike | None = None,
            env: dict | None = None) -> Paths:
    """--home/--db win over KANBAN_TUI_HOME/KANBAN_DB, which win over the platform default."""
    env = os.environ if env is None else env
    home_value = home or env.get("KANBAN_TUI_HOME")
    db_value = db or env.get("KANBAN_DB")
    home_path = Path(home_value).expanduser() if home_value else default_home()
    if is_postgres(db_value):
        return Paths(home=home_path.absolute(), db=str(db_value))
    db_path = Path(db_value).expanduser() if db_value else home_path / "kanban.db"
    return Paths(home=home_path.absolute(), db=db_path.absolute())


def ensure_home(paths: Paths) -> None:
    """Create the home (0700) with its logs/ and workspaces/ folders on first use."""
    for folder in (paths.home, paths.logs, paths.workspaces):
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
    if isinstance(paths.db, Path):
        paths.db.parent.mkdir(parents=True, exist_ok=True)
