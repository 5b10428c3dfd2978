"""Garbage collection: old events and logs of finished tasks, scratch workspaces of archived ones.

What is kept, and why:
- `created` events are never deleted: doctor requires one per task, and it anchors `show`.
- The newest event on the board is never deleted: event ids are rowids, and SQLite reuses
  the highest id once it is gone, which would move the cursor every live view follows backwards.
- Only workspaces recorded as managed AND resolving strictly inside the workspaces root are
  removed; a symlink (or `..`) that escapes the root is skipped, never followed.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import stat
import time
from pathlib import Path

from kanban_tui.kernel import db
from kanban_tui.kernel.models import SATISFIED_STATUSES
from kanban_tui.paths import Paths

DAY = 86400
DELETE_WINDOW = 20_000  # event ids per write transaction
LOG_NAME_RE = re.compile(r"^(t_[0-9a-f]{8})\.log(\.1)?$")
FINISHED_SQL = ", ".join(f"'{status}'" for status in SATISFIED_STATUSES)


def gc(conn: sqlite3.Connection, paths: Paths, *, event_retention_days: float = 30,
       log_retention_days: float = 30, now: float | None = None) -> dict:
    """Collect garbage; returns {events_deleted, logs_deleted, workspaces_removed, workspaces_skipped}."""
    now = time.time() if now is None else now
    events_deleted = _delete_old_events(conn, now - event_retention_days * DAY)
    logs_deleted = _delete_old_logs(conn, paths, now - log_retention_days * DAY)
    removed, skipped = _remove_archived_workspaces(conn, paths)
    return {"events_deleted": events_deleted, "logs_deleted": logs_deleted,
            "workspaces_removed": removed, "workspaces_skipped": skipped}


def _delete_old_events(conn: sqlite3.Connection, cutoff: float) -> int:
    """Walk the id range in windows, one short write transaction each, so a large collection
    never holds the write lock long enough to stall workers (and never rescans kept rows)."""
    newest = conn.execute("SELECT coalesce(max(id), 0) FROM task_events").fetchone()[0]
    sql = ("DELETE FROM task_events WHERE id >= ? AND id < ? AND created_at < ? AND kind <> 'created' "
           "AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = task_events.task_id "
           f"AND t.status IN ({FINISHED_SQL}))")
    deleted = 0
    for start in range(0, newest, DELETE_WINDOW):
        window = (start, min(start + DELETE_WINDOW, newest), cutoff)
        deleted += db.write(conn, lambda c: c.execute(sql, window).rowcount)
    return deleted


def _delete_old_logs(conn: sqlite3.Connection, paths: Paths, cutoff: float) -> int:
    """Delete `<task>.log` / `.log.1` files untouched since cutoff whose task is done or archived."""
    if not paths.logs.is_dir():
        return 0
    candidates: dict[str, list[Path]] = {}
    for entry in paths.logs.iterdir():
        match = LOG_NAME_RE.match(entry.name)
        if match:
            candidates.setdefault(match.group(1), []).append(entry)
    finished = _finished_ids(conn, list(candidates))
    deleted = 0
    for task_id in finished:
        for log in candidates[task_id]:
            if _old_regular_file(log, cutoff):
                log.unlink()
                deleted += 1
    return deleted


def _finished_ids(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    rows = conn.execute(f"SELECT id FROM tasks WHERE status IN ({FINISHED_SQL}) "
                        "AND id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))
    return {row[0] for row in rows}


def _old_regular_file(path: Path, cutoff: float) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff


def _remove_archived_workspaces(conn: sqlite3.Connection, paths: Paths) -> tuple[int, int]:
    rows = conn.execute("SELECT id, workspace_path FROM tasks WHERE status = 'archived' "
                        "AND workspace_managed = 1 AND workspace_path IS NOT NULL").fetchall()
    root = paths.workspaces.resolve()
    removed = skipped = 0
    for _, raw_path in rows:
        workspace = Path(raw_path)
        if not workspace.exists() and not workspace.is_symlink():
            continue
        if not _safely_inside(workspace, root):
            skipped += 1
            continue
        try:
            shutil.rmtree(workspace)
        except OSError:
            skipped += 1
        else:
            removed += 1
    return removed, skipped


def _safely_inside(workspace: Path, root: Path) -> bool:
    """A real directory (not a symlink) whose resolved path lies strictly below root."""
    if workspace.is_symlink() or not workspace.is_dir():
        return False
    resolved = workspace.resolve()
    return resolved != root and root in resolved.parents
