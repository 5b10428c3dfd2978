"""Read a kanban-tui board (a copy of its database) into a Bundle: every table, as it is.

Columns are read by name, so a board from an older schema version imports too (a column it
lacks takes the target's default); a board newer than this code is refused, since we cannot
know what its new columns mean.
"""

from __future__ import annotations

import sqlite3

from kanban_tui.errors import StorageError
from kanban_tui.kernel import db
from kanban_tui.kernel.importers.bundle import Bundle, json_object, json_value
from kanban_tui.kernel.importers.source import read_rows

# table -> (bundle attribute, has a rowid)
TABLES = {"tasks": ("tasks", True), "task_links": ("links", False), "task_runs": ("runs", True),
          "task_comments": ("comments", True), "task_events": ("events", True),
          "notify_subs": ("notify_subs", True), "notify_deliveries": ("deliveries", False)}


def read(conn: sqlite3.Connection, source: str, present: set[str], *, salvage: bool, now: float) -> Bundle:
    version = _version(conn)
    if version > db.SCHEMA_VERSION:
        raise StorageError(f"{source}: its schema version {version} is newer than this kanban-tui understands "
                           f"({db.SCHEMA_VERSION}); upgrade kanban-tui to import it")
    bundle = Bundle(source=source, format="kanban-tui")
    skipped = bundle.skipped if salvage else None
    for table, (attribute, rowid) in TABLES.items():
        rows = read_rows(conn, table, skipped, rowid=rowid) if table in present else []
        for row in rows:
            row.pop("_rowid", None)
        setattr(bundle, attribute, rows)
    for task in bundle.tasks:
        task["skills"] = json_value(task.get("skills")) or []
        bundle.notes[task["id"]] = {"original_status": task["status"]}
    for run in bundle.runs:
        run["metadata"] = json_object(run.get("metadata"))
    for event in bundle.events:
        event["payload"] = json_value(event.get("payload"))
        if event["kind"] == "claimed" and isinstance(event["payload"], dict):
            event["payload"].pop("lock", None)  # a run's claim lock is its secret (boards before 0002 showed it)
    return bundle


def _version(conn: sqlite3.Connection) -> int:
    try:
        return conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        return 0
