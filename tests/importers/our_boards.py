"""A kanban-tui board made by our own kernel, to import from."""

from __future__ import annotations

import sqlite3

from kanban_tui.kernel import db, notify
from kanban_tui.kernel import transitions as T
from kanban_tui.kernel.caller import Caller

NOW = 1_800_000_000.0


def build_board(path) -> tuple[sqlite3.Connection, dict]:
    """A real board: links, comments, runs of every ending, a running card, subscriptions, a delivery."""
    conn = db.connect(path)
    at = iter(NOW + step for step in range(1000))
    new = lambda title, **kw: T.create(conn, title, now=next(at), **kw)["task_id"]  # noqa: E731
    parent = new("parent", assignee="coder", priority=3, tenant="acme", skills=["review"], max_runtime="30m")
    child = new("child", parents=[parent], body="# do it\nwell", idempotency_key="k-child")
    blocked = new("blocked one", assignee="coder", workspace="dir:/srv/work")
    running = new("running one", assignee="coder")
    archived = new("archived one")
    T.comment(conn, child, "first thought", author="ann", now=next(at))
    claimed = T.claim(conn, parent, now=next(at))
    worker = Caller.worker(parent, claimed["run_id"], claimed["claim_lock"])
    T.heartbeat(conn, parent, note="half way", caller=worker, now=next(at))
    T.complete(conn, parent, summary="done it", metadata={"changed_files": ["a.py"]}, result="ok",
               caller=worker, now=next(at))
    run = T.claim(conn, blocked, now=next(at))["run_id"]
    T.end_run_failed(conn, blocked, run, "crashed", error="exit 1", now=next(at))
    T.block(conn, blocked, reason="need creds", now=next(at))
    T.claim(conn, running, now=next(at))
    T.archive(conn, archived, now=next(at))
    T.edit(conn, child, title="child, renamed", now=next(at))
    T.notify_subscribe(conn, parent, platform="slack", chat_id="C1", thread_id="T1", user_id="u", now=NOW - 1)
    T.notify_subscribe(conn, blocked, platform="telegram", chat_id="42", now=NOW - 1)
    notify.deliver(conn, path, ["true"], now=next(at)).join()
    return conn, {"parent": parent, "child": child, "blocked": blocked, "running": running, "archived": archived}


def without_import_stamps(shown: dict) -> dict:
    """show() minus what an import adds at its end: the `imported` event, the reclaim of an open run."""
    events = [e for e in shown["events"]
              if e["kind"] != "imported" and (e["payload"] or {}).get("reason") != "imported"]
    return {**shown, "events": events}
