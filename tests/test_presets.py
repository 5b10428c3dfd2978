"""Preset expansions that the fake CLIs cannot see go wrong: quoting, TOML values, result checks."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path

import yaml

from kanban_tui import presets
from kanban_tui.kernel.run_folder import McpServer

SERVER = McpServer("/opt/my tools/kanban-tui", ["mcp", "--task", "t_0123abcd", "--run-id", "4"],
                   {"KANBAN_TASK": "t_0123abcd", "KANBAN_TUI_HOME": "/home/o'neil/board dir",
                    "KANBAN_DB": "/home/o'neil/board dir/kanban.db", "KANBAN_CLAIM_LOCK": "s3cret\"\\\x7f"})
RUN = Path("/home/o'neil/board dir/runs/4")


def expand(name: str, **kwargs) -> presets.Expansion:
    return presets.expand(name, SERVER, RUN, task_id="t_0123abcd", **kwargs)


def test_codex_overrides_are_toml_that_round_trips_and_carry_no_secret():
    argv = expand("codex").argv
    overrides = dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "-c")
    values = {key: tomllib.loads(f"v = {text}")["v"] for key, text in overrides.items()}
    assert values["mcp_servers.kanban.command"] == SERVER.command
    assert values["mcp_servers.kanban.args"] == SERVER.args
    assert "KANBAN_CLAIM_LOCK" in values["mcp_servers.kanban.env_vars"]
    assert "s3cret" not in " ".join(argv)


def test_goose_extension_splits_back_into_env_and_argv_without_the_claim_lock():
    argv = expand("goose").argv
    words = shlex.split(argv[argv.index("--with-extension") + 1])
    assert words == [f"KANBAN_TUI_HOME={SERVER.env['KANBAN_TUI_HOME']}", f"KANBAN_DB={SERVER.env['KANBAN_DB']}",
                     *SERVER.argv]
    assert "s3cret" not in " ".join(argv)


def test_the_settings_files_parse_in_their_cli_s_format():
    gemini = json.loads(expand("gemini").files["gemini-settings.json"])["mcpServers"]["kanban"]
    assert gemini == {**SERVER.entry(), "trust": True}
    opencode = json.loads(expand("opencode").files["opencode.json"])["mcp"]["kanban"]
    assert opencode["command"] == SERVER.argv and opencode["environment"] == SERVER.env
    hermes = yaml.safe_load(expand("hermes").files["hermes/config.yaml"])
    assert hermes == {"mcp_servers": {"kanban": SERVER.entry()}}
    assert expand("hermes").env == {"HERMES_HOME": str(RUN / "hermes")}


def test_command_replaces_the_program_and_args_are_appended():
    argv = expand("claude-code", command=["npx", "@anthropic-ai/claude-code"], args=["--model", "opus"]).argv
    assert argv[:3] == ["npx", "@anthropic-ai/claude-code", "-p"]
    assert argv[-2:] == ["--model", "opus"] and str(RUN / "mcp.json") in argv


def test_the_claude_result_check_reads_the_last_result_object():
    check = presets.RESULT_CHECKS["claude-json"]
    failed = json.dumps({"type": "result", "subtype": "error_during_execution", "is_error": True,
                         "result": "Credit balance is too low"})
    assert check("starting\n" + failed + "\n") == "claude reported an error: Credit balance is too low"
    assert check(json.dumps({"type": "result", "is_error": False, "result": "ok"})) is None
    assert check("not json at all\n{broken") is None
    assert check(failed + "\n" + json.dumps({"type": "result", "is_error": False}) + "\ntrailing noise") is None
