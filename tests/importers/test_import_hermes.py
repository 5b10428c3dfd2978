"""Importing Hermes Kanban boards: every row arrives, mapped as README "Bringing a Hermes board along" says."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone

import pytest
from hermes_boards import NOW as H_NOW
from hermes_boards import HermesBoard, populate

from kanban_tui.errors import NotFound, Refused, UsageError
from kanban_tui.kernel import queries
from kanban_tui.kernel.importers import import_board

IMPORT_AT = H_NOW + 100.0


@pytest.fixture(params=["fresh", "migrated"])
def hermes(request, tmp_path):
    board = HermesBoard(tmp_path / "hermes" / "kanban.db", request.param)
    ids = populate(board)
    board.close()
    return board, ids


def _import(conn, where, **kwargs):
    return import_board(conn, str(where), now=IMPORT_AT, **kwargs)


def _events(conn, task_id):
    return queries.show(conn, task_id)["events"]


def _stamps(conn, task_id):
    """The import's own `imported` events (a wrapped event of a kind we lack has no original_status)."""
    return [e for e in _events(conn, task_id) if e["kind"] == "imported" and "original_status" in e["payload"]]


def _source_count(path, table):
    source = sqlite3.connect(path)
    try:
        return source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        source.close()


def test_every_row_arrives_and_the_counts_say_so(conn, hermes):
    board, ids = hermes
    report = _import(conn, board.path.parent)
    attachments = 1 if board.layout == "fresh" else 0
    expected = {"tasks": 9, "links": 2, "comments": 2 + attachments, "runs": 9, "events": 18, "notify_subs": 2}
    assert report["counts"] == expected
    assert report["format"] == "hermes" and report["source"] == str(board.path) and report["skipped"] == []
    for table, ours in (("tasks", "tasks"), ("task_links", "task_links"), ("task_runs", "task_runs"),
                        ("kanban_notify_subs", "notify_subs")):
        assert conn.execute(f"SELECT count(*) FROM {ours}").fetchone()[0] == _source_count(board.path, table)
    # source events plus, per card, `imported` (+ `created` for the one without, + blocked for review)
    # and the reclaim of the open run
    assert conn.execute("SELECT count(*) FROM task_events").fetchone()[0] == 18 + 9 + 1 + 1 + 1
    kept = dict(conn.execute("SELECT status, n FROM task_counts WHERE n > 0"))
    assert kept == dict(conn.execute("SELECT status, count(*) FROM tasks GROUP BY status"))


@pytest.mark.parametrize("status, lands_in", [
    ("triage", "triage"), ("todo", "todo"), ("scheduled", "todo"), ("ready", "ready"), ("running", "ready"),
    ("blocked", "blocked"), ("review", "blocked"), ("done", "done"), ("archived", "archived")])
def test_statuses_map_one_to_one_and_keep_the_original(conn, hermes, status, lands_in):
    board, ids = hermes
    _import(conn, board.path.parent)
    task_id = ids[status]
    assert queries.get_task(conn, task_id)["status"] == lands_in
    [imported] = _stamps(conn, task_id)
    assert imported["payload"]["source"] == str(board.path)
    assert imported["payload"]["original_status"] == status
    assert imported["created_at"] == IMPORT_AT


def test_review_is_blocked_with_the_reason_review_requested(conn, hermes):
    board, ids = hermes
    _import(conn, board.path.parent)
    events = _events(conn, ids["review"])
    assert [e["kind"] for e in events][-2:] == ["imported", "blocked"]
    assert events[-1]["payload"] == {"reason": "review requested"}


def test_a_running_card_lands_in_ready_with_its_open_run_reclaimed(conn, hermes):
    board, ids = hermes
    report = _import(conn, board.path.parent)
    task = queries.get_task(conn, ids["running"])
    assert (task["status"], task["current_run_id"], task["worker_pid"], task["claim_expires"]) == \
        ("ready", None, None, None)
    runs = queries.runs(conn, ids["running"])
    assert [r["outcome"] for r in runs] == ["crashed", "reclaimed"]
    assert runs[-1]["id"] == ids["open_run"] and runs[-1]["error"] == "imported"
    assert runs[-1]["ended_at"] == IMPORT_AT and runs[-1]["status"] == "ended"
    reclaimed = [e for e in _events(conn, ids["running"]) if e["kind"] == "reclaimed"]
    assert [(e["run_id"], e["payload"]) for e in reclaimed] == \
        [(ids["open_run"], {"manual": False, "reason": "imported"})]
    assert report["mapped"]["open_runs_closed"] == 1
    assert report["mapped"]["statuses"]["running->ready"] == 1


def test_hermes_only_outcomes_become_the_closest_of_ours_with_the_original_in_metadata(conn, hermes):
    board, ids = hermes
    report = _import(conn, board.path.parent)
    runs = queries.runs(conn, ids["review"])
    assert [(r["outcome"], (r["metadata"] or {}).get("hermes", {}).get("outcome")) for r in runs] == [
        ("rate_limited", None), ("blocked", "review_requested"), ("reclaimed", "stale")]
    assert runs[1]["summary"] == "please review"
    assert runs[1]["metadata"]["changed_files"] == ["a.py"]
    assert report["mapped"]["outcomes"] == {"review_requested->blocked": 1, "stale->reclaimed": 1}
    assert [(r["outcome"], r["error"]) for r in queries.runs(conn, ids["blocked"])] == \
        [("crashed", "exit 1"), ("crashed", "exit 1"), ("gave_up", "exit 1")]


def test_events_keep_payloads_and_order_and_unknown_kinds_are_wrapped(conn, hermes):
    board, ids = hermes
    report = _import(conn, board.path.parent)
    blocked = [(e["kind"], e["payload"]) for e in _events(conn, ids["blocked"])]
    assert [kind for kind, _ in blocked] == ["created", "claimed", "crashed", "claimed", "crashed", "claimed",
                                             "gave_up", "imported"]
    assert blocked[2][1] == {"error": "exit 1"}
    # run ids on events and in claimed payloads still point at the imported runs
    runs = [r["id"] for r in queries.runs(conn, ids["blocked"])]
    claimed = [e for e in _events(conn, ids["blocked"]) if e["kind"] == "claimed"]
    assert [(e["run_id"], e["payload"]["run_id"]) for e in claimed] == [(r, r) for r in runs]
    review = {e["kind"]: e["payload"] for e in _events(conn, ids["review"])}
    assert {"original_kind": "model_override_set", "payload": {"model": "big-model"}} in \
        [e["payload"] for e in _events(conn, ids["review"]) if e["kind"] == "imported"]
    assert "model_override_set" not in review
    [wrapped] = [e for e in _events(conn, ids["scheduled"]) if e["kind"] == "imported" and
                 "original_kind" in e["payload"]]
    assert wrapped["payload"] == {"original_kind": "status", "payload": {"unparsed": "not json {"}}
    assert "promoted" in [e["kind"] for e in _events(conn, ids["ready"])]  # the legacy `ready` kind
    assert report["mapped"]["event_kinds"] == {"ready->promoted": 1, "model_override_set->imported": 1,
                                               "status->imported": 1}
    ids_in_order = [row[0] for row in conn.execute("SELECT id FROM task_events ORDER BY id")]
    assert ids_in_order == list(range(1, len(ids_in_order) + 1))


def test_a_card_without_a_created_event_gets_one_first(conn, hermes):
    board, ids = hermes
    _import(conn, board.path.parent)
    events = _events(conn, ids["triage"])
    assert events[0]["kind"] == "created" and events[0]["payload"]["added_by_import"] is True


def test_fields_text_and_times(conn, hermes):
    board, ids = hermes
    _import(conn, board.path.parent)
    todo = queries.get_task(conn, ids["todo"])
    assert todo["body"] == "caf\ufffd \ufffd broken"
    assert queries.comments(conn, ids["todo"])[0]["body"] == "na\ufffdve comment"
    done = queries.get_task(conn, ids["done"])
    assert done["completed_at"] == datetime(2027, 1, 15, 8, tzinfo=timezone.utc).timestamp()  # ISO, Z = UTC
    assert done["created_at"] == done["completed_at"] - 3600  # naive ISO is read as UTC
    assert done["result"] == "shipped"
    [run] = queries.runs(conn, ids["done"])
    assert (run["started_at"], run["ended_at"]) == (done["completed_at"] - 1800, done["completed_at"])
    blocked = queries.get_task(conn, ids["blocked"])
    assert blocked["consecutive_failures"] == 3  # spawn_failures on a migrated file
    review = queries.get_task(conn, ids["review"])
    assert (review["assignee"], review["tenant"], review["skills"]) == ("coder", "acme", ["review"])
    [imported] = _stamps(conn, ids["review"])
    assert imported["payload"]["hermes_fields"]["model_override"] == "big-model"


def test_links_comments_attachments_and_subscriptions(conn, hermes):
    board, ids = hermes
    _import(conn, board.path.parent)
    assert queries.get_task(conn, ids["ready"])["parents"] == [ids["done"]]
    assert queries.get_task(conn, ids["todo"])["parents"] == [ids["triage"]]
    comments = queries.comments(conn, ids["done"])
    assert comments[0]["body"] == "merged"
    if board.layout == "fresh":
        assert comments[1]["author"] == "ann"
        assert comments[1]["body"] == "Attachment: spec.pdf (2048 bytes, application/pdf)\nstored at /srv/att/spec.pdf"
    subs = {(s["task_id"], s["platform"], s["chat_id"], s["thread_id"], s["user_id"])
            for s in queries.notify_list(conn, None)}
    assert subs == {(ids["done"], "telegram", "42", "", "u1"), (ids["blocked"], "slack", "C1", "T9", None)}


def test_what_hermes_already_notified_is_not_notified_again(conn, hermes):
    board, ids = hermes
    _import(conn, board.path.parent)
    from kanban_tui.kernel.notify import _PENDING_SQL
    pending = {(row["task_id"], row["kind"]) for row in conn.execute(_PENDING_SQL)}
    # the telegram chat had seen the completion; the slack one never had a cursor
    assert (ids["done"], "completed") not in pending
    assert {kind for task_id, kind in pending if task_id == ids["blocked"]} == {"crashed", "gave_up"}


def test_ids_that_are_not_ours_map_deterministically(conn, tmp_path):
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    board.task("legacy-7", "ready")
    board.task("T_ABCDEF12", "todo")
    board.insert("task_links", parent_id="legacy-7", child_id="T_ABCDEF12")
    board.event("legacy-7", "created", {"status": "ready"})
    board.close()
    report = _import(conn, board.path, dry_run=True)
    mapping = report["mapped"]["task_ids"]
    assert set(mapping) == {"legacy-7", "T_ABCDEF12"} and all(v.startswith("t_") for v in mapping.values())
    assert _import(conn, board.path)["mapped"]["task_ids"] == mapping  # the same on every run
    new = mapping["T_ABCDEF12"]
    assert queries.get_task(conn, new)["parents"] == [mapping["legacy-7"]]
    [imported] = _stamps(conn, new)
    assert imported["payload"]["original_id"] == "T_ABCDEF12"


def test_named_board_under_kanban_boards(conn, tmp_path):
    root = tmp_path / "root"
    default = HermesBoard(root / "kanban.db")
    default.task("t_00000001", "ready")
    default.close()
    named = HermesBoard(root / "kanban" / "boards" / "research" / "kanban.db")
    (root / "kanban" / "boards" / "research" / "board.json").write_text('{"name": "Research"}')
    named.task("t_000000aa", "todo", title="from research")
    named.close()
    report = _import(conn, root, board="research")
    assert report["source"] == str(root / "kanban" / "boards" / "research" / "kanban.db")
    assert [t["id"] for t in queries.list_tasks(conn)] == ["t_000000aa"]
    assert _import(conn, root)["counts"]["tasks"] == 1  # without --board: the default board
    assert _import(conn, root, board="default", skip_existing=True)["counts"]["tasks"] == 0


def test_board_choice_errors(conn, tmp_path):
    root = tmp_path / "root"
    HermesBoard(root / "kanban" / "boards" / "a" / "kanban.db").close()
    HermesBoard(root / "kanban" / "boards" / "b" / "kanban.db").close()
    with pytest.raises(Refused, match="no default board; pick one with --board: a, b"):
        _import(conn, root)
    with pytest.raises(NotFound, match=r"no board 'c' in .* \(boards: a, b\)"):
        _import(conn, root, board="c")
    with pytest.raises(UsageError, match="bad --board"):
        _import(conn, root, board="../a")
    with pytest.raises(UsageError, match="SOURCE is a file"):
        _import(conn, root / "kanban" / "boards" / "a" / "kanban.db", board="a")


def test_tenant_flag_sets_every_card_and_keeps_the_old_one(conn, hermes):
    board, ids = hermes
    _import(conn, board.path.parent, tenant="moved")
    assert {t["tenant"] for t in queries.list_tasks(conn, include_archived=True)} == {"moved"}
    [imported] = _stamps(conn, ids["review"])
    assert imported["payload"]["original_tenant"] == "acme"


def test_inconsistent_rows_are_listed_not_fatal(conn, tmp_path):
    """Hermes has no foreign keys: rows pointing at nothing, cycles and empty comments happen."""
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    for task_id in ("t_0000000a", "t_0000000b"):
        board.task(task_id, "todo")
    board.insert("task_links", parent_id="t_0000000a", child_id="t_0000000b")
    board.insert("task_links", parent_id="t_0000000b", child_id="t_0000000a")
    board.insert("task_links", parent_id="t_0000000a", child_id="t_0000000a")
    board.insert("task_links", parent_id="t_0000000a", child_id="t_deadbeef")
    board.insert("task_comments", task_id="t_0000000a", author="x", body="   ", created_at=H_NOW)
    board.insert("task_comments", task_id="t_deadbeef", author="x", body="orphan", created_at=H_NOW)
    board.event("t_deadbeef", "created")
    board.close()
    report = _import(conn, board.path)
    reasons = {(s["table"], s["reason"]) for s in report["skipped"]}
    assert reasons == {("task_links", "would close a dependency cycle"), ("task_links", "links a task to itself"),
                       ("task_links", "links a task that is not in the source"), ("task_comments", "empty body"),
                       ("task_comments", "its task t_deadbeef is not in the source"),
                       ("task_events", "its task t_deadbeef is not in the source")}
    assert report["counts"]["links"] == 1


def test_a_ready_card_under_an_open_parent_lands_in_todo(conn, tmp_path):
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    board.task("t_0000000a", "running")
    board.task("t_0000000b", "ready")
    board.insert("task_links", parent_id="t_0000000a", child_id="t_0000000b")
    board.close()
    report = _import(conn, board.path)
    assert [queries.get_task(conn, t)["status"] for t in ("t_0000000a", "t_0000000b")] == ["ready", "todo"]
    assert report["mapped"]["statuses"]["ready->todo (parents open)"] == 1


def test_a_live_idempotency_key_stays_unique(conn, tmp_path):
    from kanban_tui.kernel import transitions
    transitions.create(conn, "here first", idempotency_key="k1", now=IMPORT_AT)
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    board.task("t_0000000a", "ready", idempotency_key="k1")
    board.close()
    report = _import(conn, board.path)
    assert queries.get_task(conn, "t_0000000a")["idempotency_key"] is None
    assert report["mapped"]["idempotency_keys"] == {"cleared (another live card has it)": 1}


def test_a_copy_of_the_hermes_folder_with_a_busy_name_still_imports(conn, hermes, tmp_path):
    board, ids = hermes
    spaced = tmp_path / "my hermes ?#"
    shutil.copytree(board.path.parent, spaced)
    assert _import(conn, spaced)["counts"]["tasks"] == 9
