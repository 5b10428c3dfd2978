"""The read side on real SQLite files: rows inserted by factories, a fixed clock."""

from __future__ import annotations

import pytest
from factories import (
    NOW, add_comment, add_event, add_subscription, make_run, make_task,
)

from kanban_tui.errors import NotFound, UsageError
from kanban_tui.kernel import queries
from kanban_tui.kernel.models import COLUMNS, STATUSES, TASK_FIELDS, event_dict


# ---------------------------------------------------------------- resolve_id

def test_resolve_id_accepts_full_ids_and_unique_prefixes(conn):
    make_task(conn, task_id="t_abcd1234")
    make_task(conn, task_id="t_abce0000")
    assert queries.resolve_id(conn, "t_abcd1234") == "t_abcd1234"
    assert queries.resolve_id(conn, "t_abcd") == "t_abcd1234"
    assert queries.resolve_id(conn, "abcd") == "t_abcd1234"
    assert queries.resolve_id(conn, " T_ABCE ") == "t_abce0000"


def test_resolve_id_refuses_short_prefixes_as_usage_errors(conn):
    with pytest.raises(UsageError) as info:
        queries.resolve_id(conn, "t_ab")
    assert str(info.value) == "id prefix 't_ab' is too short: give at least 4 characters after t_"


def test_resolve_id_names_unknown_and_ambiguous_ids(conn):
    make_task(conn, task_id="t_ab120001")
    make_task(conn, task_id="t_ab120002")
    with pytest.raises(NotFound, match=r"^no task t_ffff$"):
        queries.resolve_id(conn, "t_ffff")
    with pytest.raises(NotFound) as info:
        queries.resolve_id(conn, "ab12")
    assert str(info.value) == "ambiguous id prefix 't_ab12' matches t_ab120001, t_ab120002"


@pytest.mark.sqlite_only  # reads SQLite's query plan
def test_resolve_id_uses_the_primary_key_range(conn):
    plan = " ".join(row[3] for row in conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
        ("t_ab12", "t_ab12g")))
    assert "sqlite_autoindex_tasks_1 (id>? AND id<?)" in plan


# ---------------------------------------------------------------- tasks

def test_get_task_has_the_spec_shape_with_links(conn):
    parent = make_task(conn, status="done")
    task = make_task(conn, status="ready", parents=(parent,), skills=["python"], tenant="acme")
    child = make_task(conn, status="todo", parents=(task,))
    got = queries.get_task(conn, task)
    assert list(got) == list(TASK_FIELDS)
    assert (got["parents"], got["children"], got["skills"], got["tenant"]) == ([parent], [child], ["python"], "acme")
    with pytest.raises(NotFound, match="no task t_ffffffff"):
        queries.get_task(conn, "t_ffffffff")


def test_list_orders_by_column_then_priority_then_age(conn):
    done = make_task(conn, status="done")
    old_low = make_task(conn, status="ready", priority=0, created_at=NOW - 10)
    new_high = make_task(conn, status="ready", priority=5, created_at=NOW)
    old_high = make_task(conn, status="ready", priority=5, created_at=NOW - 5)
    triage = make_task(conn, status="triage")
    make_task(conn, status="archived")
    ids = [task["id"] for task in queries.list_tasks(conn)]
    assert ids == [triage, old_high, new_high, old_low, done]


def test_list_filters_archived_and_limit(conn):
    mine = make_task(conn, status="ready", assignee="dev", tenant="acme")
    make_task(conn, status="ready", assignee="ops", tenant="acme")
    archived = make_task(conn, status="archived", assignee="dev")
    make_task(conn, status="todo", assignee="dev", tenant="other")
    assert [t["id"] for t in queries.list_tasks(conn, assignee="dev", tenant="acme")] == [mine]
    assert archived not in [t["id"] for t in queries.list_tasks(conn, assignee="dev")]
    assert [t["id"] for t in queries.list_tasks(conn, assignee="dev", include_archived=True)][-1] == archived
    assert [t["id"] for t in queries.list_tasks(conn, status="archived")] == [archived]
    assert len(queries.list_tasks(conn, limit=2)) == 2
    assert queries.list_tasks(conn, limit=0) == []


def test_list_carries_parents_and_children_for_every_task(conn):
    parent = make_task(conn, status="running")
    children = [make_task(conn, status="todo", parents=(parent,)) for _ in range(3)]
    by_id = {task["id"]: task for task in queries.list_tasks(conn)}
    assert by_id[parent]["children"] == children
    assert all(by_id[child]["parents"] == [parent] for child in children)


def test_show_bundles_task_relations_comments_events_and_runs(conn):
    parent = make_task(conn, status="done", title="design", assignee="arch")
    task = make_task(conn, status="blocked", parents=(parent,))
    child = make_task(conn, status="todo", parents=(task,), title="follow-up")
    make_run(conn, task, outcome="blocked", summary="need creds")
    add_comment(conn, task, "first")
    for n in range(5):
        add_event(conn, task, "heartbeat", {"note": f"n{n}"}, created_at=NOW + n)
    shown = queries.show(conn, task, event_limit=3)
    assert shown["task"]["id"] == task
    assert shown["parents"] == [{"id": parent, "title": "design", "status": "done", "assignee": "arch"}]
    assert [c["id"] for c in shown["children"]] == [child]
    assert [c["body"] for c in shown["comments"]] == ["first"]
    assert [e["payload"]["note"] for e in shown["events"]] == ["n2", "n3", "n4"]
    assert [r["summary"] for r in shown["runs"]] == ["need creds"]
    assert len(queries.show(conn, task)["events"]) == 6


def test_runs_and_comments_come_oldest_first(conn):
    task = make_task(conn)
    make_run(conn, task, outcome="crashed", error="boom", metadata={"a": 1})
    make_run(conn, task, outcome="completed", summary="ok")
    assert [(r["outcome"], r["metadata"]) for r in queries.runs(conn, task)] == [("crashed", {"a": 1}), ("completed", None)]
    add_comment(conn, task, "one", author="alice")
    add_comment(conn, task, "two", author="bob")
    assert [(c["author"], c["body"]) for c in queries.comments(conn, task)] == [("alice", "one"), ("bob", "two")]


# ---------------------------------------------------------------- events

def test_events_match_the_models_shape_and_filter(conn):
    dev = make_task(conn, assignee="dev", tenant="acme")
    ops = make_task(conn, assignee="ops", tenant="beta")
    beat = add_event(conn, dev, "heartbeat", {"note": "hi"})
    add_event(conn, ops, "heartbeat", None)
    rows = conn.execute("SELECT * FROM task_events ORDER BY id").fetchall()
    assert queries.events(conn) == [event_dict(row) for row in rows]
    assert [e["id"] for e in queries.events(conn, dev, kinds=["heartbeat"])] == [beat]
    assert [e["task_id"] for e in queries.events(conn, kinds=["heartbeat"], tenant="beta")] == [ops]
    assert [e["task_id"] for e in queries.events(conn, after=beat)] == [ops]
    assert len(queries.events(conn, limit=1)) == 1
    assert [e["payload"] for e in queries.events(conn, assignee="ops", kinds=["heartbeat"])] == [None]


def test_watch_events_add_the_tasks_assignee(conn):
    task = make_task(conn, assignee="dev")
    board_event = add_event(conn, None, "heartbeat", {"note": "board"})
    watched = queries.watch_events(conn)
    assert [(e["task_id"], e["assignee"]) for e in watched] == [(task, "dev"), (None, None)]
    assert watched[-1]["id"] == board_event
    assert queries.watch_events(conn, assignee="dev", kinds=["created"])[0]["task_id"] == task


def test_events_since_follows_the_cursor(conn):
    assert queries.max_event_id(conn) == 0
    task = make_task(conn)
    ids = [add_event(conn, task, "heartbeat", {"note": n}) for n in range(10)]
    cursor = queries.max_event_id(conn)
    assert cursor == ids[-1]
    assert [e["id"] for e in queries.events_since(conn, ids[2], limit=3)] == ids[3:6]
    assert queries.events_since(conn, cursor) == []


# ---------------------------------------------------------------- board snapshot

def test_snapshot_counts_every_column_and_orders_cards(conn):
    low = make_task(conn, status="ready", priority=0)
    high = make_task(conn, status="ready", priority=9)
    late = make_task(conn, status="running", started_at=NOW + 50, created_at=NOW - 100)
    early = make_task(conn, status="running", started_at=NOW + 10)
    make_task(conn, status="archived")
    snap = queries.board_snapshot(conn, now=NOW)
    assert snap["counts"] == {"triage": 0, "todo": 0, "ready": 2, "running": 2, "blocked": 0, "done": 0}
    assert list(snap["columns"]) == list(COLUMNS)
    assert [c["id"] for c in snap["columns"]["ready"]] == [high, low]
    assert [c["id"] for c in snap["columns"]["running"]] == [early, late]
    assert snap["cursor"] == queries.max_event_id(conn)
    assert "body" not in snap["columns"]["ready"][0]


def test_snapshot_caps_cards_per_column_but_counts_them_all(conn):
    for _ in range(5):
        make_task(conn, status="done")
    snap = queries.board_snapshot(conn, per_column=2, now=NOW)
    assert snap["counts"]["done"] == 5
    assert len(snap["columns"]["done"]) == 2


def test_snapshot_cards_carry_progress_comments_and_latest_run(conn):
    parent = make_task(conn, status="todo")
    for status in ("done", "archived", "todo"):
        make_task(conn, status=status, parents=(parent,))
    add_comment(conn, parent, "a")
    add_comment(conn, parent, "b")
    make_run(conn, parent, outcome="crashed", error="boom")
    make_run(conn, parent, outcome="blocked", summary="needs a key")
    card = queries.board_snapshot(conn, now=NOW)["columns"]["todo"][0]
    assert (card["child_total"], card["child_done"], card["comment_count"]) == (3, 2, 2)
    assert (card["latest_outcome"], card["latest_summary"], card["gave_up"]) == ("blocked", "needs a key", False)
    assert card["warning"] is None


def test_snapshot_marks_gave_up_and_expired_claims(conn):
    stuck = make_task(conn, status="blocked")
    make_run(conn, stuck, outcome="gave_up", error="spawn failed 3 times")
    ghost = make_task(conn, status="running", claim_expires=NOW - 1)
    alive = make_task(conn, status="running", claim_expires=NOW + 60)
    snap = queries.board_snapshot(conn, now=NOW)
    assert snap["columns"]["blocked"][0]["gave_up"] is True
    expired = {card["id"]: card["claim_expired"] for card in snap["columns"]["running"]}
    assert expired == {ghost: True, alive: False}


@pytest.mark.parametrize("kinds, expected", [
    (["completed", "suspected_hallucinated_references"], "suspected_hallucinated_references"),
    (["completion_blocked_hallucination"], "completion_blocked_hallucination"),
    (["completion_blocked_hallucination", "completed"], None),
    (["completed"], None),
    (["completion_blocked_hallucination", "completed", "suspected_hallucinated_references"],
     "suspected_hallucinated_references"),
])
def test_snapshot_warning_is_the_newest_unresolved_hallucination(conn, kinds, expected):
    task = make_task(conn, status="done")
    for kind in kinds:
        add_event(conn, task, kind, {})
    assert queries.board_snapshot(conn, now=NOW)["columns"]["done"][0]["warning"] == expected


def test_snapshot_filters_apply_to_counts_and_cards(conn):
    make_task(conn, status="ready", tenant="acme", assignee="dev", title="Fix the LOGIN page")
    make_task(conn, status="ready", tenant="acme", assignee="ops", title="rotate keys", body="see 100% of hosts")
    make_task(conn, status="done", tenant="beta", assignee="dev", title="ship it")
    assert queries.board_snapshot(conn, tenant="acme", now=NOW)["counts"]["ready"] == 2
    assert queries.board_snapshot(conn, tenant="acme", now=NOW)["counts"]["done"] == 0
    by_dev = queries.board_snapshot(conn, assignee="dev", now=NOW)["counts"]
    assert (by_dev["ready"], by_dev["done"]) == (1, 1)
    found = queries.board_snapshot(conn, search="login", now=NOW)
    assert [c["title"] for c in found["columns"]["ready"]] == ["Fix the LOGIN page"]
    assert sum(found["counts"].values()) == 1
    assert sum(queries.board_snapshot(conn, search="100%", now=NOW)["counts"].values()) == 1
    assert sum(queries.board_snapshot(conn, search="0%_", now=NOW)["counts"].values()) == 0
    assert sum(queries.board_snapshot(conn, search="beta", now=NOW)["counts"].values()) == 1


def test_snapshot_of_an_empty_board(conn):
    snap = queries.board_snapshot(conn, now=NOW)
    assert snap == {"counts": dict.fromkeys(COLUMNS, 0), "columns": {s: [] for s in COLUMNS}, "cursor": 0}


def test_cards_refresh_just_the_given_tasks(conn):
    first = make_task(conn, status="ready", title="first")
    second = make_task(conn, status="done", title="second")
    add_comment(conn, second, "nice")
    got = queries.cards(conn, [second, "t_ffffffff", first, second], now=NOW)
    assert [(card["id"], card["comment_count"]) for card in got] == [(second, 1), (first, 0)]
    snapshot_card = queries.board_snapshot(conn, now=NOW)["columns"]["done"][0]
    assert got[0] == snapshot_card


# ---------------------------------------------------------------- stats and assignees

def test_stats_counts_by_status_and_assignee(conn):
    make_task(conn, status="ready", assignee="dev", updated_at=NOW - 300)
    make_task(conn, status="ready", updated_at=NOW - 100)
    make_task(conn, status="done", assignee="dev")
    make_task(conn, status="archived", assignee="ops")
    report = queries.stats(conn, now=NOW)
    assert report["by_status"] == {**dict.fromkeys(STATUSES, 0), "ready": 2, "done": 1, "archived": 1}
    assert list(report["by_assignee"]) == ["dev", "ops"]
    assert report["by_assignee"]["dev"] == {**dict.fromkeys(STATUSES, 0), "ready": 1, "done": 1}
    assert report["oldest_ready_age_seconds"] == 300
    assert queries.stats(conn, now=NOW)["by_assignee"]["ops"]["archived"] == 1


def test_stats_without_ready_work(conn):
    assert queries.stats(conn, now=NOW)["oldest_ready_age_seconds"] is None


def test_assignees_include_configured_profiles_without_tasks(conn):
    make_task(conn, status="running", assignee="dev")
    make_task(conn, status="done", assignee="ad-hoc")
    rows = queries.assignees(conn, [" Reviewer ", "dev"])
    assert [(r["name"], r["configured"]) for r in rows] == [("ad-hoc", False), ("dev", True), ("reviewer", True)]
    assert rows[1]["counts"]["running"] == 1
    assert rows[2]["counts"] == dict.fromkeys(STATUSES, 0)


def test_assignee_names_merge_board_and_config(conn):
    make_task(conn, assignee="dev")
    make_task(conn, assignee="dev")
    make_task(conn)
    assert queries.assignee_names(conn, ["Ops", "dev"]) == ["dev", "ops"]


# ---------------------------------------------------------------- attention

def test_attention_flags_each_kind_of_trouble_once(conn):
    phantom = make_task(conn, status="done", title="phantom")
    add_event(conn, phantom, "completed", {"summary": "see t_deadbeef"})
    add_event(conn, phantom, "suspected_hallucinated_references", {"phantom_refs": ["t_deadbeef"]})
    resolved = make_task(conn, status="done")
    add_event(conn, resolved, "completion_blocked_hallucination", {"phantom_cards": ["t_0badf00d"]})
    add_event(conn, resolved, "completed", {"summary": "ok"})
    gave_up = make_task(conn, status="blocked", consecutive_failures=3, last_failure_error="exit 1")
    make_run(conn, gave_up, outcome="gave_up", error="exit 1")
    ghost = make_task(conn, status="running", claim_expires=NOW - 120, worker_pid=4242)
    failing = make_task(conn, status="ready", consecutive_failures=2, last_failure_error="timeout",
                        updated_at=NOW)
    stranded = make_task(conn, status="ready", created_at=NOW - 7200)
    make_task(conn, status="ready", created_at=NOW - 7200, updated_at=NOW - 60)
    archived = make_task(conn, status="archived")
    add_event(conn, archived, "completion_blocked_hallucination", {"phantom_cards": ["t_00000000"]})

    flagged = queries.attention(conn, now=NOW, stale_ready_seconds=3600)
    assert [(item["task_id"], item["reason"]) for item in flagged] == [
        (phantom, "suspected_hallucinated_references"), (gave_up, "gave_up"),
        (ghost, "ghost_running"), (failing, "repeated_failures"), (stranded, "stranded_ready")]
    details = {item["reason"]: item["detail"] for item in flagged}
    assert "t_deadbeef" in details["suspected_hallucinated_references"]
    assert details["gave_up"] == "gave up after 3 failures: exit 1"
    assert details["ghost_running"] == "running, but its claim expired 2m ago (worker pid 4242)"
    assert details["repeated_failures"] == "2 consecutive failures; last: timeout"
    assert details["stranded_ready"] == "ready for 2h and nobody is assigned"
    assert flagged[0]["title"] == "phantom"


def test_attention_is_bounded(conn):
    for _ in range(5):
        make_task(conn, status="ready", consecutive_failures=2)
    assert len(queries.attention(conn, now=NOW, limit=3)) == 3


# ---------------------------------------------------------------- notify subscriptions

def test_notify_list_for_one_task_or_the_board(conn):
    first = make_task(conn)
    second = make_task(conn)
    add_subscription(conn, first, "telegram", "42", thread_id="7", user_id="u1")
    add_subscription(conn, second, "slack", "C1")
    assert queries.notify_list(conn, first) == [{
        "id": 1, "task_id": first, "platform": "telegram", "chat_id": "42", "thread_id": "7",
        "user_id": "u1", "created_at": NOW}]
    assert [s["task_id"] for s in queries.notify_list(conn)] == [first, second]

