"""Bad input at the tools door (`tools.call`, as the MCP server and `kanban-tui tool` use it):
`{"ok": false, "error": ...}` naming the problem, never an exception, and the board unchanged."""

from __future__ import annotations

import json
import subprocess

import pytest
from doors_support import KANBAN_TUI

from kanban_tui import tools


def deep_dict(levels: int) -> dict:
    """{"a": {"a": ...}} built without recursion, as a JSON parser upstream would hand it over."""
    root: dict = {}
    node = root
    for _ in range(levels - 1):
        node["a"] = {}
        node = node["a"]
    return root


BIG = 10**30
CREATE = {"title": "x", "assignee": "dev"}

# (tool, arguments, a fragment of the error); READY/RUNNING in task ids are the seeded cards
CASES = [
    # integers beyond 64-bit or meaningless
    ("kanban_create", {**CREATE, "priority": BIG}, "priority must be from"),
    ("kanban_create", {**CREATE, "priority": 2**63}, "priority must be from"),
    ("kanban_create", {**CREATE, "priority": -(2**63) - 1}, "priority must be from"),
    ("kanban_create", {**CREATE, "priority": 1.5}, "priority must be an integer"),
    ("kanban_create", {**CREATE, "priority": True}, "priority must be an integer"),
    ("kanban_create", {**CREATE, "priority": "3"}, "priority must be an integer"),
    ("kanban_create", {**CREATE, "max_runtime_seconds": BIG}, "the limit is 3650d"),
    ("kanban_create", {**CREATE, "max_runtime_seconds": -1}, "must be positive"),
    ("kanban_create", {**CREATE, "max_runtime_seconds": 0}, "must be positive"),
    ("kanban_list", {"limit": BIG}, "limit must be from"),
    ("kanban_list", {"limit": 0}, "limit must be at least 1"),
    # text that cannot be stored
    ("kanban_create", {**CREATE, "title": "x\ud800"}, "title is not valid UTF-8"),
    ("kanban_create", {**CREATE, "title": "x\x00y"}, "title contains a NUL byte"),
    ("kanban_create", {**CREATE, "body": "\udcff"}, "body is not valid UTF-8"),
    ("kanban_create", {**CREATE, "skills": ["ok", "\x00"]}, "skills contains a NUL byte"),
    ("kanban_create", {**CREATE, "workspace_kind": "dir", "workspace_path": "/tmp/\ud800"}, "not valid UTF-8"),
    ("kanban_comment", {"task_id": "READY", "body": "\ud800"}, "body is not valid UTF-8"),
    ("kanban_comment", {"task_id": "READY", "body": "a\x00"}, "body contains a NUL byte"),
    ("kanban_block", {"task_id": "READY", "reason": "why \udfff"}, "reason is not valid UTF-8"),
    ("kanban_heartbeat", {"task_id": "RUNNING", "note": "\ud800"}, "note is not valid UTF-8"),
    ("kanban_complete", {"task_id": "READY", "summary": "\x00"}, "summary contains a NUL byte"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "result": "\ud800"}, "result is not valid UTF-8"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": {"k": "\ud800"}}, "not valid UTF-8"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": {"\ud800": 1}}, "not valid UTF-8"),
    # JSON that cannot be stored
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": deep_dict(60_000)}, "nested too deeply"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": deep_dict(33)}, "the limit is 32"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": {"a": float("nan")}}, "not a JSON number"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": {"a": float("inf")}}, "not a JSON number"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": {"a": {1, 2}}}, "not a JSON value"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": {1: "a"}}, "keys must be text"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": {"a": "x" * 1_000_001}}, "the limit is"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "metadata": [1]}, "must be a JSON object"),
    # empty names where a name is required
    ("kanban_create", {**CREATE, "assignee": ""}, "assignee must not be empty"),
    ("kanban_create", {**CREATE, "assignee": "  "}, "assignee must not be empty"),
    ("kanban_create", {**CREATE, "assignee": "a\nb"}, "control characters"),
    ("kanban_create", {**CREATE, "tenant": ""}, "tenant must not be empty"),
    ("kanban_create", {**CREATE, "idempotency_key": ""}, "idempotency_key must not be empty"),
    ("kanban_list", {"assignee": ""}, "assignee must not be empty"),
    # ids
    ("kanban_show", {"task_id": "zzzz"}, "is not a task id"),
    ("kanban_show", {"task_id": "t_\ud800abc"}, "not valid UTF-8"),
    ("kanban_link", {"parent_id": "READY", "child_id": "t_123456789"}, "is not a task id"),
    ("kanban_create", {**CREATE, "parents": ["nope"]}, "is not a task id"),
    ("kanban_complete", {"task_id": "READY", "summary": "s", "created_cards": ["t_\x00"]}, "NUL byte"),
    ("kanban_unblock", {"task_id": "t_abcd1234"}, "no task t_abcd1234"),
    # shapes
    ("kanban_create", [1, 2], "takes a JSON object of arguments"),
    ("kanban_create", {**CREATE, "bogus": 1}, "does not take bogus"),
    ("kanban_comment", {"task_id": "READY", "body": 5}, "body must be a string"),
    ("kanban_create", {**CREATE, "parents": "t_abcd"}, "parents must be a list"),
    ("kanban_create", {**CREATE, "parents": [1]}, "must be a list of strings"),
    ("kanban_nope", {}, "unknown tool"),
]


def resolve(seeded, value):
    if isinstance(value, dict):
        names = {"READY": seeded.ready, "RUNNING": seeded.running}
        return {key: names.get(item, item) if isinstance(item, str) else item for key, item in value.items()}
    return value


@pytest.mark.parametrize("name, args, fragment", CASES, ids=[f"{n}-{i}" for i, (n, *_) in enumerate(CASES)])
def test_bad_arguments_get_an_error_result_and_change_nothing(seeded, name, args, fragment):
    before = seeded.digest()
    result = tools.call(name, resolve(seeded, args), env={"KANBAN_DB": str(seeded.home.db)})
    assert result["ok"] is False and fragment in result["error"], result
    assert "\n" not in result["error"]
    assert seeded.digest() == before


def test_a_worker_gets_the_same_answers(seeded):
    env = {"KANBAN_DB": str(seeded.home.db), "KANBAN_TASK": seeded.running,
           "KANBAN_RUN_ID": str(seeded.run_id), "KANBAN_PROFILE": "dev"}
    before = seeded.digest()
    for name, args in (("kanban_complete", {"summary": "s", "metadata": deep_dict(60_000)}),
                       ("kanban_block", {"reason": "\ud800"}),
                       ("kanban_heartbeat", {"note": "a\x00"})):
        result = tools.call(name, args, env=env)
        assert result["ok"] is False, result
    assert seeded.digest() == before


@pytest.mark.parametrize("run_id, fragment", [("9" * 5000, "a 5000-digit number"), (str(2**63), "must be from 1"),
                                              ("-1", "must be from 1"), ("1.0", "must be an integer")])
def test_a_worker_run_id_that_is_no_run_number_is_refused(seeded, run_id, fragment):
    env = {"KANBAN_DB": str(seeded.home.db), "KANBAN_TASK": seeded.running, "KANBAN_RUN_ID": run_id}
    before = seeded.digest()
    result = tools.call("kanban_heartbeat", {}, env=env)
    assert result["ok"] is False and fragment in result["error"], result
    assert seeded.digest() == before


# `kanban-tui tool NAME JSON|-`: arguments that are not a storable JSON object are exit 2 with
# the error as JSON on stdout (agents read stdout); refusals exit 1.
PROCESS_CASES = [
    (["kanban_complete", '{"metadata": ' + "[" * 60_000 + "]" * 60_000 + "}"], None, 2, "nested too deeply"),
    (["kanban_complete", '{"summary": "s", "metadata": {"a": NaN}}'], None, 2, "NaN is not allowed"),
    (["kanban_complete", '{"summary": "s", "metadata": {"a": 1e999}}'], None, 2, "out of range"),
    (["kanban_comment", "-"], b'{"body": "\xff\xfe"}', 2, "not UTF-8 text"),
    (["kanban_comment", '{"task_id": "READY", "body": "\\ud800"}'], None, 2, "not valid UTF-8"),
    (["kanban_create", f'{{"title": "x", "assignee": "dev", "priority": {BIG}}}'], None, 1, "priority must be from"),
    (["kanban_create", '{"title": "x", "assignee": ""}'], None, 1, "assignee must not be empty"),
    (["kanban_create", "[1]"], None, 2, "must be a JSON object"),
]


@pytest.mark.parametrize("argv, stdin, code, fragment", PROCESS_CASES,
                         ids=[f"{a[0]}-{i}" for i, (a, *_) in enumerate(PROCESS_CASES)])
def test_the_tool_command_answers_bad_arguments(seeded, argv, stdin, code, fragment):
    argv = [arg.replace("READY", seeded.ready) for arg in argv]
    before = seeded.digest()
    done = subprocess.run([KANBAN_TUI, "--home", str(seeded.home.home), "tool", *argv], input=stdin or b"",
                          capture_output=True, timeout=60)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stderr == b"" and b"Traceback" not in done.stdout
    result = json.loads(done.stdout)
    assert result["ok"] is False and fragment in result["error"], result
    assert seeded.digest() == before
