"""kanban_tui.tools: every tool, its result shape, worker scoping and argument checking."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from kanban_tui import tools
from kanban_tui.errors import KanbanError
from kanban_tui.kernel import db, queries, transitions

WORKER_SET = ["kanban_show", "kanban_complete", "kanban_block", "kanban_heartbeat", "kanban_comment",
              "kanban_create", "kanban_link"]


def running(conn, title="work", assignee="backend-dev", role="worker", **create_args) -> tuple[str, int]:
    task_id = transitions.create(conn, title, assignee=assignee, **create_args)["task_id"]
    return task_id, transitions.claim(conn, task_id, role=role)["run_id"]


def claim_lock(db_path, run_id) -> str | None:
    """The secret the dispatcher would hand the run's worker in KANBAN_CLAIM_LOCK."""
    if not isinstance(run_id, int):
        return None
    try:
        with closing(db.connect(db_path, migrate=False)) as conn:
            row = conn.execute("SELECT claim_lock FROM task_runs WHERE id = ?", (run_id,)).fetchone()
    except (sqlite3.Error, KanbanError):  # no board yet
        return None
    return row[0] if row else None


def worker_env(db_path, task_id, run_id, profile="backend-dev", **extra) -> dict:
    """A dispatcher's worker environment (the claim lock included when the run exists)."""
    env = {"KANBAN_DB": str(db_path), "KANBAN_TASK": task_id, "KANBAN_RUN_ID": str(run_id),
           "KANBAN_PROFILE": profile, **extra}
    lock = claim_lock(db_path, run_id)
    if lock:
        env["KANBAN_CLAIM_LOCK"] = lock
    return env


def operator_env(db_path) -> dict:
    return {"KANBAN_DB": str(db_path)}


def task(conn, task_id) -> dict:
    return queries.get_task(conn, task_id)


def kinds(conn, task_id) -> list[str]:
    return [event["kind"] for event in queries.events(conn, task_id)]


# ---------------------------------------------------------------- roles and schemas

def test_a_worker_gets_seven_tools(db_path):
    assert tools.available_tools(worker_env(db_path, "t_00000001", 1)) == WORKER_SET


def test_an_orchestrator_worker_and_a_person_get_all_nine(conn, db_path):
    nine = list(tools.SCHEMAS)
    assert len(nine) == 9
    task_id, run_id = running(conn, assignee="techlead", role="orchestrator")
    assert tools.available_tools(worker_env(db_path, task_id, run_id, profile="techlead")) == nine
    assert tools.available_tools(operator_env(db_path)) == nine
    assert tools.available_tools({"KANBAN_TASK": ""}) == nine


def test_schemas_are_complete_json_schemas():
    assert set(tools.SCHEMAS) == set(tools.HANDLERS)
    for name, schema in tools.SCHEMAS.items():
        assert schema["name"] == name
        assert len(schema["description"]) > 80
        input_schema = schema["input_schema"]
        assert input_schema["type"] == "object"
        assert set(input_schema["required"]) <= set(input_schema["properties"])
        for spec in input_schema["properties"].values():
            assert spec["type"] in ("string", "integer", "boolean", "array", "object")
            assert spec["description"]


def test_a_worker_is_refused_the_orchestrator_tools(conn, db_path):
    task_id, run_id = running(conn)
    blocked = transitions.create(conn, "other")["task_id"]
    transitions.block(conn, blocked, reason="x")
    env = worker_env(db_path, task_id, run_id)
    listed = tools.call("kanban_list", {}, env=env)
    assert listed["ok"] is False and "orchestrators" in listed["error"]
    unblocked = tools.call("kanban_unblock", {"task_id": blocked}, env=env)
    assert unblocked["ok"] is False
    assert task(conn, blocked)["status"] == "blocked"


# ---------------------------------------------------------------- each tool

def test_show_defaults_to_the_own_task_with_every_section(conn, db_path):
    parent = transitions.create(conn, "design schema")["task_id"]
    transitions.complete(conn, parent, summary="users table designed")
    task_id, run_id = running(conn, "implement", parents=[parent])
    child = transitions.create(conn, "test it", parents=[task_id])["task_id"]
    transitions.comment(conn, task_id, "remember the index", author="pm")

    shown = tools.call("kanban_show", None, env=worker_env(db_path, task_id, run_id))

    assert set(shown) == {"ok", "task", "parents", "children", "comments", "runs", "events", "worker_context"}
    assert shown["ok"] is True
    assert shown["task"]["id"] == task_id
    assert [p["id"] for p in shown["parents"]] == [parent]
    assert [c["id"] for c in shown["children"]] == [child]
    assert [c["body"] for c in shown["comments"]] == ["remember the index"]
    assert [r["id"] for r in shown["runs"]] == [run_id]
    assert shown["worker_context"].startswith(f"# Kanban task {task_id}: implement")
    assert "users table designed" in shown["worker_context"]


def test_show_keeps_the_newest_fifty_events(conn, db_path):
    task_id, run_id = running(conn)
    for beat in range(60):
        transitions.heartbeat(conn, task_id, note=f"beat {beat}")
    shown = tools.call("kanban_show", {"task_id": task_id}, env=operator_env(db_path))
    assert len(shown["events"]) == 50
    assert shown["events"][-1]["payload"] == {"note": "beat 59"}


def test_heartbeat_extends_the_lease_and_records_the_note(conn, db_path):
    task_id, run_id = running(conn)
    before = task(conn, task_id)["claim_expires"]
    beat = tools.call("kanban_heartbeat", {"note": "schema drafted"}, env=worker_env(db_path, task_id, run_id))
    assert beat["ok"] is True and beat["task_id"] == task_id and beat["run_id"] == run_id
    assert task(conn, task_id)["claim_expires"] >= before
    assert queries.events(conn, task_id)[-1]["payload"] == {"note": "schema drafted"}


def test_complete_hands_off_and_promotes_children(conn, db_path):
    task_id, run_id = running(conn)
    child = transitions.create(conn, "next", parents=[task_id])["task_id"]
    metadata = {"changed_files": ["migrations/001_users.sql"], "decisions": ["bcrypt"]}

    done = tools.call("kanban_complete", {"summary": "users table", "metadata": metadata},
                      env=worker_env(db_path, task_id, run_id))

    assert done == {"ok": True, "task_id": task_id, "run_id": run_id}
    assert task(conn, task_id)["status"] == "done"
    run = queries.runs(conn, task_id)[-1]
    assert (run["outcome"], run["summary"], run["metadata"]) == ("completed", "users table", metadata)
    assert task(conn, child)["status"] == "ready"


def test_complete_needs_a_summary_or_a_result(conn, db_path):
    task_id, run_id = running(conn)
    refused = tools.call("kanban_complete", {"summary": "  ", "metadata": {"a": 1}},
                         env=worker_env(db_path, task_id, run_id))
    assert refused["ok"] is False and "summary" in refused["error"]
    assert task(conn, task_id)["status"] == "running"
    with_result = tools.call("kanban_complete", {"result": "42"}, env=worker_env(db_path, task_id, run_id))
    assert with_result["ok"] is True
    assert task(conn, task_id)["result"] == "42"


def test_complete_flags_unknown_ids_in_the_handoff(conn, db_path):
    task_id, run_id = running(conn)
    done = tools.call("kanban_complete", {"summary": "see t_0badf00d for the rest"},
                      env=worker_env(db_path, task_id, run_id))
    assert done["ok"] is True
    assert queries.events(conn, task_id)[-1]["kind"] == "suspected_hallucinated_references"
    assert queries.events(conn, task_id)[-1]["payload"] == {"phantom_refs": ["t_0badf00d"]}


def test_block_ends_the_run_with_the_reason(conn, db_path):
    task_id, run_id = running(conn)
    reason = "Need STAGING_DATABASE_URL: unset in this profile's env"
    blocked = tools.call("kanban_block", {"reason": reason}, env=worker_env(db_path, task_id, run_id))
    assert blocked == {"ok": True, "task_id": task_id, "run_id": run_id}
    assert task(conn, task_id)["status"] == "blocked"
    run = queries.runs(conn, task_id)[-1]
    assert (run["outcome"], run["summary"]) == ("blocked", reason)
    comment = queries.comments(conn, task_id)[-1]
    assert (comment["author"], comment["body"]) == ("backend-dev", f"BLOCKED: {reason}")


def test_block_needs_a_real_reason(conn, db_path):
    task_id, run_id = running(conn)
    env = worker_env(db_path, task_id, run_id)
    assert tools.call("kanban_block", {}, env=env) == {"ok": False, "error": "kanban_block needs reason"}
    assert tools.call("kanban_block", {"reason": "   "}, env=env)["ok"] is False
    assert task(conn, task_id)["status"] == "running"


def test_comment_is_signed_with_the_workers_profile(conn, db_path):
    task_id, run_id = running(conn)
    other = transitions.create(conn, "a parent")["task_id"]
    env = worker_env(db_path, task_id, run_id, profile="Backend-Dev")
    own = tools.call("kanban_comment", {"body": "halfway"}, env=env)
    assert set(own) == {"ok", "task_id", "comment_id"} and own["task_id"] == task_id
    elsewhere = tools.call("kanban_comment", {"task_id": other, "body": "which index?"}, env=env)
    assert elsewhere["ok"] is True and elsewhere["task_id"] == other
    assert queries.comments(conn, other)[0]["author"] == "backend-dev"
    assert tools.call("kanban_comment", {"body": ""}, env=env)["ok"] is False


def test_create_signs_the_card_and_inherits_the_tenant(conn, db_path):
    task_id, run_id = running(conn)
    env = worker_env(db_path, task_id, run_id, KANBAN_TENANT="auth-project")
    created = tools.call("kanban_create", {"title": "Write auth integration tests", "assignee": "QA-dev",
                                           "parents": [task_id[:6]], "priority": 2, "skills": ["pytest"],
                                           "max_runtime_seconds": 600},
                         env=env)
    assert set(created) == {"ok", "task_id", "status"} and created["status"] == "todo"
    card = task(conn, created["task_id"])
    assert (card["created_by"], card["tenant"], card["assignee"]) == ("backend-dev", "auth-project", "qa-dev")
    assert (card["parents"], card["priority"], card["skills"]) == ([task_id], 2, ["pytest"])
    assert card["max_runtime_seconds"] == 600


def test_create_with_an_idempotency_key_returns_the_existing_card(conn, db_path):
    env = operator_env(db_path)
    args = {"title": "Translate homepage to Spanish", "assignee": "translator", "idempotency_key": "t_x:es"}
    first = tools.call("kanban_create", args, env=env)
    second = tools.call("kanban_create", args, env=env)
    assert first == second == {"ok": True, "task_id": first["task_id"], "status": "ready"}
    assert len(queries.list_tasks(conn)) == 1


def test_create_workspaces_and_triage(conn, db_path, tmp_path):
    env = operator_env(db_path)
    in_dir = tools.call("kanban_create", {"title": "in a dir", "assignee": "dev", "workspace_kind": "dir",
                                          "workspace_path": str(tmp_path)}, env=env)
    card = task(conn, in_dir["task_id"])
    assert (card["workspace_kind"], card["workspace_path"]) == ("dir", str(tmp_path))
    idea = tools.call("kanban_create", {"title": "an idea", "assignee": "none", "triage": True}, env=env)
    assert idea["status"] == "triage" and task(conn, idea["task_id"])["assignee"] is None
    no_path = tools.call("kanban_create", {"title": "x", "assignee": "dev", "workspace_kind": "worktree"}, env=env)
    assert no_path["ok"] is False and "workspace_path" in no_path["error"]
    relative = tools.call("kanban_create", {"title": "x", "assignee": "dev", "workspace_kind": "dir",
                                            "workspace_path": "rel"}, env=env)
    assert relative["ok"] is False and "absolute" in relative["error"]
    assert len(queries.list_tasks(conn)) == 2


def test_link_makes_a_ready_child_wait_and_refuses_cycles(conn, db_path):
    env = operator_env(db_path)
    parent = transitions.create(conn, "parent")["task_id"]
    child = transitions.create(conn, "child")["task_id"]
    linked = tools.call("kanban_link", {"parent_id": parent, "child_id": child}, env=env)
    assert linked == {"ok": True, "parent_id": parent, "child_id": child, "child_status": "todo"}
    cycle = tools.call("kanban_link", {"parent_id": child, "child_id": parent}, env=env)
    assert cycle["ok"] is False and "cycle" in cycle["error"]
    itself = tools.call("kanban_link", {"parent_id": parent, "child_id": parent}, env=env)
    assert itself["ok"] is False


def test_list_filters_limits_and_says_when_it_truncated(conn, db_path):
    env = operator_env(db_path)
    for number in range(5):
        transitions.create(conn, f"translate {number}", assignee="translator", tenant="content-ops",
                           body="long brief")
    transitions.create(conn, "elsewhere", assignee="copywriter")
    listed = tools.call("kanban_list", {"assignee": "translator", "limit": 3}, env=env)
    assert set(listed) == {"ok", "tasks", "count", "limit", "truncated"}
    assert (listed["count"], listed["limit"], listed["truncated"]) == (3, 3, True)
    assert all("body" not in card and card["assignee"] == "translator" for card in listed["tasks"])
    everything = tools.call("kanban_list", {"tenant": "content-ops"}, env=env)
    assert (everything["count"], everything["limit"], everything["truncated"]) == (5, 50, False)
    assert tools.call("kanban_list", {"limit": 1000}, env=env)["limit"] == 200
    assert tools.call("kanban_list", {"limit": 0}, env=env)["ok"] is False
    assert tools.call("kanban_list", {"status": "doing"}, env=env)["ok"] is False


def test_unblock_releases_a_blocked_task(conn, db_path):
    blocked = transitions.create(conn, "deploy")["task_id"]
    transitions.block(conn, blocked, reason="creds")
    released = tools.call("kanban_unblock", {"task_id": blocked}, env=operator_env(db_path))
    assert released == {"ok": True, "task_id": blocked, "status": "ready"}
    again = tools.call("kanban_unblock", {"task_id": blocked}, env=operator_env(db_path))
    assert again["ok"] is False and "ready" in again["error"]


# ---------------------------------------------------------------- scoping

@pytest.mark.parametrize("name, args", [
    ("kanban_complete", {"summary": "done"}),
    ("kanban_block", {"reason": "need input"}),
    ("kanban_heartbeat", {"note": "alive"}),
])
def test_a_worker_cannot_touch_another_tasks_lifecycle(conn, db_path, name, args):
    mine, my_run = running(conn, "mine")
    theirs, _ = running(conn, "theirs")
    before = (task(conn, theirs), queries.runs(conn, theirs), kinds(conn, theirs))

    refused = tools.call(name, {**args, "task_id": theirs}, env=worker_env(db_path, mine, my_run))

    assert refused == {"ok": False, "error": f"worker is scoped to task {mine}; refusing to mutate {theirs}"}
    assert (task(conn, theirs), queries.runs(conn, theirs), kinds(conn, theirs)) == before


def test_an_orchestrator_worker_is_still_scoped_for_its_lifecycle(conn, db_path):
    mine, my_run = running(conn, "plan", assignee="techlead", role="orchestrator")
    theirs, _ = running(conn, "theirs")
    env = worker_env(db_path, mine, my_run, profile="techlead")
    assert tools.call("kanban_complete", {"task_id": theirs, "summary": "x"}, env=env)["ok"] is False
    assert task(conn, theirs)["status"] == "running"


# ---------------------------------------------------------------- identity is proven, not declared

def test_kanban_role_set_by_hand_grants_nothing(conn, db_path):
    mine, my_run = running(conn, "mine")
    blocked = transitions.create(conn, "stuck")["task_id"]
    transitions.block(conn, blocked, reason="creds")
    env = worker_env(db_path, mine, my_run, KANBAN_ROLE="orchestrator")
    assert tools.available_tools(env) == WORKER_SET
    refused = tools.call("kanban_unblock", {"task_id": blocked}, env=env)
    assert refused["ok"] is False and "for orchestrators" in refused["error"]
    assert task(conn, blocked)["status"] == "blocked"


def test_kanban_profile_does_not_change_who_signs(conn, db_path):
    task_id, run_id = running(conn, assignee="backend-dev")
    env = worker_env(db_path, task_id, run_id, profile="ceo")
    assert tools.call("kanban_comment", {"body": "ship it"}, env=env)["ok"] is True
    card = tools.call("kanban_create", {"title": "by whom?", "assignee": "qa"}, env=env)
    assert queries.comments(conn, task_id)[0]["author"] == "backend-dev"
    assert task(conn, card["task_id"])["created_by"] == "backend-dev"


def test_another_cards_run_id_from_kanban_show_does_not_make_a_worker_of_it(conn, db_path):
    mine, my_run = running(conn, "mine")
    theirs, _ = running(conn, "theirs")
    me = worker_env(db_path, mine, my_run)
    shown = tools.call("kanban_show", {"task_id": theirs}, env=me)
    their_run = shown["task"]["current_run_id"]
    assert claim_lock(db_path, their_run) not in json.dumps(shown)
    before = (task(conn, theirs), queries.runs(conn, theirs), kinds(conn, theirs))
    for lock in (None, me["KANBAN_CLAIM_LOCK"], "0" * 32):
        impostor = {**me, "KANBAN_TASK": theirs, "KANBAN_RUN_ID": str(their_run)}
        impostor.pop("KANBAN_CLAIM_LOCK")
        if lock is not None:
            impostor["KANBAN_CLAIM_LOCK"] = lock
        for name, args in (("kanban_complete", {"summary": "mine now"}), ("kanban_block", {"reason": "x"}),
                           ("kanban_heartbeat", {}), ("kanban_comment", {"body": "as them"})):
            answer = tools.call(name, args, env=impostor)
            assert answer["ok"] is False and "lock" in answer["error"].lower(), answer
    assert (task(conn, theirs), queries.runs(conn, theirs), kinds(conn, theirs)) == before


def test_the_kernel_refuses_a_stale_run(conn, db_path):
    task_id, old_run = running(conn)
    transitions.reclaim(conn, task_id)
    new_run = transitions.claim(conn, task_id)["run_id"]

    refused = tools.call("kanban_complete", {"summary": "late"}, env=worker_env(db_path, task_id, old_run))

    assert refused["ok"] is False and f"run {old_run} is not its open run" in refused["error"]
    assert task(conn, task_id)["status"] == "running"
    assert task(conn, task_id)["current_run_id"] == new_run


def test_phantom_created_cards_refuse_the_completion(conn, db_path):
    task_id, run_id = running(conn)
    env = worker_env(db_path, task_id, run_id)
    mine = tools.call("kanban_create", {"title": "follow-up", "assignee": "qa"}, env=env)["task_id"]
    someone_elses = transitions.create(conn, "not yours", created_by="pm")["task_id"]
    before_task, before_runs = task(conn, task_id), queries.runs(conn, task_id)

    refused = tools.call("kanban_complete", {"summary": "done", "created_cards": [mine, "t_deadbeef", someone_elses]},
                         env=env)

    assert refused["ok"] is False
    assert "t_deadbeef" in refused["error"] and "still in flight" in refused["error"]
    assert "Retry kanban_complete" in refused["error"]
    assert (task(conn, task_id), queries.runs(conn, task_id)) == (before_task, before_runs)
    warning = queries.events(conn, task_id)[-1]
    assert warning["kind"] == "completion_blocked_hallucination"
    assert warning["payload"] == {"phantom_cards": ["t_deadbeef", someone_elses], "verified_cards": [mine]}

    retried = tools.call("kanban_complete", {"summary": "done", "created_cards": [mine]}, env=env)
    assert retried == {"ok": True, "task_id": task_id, "run_id": run_id}


# ---------------------------------------------------------------- bad input never raises

@pytest.mark.parametrize("name, args, fragment", [
    ("kanban_heartbeat", ["note"], "takes a JSON object"),
    ("kanban_heartbeat", {"note": "x", "mood": "good"}, "does not take mood"),
    ("kanban_create", {"title": "x"}, "needs assignee"),
    ("kanban_create", {"title": "x", "assignee": "dev", "priority": "3"}, "priority must be an integer"),
    ("kanban_create", {"title": "x", "assignee": "dev", "priority": True}, "priority must be an integer"),
    ("kanban_create", {"title": "x", "assignee": "dev", "parents": "t_00000001"}, "parents must be a list"),
    ("kanban_create", {"title": "x", "assignee": "dev", "parents": [1]}, "list of strings"),
    ("kanban_create", {"title": "x", "assignee": "dev", "workspace_kind": "tmp"}, "must be one of"),
    ("kanban_create", {"title": " ", "assignee": "dev"}, "title must not be empty"),
    ("kanban_complete", {"summary": "x", "metadata": "{\"a\": 1}"}, "metadata must be a JSON object"),
    ("kanban_show", {"task_id": "t_12"}, "too short"),
    ("kanban_show", {"task_id": "t_ffffffff"}, "no task t_ffffffff"),
    ("kanban_show", {}, "task_id is required"),
    ("kanban_nonsense", {}, "unknown tool"),
])
def test_bad_arguments_are_answered_not_raised(conn, db_path, name, args, fragment):
    answer = tools.call(name, args, env=operator_env(db_path))
    assert answer["ok"] is False
    assert fragment in answer["error"]
    assert queries.list_tasks(conn) == []


def test_a_bad_run_id_in_the_environment_is_reported(conn, db_path):
    task_id, _ = running(conn)
    answer = tools.call("kanban_heartbeat", {}, env=worker_env(db_path, task_id, "abc"))
    assert answer == {"ok": False, "error": "KANBAN_RUN_ID must be an integer, got 'abc'"}


def test_an_unusable_database_is_reported(tmp_path):
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello")
    answer = tools.call("kanban_list", {}, env={"KANBAN_DB": str(not_a_db)})
    assert answer["ok"] is False and "not an SQLite database" in answer["error"]


def test_the_database_is_found_from_the_home(tmp_path):
    home = tmp_path / "board"
    created = tools.call("kanban_create", {"title": "x", "assignee": "dev"}, env={"KANBAN_TUI_HOME": str(home)})
    assert created["ok"] is True
    assert (home / "kanban.db").is_file()
    assert tools.database_path({"KANBAN_DB": str(tmp_path / "pinned.db"), "KANBAN_TUI_HOME": str(home)}) \
        == tmp_path / "pinned.db"
