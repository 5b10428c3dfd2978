"""Each preset through the real dispatcher, played by a fake of its CLI (tests/workers/fake_agents)
that reads the MCP registration the way the real CLI does and passes the server only the
environment the real CLI passes: the card ends done with the agent's summary."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from kanban_tui.presets import NAMES

pytestmark = pytest.mark.slow

FAKE_AGENTS = Path(__file__).parents[1] / "workers" / "fake_agents"
CLI_OF = {"claude-code": "claude", "codex": "codex", "gemini": "gemini", "opencode": "opencode",
          "goose": "goose", "hermes": "hermes"}


@pytest.fixture
def agents_on_path(monkeypatch):
    """The fakes first on PATH, then this interpreter's bin (their `#!/usr/bin/env python`)."""
    monkeypatch.setenv("PATH", os.pathsep.join([str(FAKE_AGENTS), str(Path(sys.executable).parent),
                                                os.environ["PATH"]]))


def preset_profile(preset: str, **env) -> dict:
    # the harness gives every profile the scripted worker's command: a preset profile has none
    return {"preset": preset, "command": None, "env": env}


def test_the_shell_preset_is_the_profile_command_with_the_worker_environment(board):
    board.configure({"bot": {"preset": "shell"}})  # the harness's scripted worker is the command
    task_id = board.create("Tidy the changelog", [{"do": "complete", "summary": "tidied"}], assignee="bot")
    board.start()
    board.wait_for(lambda: board.status(task_id) == "done", what="done")
    assert board.runs(task_id)[-1]["summary"] == "tidied"


@pytest.mark.parametrize("preset", [name for name in NAMES if name != "shell"])
def test_each_preset_completes_its_card_through_its_cli(board, agents_on_path, preset):
    board.configure({"agent": preset_profile(preset)})
    task_id = board.create("Fix the flaky login test", assignee="agent")
    board.start()
    board.wait_for(lambda: board.status(task_id) == "done", timeout=30, what=f"{preset} done")
    run = board.runs(task_id)[-1]
    cli = CLI_OF[preset]
    assert (run["outcome"], run["summary"], run["metadata"]) == (
        "completed", f"{cli} finished Fix the flaky login test", {"agent": cli})
    assert board.outcomes(task_id) == ["completed"]
    # the run folder goes once the run has ended
    board.wait_for(lambda: not (board.paths.home / "runs" / str(run["id"])).exists(), what="run folder removed")


def test_the_run_folder_holds_the_registration_while_the_run_is_open(board):
    board.configure({"agent": {"command": [sys.executable, "-c", "import time; time.sleep(60)"]}})
    task_id = board.create("Keep a folder", assignee="agent")
    board.start()
    board.wait_for(lambda: board.task(task_id)["worker_pid"], what="spawned")
    run_id = board.task(task_id)["current_run_id"]
    folder = board.paths.home / "runs" / str(run_id)
    server = json.loads((folder / "mcp.json").read_text())["mcpServers"]["kanban"]
    assert server["args"][-4:] == ["--task", task_id, "--run-id", str(run_id)]
    lock = board.conn.execute("SELECT claim_lock FROM task_runs WHERE id = ?", (run_id,)).fetchone()[0]
    assert server["env"]["KANBAN_CLAIM_LOCK"] == lock
    assert folder.stat().st_mode & 0o777 == 0o700


def test_claude_exiting_0_after_a_failed_turn_is_a_crash_with_its_error(board, agents_on_path):
    board.configure({"agent": preset_profile("claude-code", FAKE_AGENT_THEN="error")}, failure_limit=5)
    task_id = board.create("Overloaded", assignee="agent")
    board.start()
    board.wait_for(lambda: board.outcomes(task_id)[:1] == ["crashed"], timeout=30, what="crashed")
    run = board.runs(task_id)[0]
    assert run["error"] == "claude reported an error: API Error: 529 overloaded"


def test_an_agent_exiting_0_without_reporting_is_a_protocol_violation(board, agents_on_path):
    board.configure({"agent": preset_profile("codex", FAKE_AGENT_THEN="error")}, failure_limit=5)
    task_id = board.create("Silent", assignee="agent")
    board.start()
    board.wait_for(lambda: board.outcomes(task_id)[:1] == ["protocol_violation"], timeout=30, what="violation")


def test_exit_78_gives_up_at_once_with_the_last_log_line(board, agents_on_path):
    board.configure({"agent": preset_profile("gemini", FAKE_AGENT_THEN="exit:78")}, failure_limit=5)
    task_id = board.create("Misconfigured", assignee="agent")
    board.start()
    board.wait_for(lambda: board.status(task_id) == "blocked", timeout=30, what="blocked")
    run = board.runs(task_id)[-1]
    assert board.outcomes(task_id) == ["gave_up"]
    assert run["error"].startswith(f"gave up at once (exit 78, EX_CONFIG): gemini: giving up on {task_id} as told")


def test_exit_75_sends_the_card_back_to_ready_for_the_default_cooldown(board, agents_on_path):
    board.configure({"agent": preset_profile("opencode", FAKE_AGENT_THEN="exit:75")}, failure_limit=1)
    task_id = board.create("Rate limited", assignee="agent")
    board.start()
    board.wait_for(lambda: board.outcomes(task_id) == ["rate_limited"], timeout=30, what="rate limited")
    task = board.task(task_id)
    limited_at = next(e["created_at"] for e in board.events(task_id) if e["kind"] == "rate_limited")
    assert (task["status"], task["consecutive_failures"]) == ("ready", 0)
    assert task["retry_at"] == pytest.approx(limited_at + 300, abs=1)
