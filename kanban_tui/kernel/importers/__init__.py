"""`kanban-tui import`: bring a board over from a Hermes Kanban or another kanban-tui board.

source.py finds and copies the source aside, hermes.py / kanban.py read the copy into a
Bundle, writer.py writes the Bundle into the target in one transaction (SPEC 15).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from kanban_tui.errors import Refused
from kanban_tui.kernel import dsn
from kanban_tui.kernel.importers import hermes, kanban, source, writer


def import_board(conn: sqlite3.Connection, where: str, *, board: str | None = None, tenant: str | None = None,
                 skip_existing: bool = False, salvage: bool = False, dry_run: bool = False,
                 target: Path | None = None, now: float | None = None) -> dict:
    """Import the board at `where` into conn's board; returns the report (SPEC 17)."""
    now = time.time() if now is None else now
    path = source.locate(where, board)
    if target is not None and not dsn.is_postgres(target) and Path(target).exists() \
            and os.path.samefile(path, target):
        raise Refused(f"{path} is this board itself; nothing to import")
    with source.Snapshot(path) as snap:
        problem = source.integrity_problem(snap.conn)
        if problem and not salvage:
            raise Refused(f"{path}: fails PRAGMA integrity_check ({problem}); nothing was imported "
                          f"(--salvage imports every row that can still be read)")
        present = source.tables(snap.conn, path)
        if "tasks" not in present:
            raise Refused(f"{path}: not a kanban board (it has no tasks table)")
        reader = kanban if "schema_migrations" in present else hermes
        bundle = reader.read(snap.conn, str(path), present, salvage=salvage, now=now)
    if problem:
        bundle.skipped.insert(0, {"table": None, "id": None, "reason": f"integrity_check: {problem}"})
    return writer.import_bundle(conn, bundle, tenant=tenant, skip_existing=skip_existing, dry_run=dry_run, now=now)
