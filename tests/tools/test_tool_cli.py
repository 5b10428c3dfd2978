"""`python -m kanban_tui tool ...` as a real subprocess: output, exit codes, --list."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kanban_tui import tools
from kanban_tui.kernel import queries, transitions


def run_tool(env_extra: dict, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "kanban_tui", "tool", *argv], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def worker(db_path, conn, profile="backend-dev", role="worker") -> tuple[str, dict]:
    task_id = transitions.create(conn, "work", assignee=profile)["task_id"]
    claimed = transitions.claim(conn, task_id, role=role)
    return task_id, {"KANBAN_DB": str(db_path), "KANBAN_TASK": task_id, "KANBAN_RUN_ID": str(claimed["run_id"]),
                     "KANBAN_CLAIM_LOCK": claimed["claim_lock"], "KANBAN_PROFILE": profile}


def test_a_successful_call_prints_the_result_and_exits_0(db_path, conn):
    task_id, env = worker(db_path, conn)
    done = run_tool(env, "kanban_heartbeat", '{"note": "halfway"}')
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["task_id"] == task_id
    assert queries.events(conn, task_id)[-1]["payload"] == {"note": "halfway"}


def test_no_arguments_means_an_empty_object(db_path, conn):
    task_id, env = worker(db_path, conn)
    shown = run_tool(env, "kanban_heartbeat")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["task_id"] == task_id


def test_arguments_can_come_from_stdin(db_path, conn):
    task_id, env = worker(db_path, conn)
    handoff = {"summary": "translated 4 pages", "metadata": {"duration_seconds": 720, "tokens_used": 2100}}
    done = run_tool(env, "kanban_complete", "-", stdin=json.dumps(handoff))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "task_id": task_id, "run_id": queries.runs(conn, task_id)[-1]["id"]}
    assert queries.runs(conn, task_id)[-1]["metadata"] == handoff["metadata"]


def test_a_refusal_prints_the_error_and_exits_1(db_path, conn):
    task_id, env = worker(db_path, conn)
    other = transitions.create(conn, "someone else's")["task_id"]
    refused = run_tool(env, "kanban_block", json.dumps({"task_id": other, "reason": "x"}))
    assert refused.returncode == 1
    assert json.loads(refused.stdout) == {
        "ok": False, "error": f"worker is scoped to task {task_id}; refusing to mutate {other}"}
    assert queries.get_task(conn, other)["status"] == "ready"


def test_schema_violations_exit_1(db_path, conn):
    _, env = worker(db_path, conn)
    answer = run_tool(env, "kanban_heartbeat", '{"mood": "fine"}')
    assert answer.returncode == 1
    assert "does not take mood" in json.loads(answer.stdout)["error"]


@pytest.mark.parametrize("text", ['{"note": ', "[1, 2]", '"just a string"'])
def test_malformed_json_exits_2(db_path, conn, text):
    task_id, env = worker(db_path, conn)
    answer = run_tool(env, "kanban_heartbeat", text)
    assert answer.returncode == 2
    assert json.loads(answer.stdout)["ok"] is False
    assert [event["kind"] for event in queries.events(conn, task_id)] == ["created", "claimed"]


def test_list_prints_the_schemas_this_caller_may_use(db_path, conn):
    _, env = worker(db_path, conn)
    as_worker = run_tool(env, "--list")
    assert as_worker.returncode == 0
    assert [schema["name"] for schema in json.loads(as_worker.stdout)] == list(tools.WORKER_TOOLS)
    declared = run_tool({**env, "KANBAN_ROLE": "orchestrator"}, "--list")  # the run's role decides
    assert [schema["name"] for schema in json.loads(declared.stdout)] == list(tools.WORKER_TOOLS)
    _, env = worker(db_path, conn, profile="techlead", role="orchestrator")
    as_orchestrator = run_tool(env, "--list")
    assert json.loads(as_orchestrator.stdout) == list(tools.SCHEMAS.values())


def test_a_missing_tool_name_is_a_usage_error(db_path):
    answer = run_tool({"KANBAN_DB": str(db_path)})
    assert answer.returncode == 2
    assert "tool" in answer.stderr


def test_the_heartbeat_path_imports_nothing_heavy(db_path, conn, tmp_path):
    _, env = worker(db_path, conn)
    probe = ("import sys; from kanban_tui.cli import main; status = main(['tool', 'kanban_heartbeat']); "
             "heavy = sorted({name.split('.')[0] for name in sys.modules} & "
             "{'mcp', 'yaml', 'textual', 'psutil', 'anyio', 'pydantic', 'rich'}); "
             "print(status, heavy, file=sys.stderr)")
    clean = {key: value for key, value in os.environ.items() if not key.startswith("KANBAN_")}
    done = subprocess.run([sys.executable, "-c", probe], env={**clean, **env, "KANBAN_TUI_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.stderr.strip() == "0 []"


def test_a_worker_cannot_borrow_another_cards_run_id(db_path, conn):
    theirs, their_env = worker(db_path, conn)
    mine, my_env = worker(db_path, conn)
    shown = json.loads(run_tool(my_env, "kanban_show", json.dumps({"task_id": theirs})).stdout)
    assert their_env["KANBAN_CLAIM_LOCK"] not in json.dumps(shown)
    before = (queries.get_task(conn, theirs), queries.events(conn, theirs))
    borrowed = {**my_env, "KANBAN_TASK": theirs, "KANBAN_RUN_ID": str(shown["task"]["current_run_id"])}
    for env in (borrowed, {key: value for key, value in borrowed.items() if key != "KANBAN_CLAIM_LOCK"}):
        answer = run_tool(env, "kanban_complete", '{"summary": "not mine"}')
        assert answer.returncode == 1 and "KANBAN_CLAIM_LOCK" in json.loads(answer.stdout)["error"]
    assert (queries.get_task(conn, theirs), queries.events(conn, theirs)) == before


def test_kanban_profile_set_by_hand_does_not_change_the_author(db_path, conn):
    task_id, env = worker(db_path, conn, profile="backend-dev")
    answer = run_tool({**env, "KANBAN_PROFILE": "ceo"}, "kanban_comment", '{"body": "approved"}')
    assert answer.returncode == 0, answer.stdout
    assert [c["author"] for c in queries.comments(conn, task_id)] == ["backend-dev"]
