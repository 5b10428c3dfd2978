"""`presets`, `profile add` and `profile check` (SPEC 14, 17)."""

from __future__ import annotations

import json
import shlex

from kanban_tui.config import default_config_text, load_config
from kanban_tui.presets import NAMES, SAMPLE_TASK


def test_presets_json_is_one_entry_per_preset_with_the_sample_argv(kt):
    rows = kt.ok("presets", "--json").json
    assert [row["name"] for row in rows] == list(NAMES)
    assert all(set(row) == {"name", "description", "argv"} for row in rows)
    by_name = {row["name"]: row["argv"] for row in rows}
    mcp_config = str(kt.paths.home / "runs" / "1" / "mcp.json")
    assert by_name["claude-code"][:2] == ["claude", "-p"] and SAMPLE_TASK in by_name["claude-code"][2]
    assert by_name["claude-code"][3:] == ["--mcp-config", mcp_config, "--strict-mcp-config",
                                          "--allowedTools", "mcp__kanban", "--output-format", "json"]
    assert by_name["codex"][:3] == ["codex", "exec", "--skip-git-repo-check"]
    assert by_name["goose"][:4] == ["goose", "run", "--no-session", "-t"]
    assert by_name["hermes"][:3] == ["hermes", "chat", "-q"]
    plain = kt.ok("presets").out
    assert plain.splitlines()[1].strip() == shlex.join(by_name["claude-code"])


def test_profile_add_keeps_comments_and_order_of_the_file(kt):
    config = kt.paths.config
    original = ("# my board\ndispatch:\n  max_workers: 2   # small box\n\nprofiles:\n  dev:          # the old one\n"
                "    command: [\"my-agent\"]\n# notes after the profiles\nui: {theme: null}\n")
    config.write_text(original)
    kt.ok("profile", "add", "Reviewer", "--preset", "claude-code", "--max-workers", "2")
    edited = config.read_text()
    assert edited == original.replace("# notes after", "  reviewer:\n    preset: \"claude-code\"\n"
                                      "    max_workers: 2\n# notes after")
    profile = load_config(config).profile("reviewer")
    assert (profile.preset, profile.max_workers, profile.command) == ("claude-code", 2, None)


def test_profile_add_into_a_fresh_home_starts_from_the_commented_template(kt):
    result = kt.ok("profile", "add", "ops", "--preset", "shell", "--command", "/opt/bots/ops.sh {task_id}")
    assert "Added profile ops (preset shell)" in result.out
    text = kt.paths.config.read_text()
    template = default_config_text()
    assert text.replace('  ops:\n    preset: "shell"\n    command: ["/opt/bots/ops.sh", "{task_id}"]\n', "") \
        == template.replace("profiles: {}\n", "profiles:\n")
    assert load_config(kt.paths.config).command_for("ops") == ["/opt/bots/ops.sh", "{task_id}"]


def test_profile_add_refusals_change_nothing(kt):
    kt.ok("profile", "add", "rev", "--preset", "gemini")
    before = kt.paths.config.read_text()
    again = kt("profile", "add", "REV", "--preset", "codex")
    assert (again.code, again.err) == (1, f"kanban-tui: profile rev already exists in {kt.paths.config}\n")
    for args, message in ((("x", "--preset", "cursor"), "unknown preset 'cursor'"),
                          (("x", "--preset", "shell"), "give it with --command"),
                          (("x y", "--preset", "codex"), "profile name must be"),
                          (("x", "--preset", "codex", "--max-workers", "0"), "positive integer")):
        refused = kt("profile", "add", *args)
        assert refused.code == 2 and message in refused.err and refused.err.count("\n") == 1
    assert kt.paths.config.read_text() == before


def test_profile_add_refuses_to_edit_a_broken_config(kt):
    kt.paths.config.write_text("profiles: [not, a, mapping]\n")
    refused = kt("profile", "add", "rev", "--preset", "gemini")
    assert refused.code == 1 and "profiles: expected a mapping" in refused.err
    assert kt.paths.config.read_text() == "profiles: [not, a, mapping]\n"


def test_profile_check_prints_argv_env_names_and_the_mcp_file_for_a_real_card(kt):
    kt.ok("profile", "add", "rev", "--preset", "opencode")
    task_id = kt.create("review the parser", "--assignee", "rev", "--tenant", "acme")
    report = kt.ok("profile", "check", "rev", "--task", task_id[:6], "--json").json
    assert report["argv"][:2] == ["opencode", "run"] and task_id in report["argv"][2]
    assert {"KANBAN_TASK", "KANBAN_CLAIM_LOCK", "KANBAN_TENANT", "OPENCODE_CONFIG"} <= set(report["env"])
    server = json.loads(report["files"]["mcp.json"])["mcpServers"]["kanban"]
    assert server["args"][-4:] == ["--task", task_id, "--run-id", "1"]
    assert server["env"]["KANBAN_CLAIM_LOCK"] == "<claim lock>" and server["env"]["KANBAN_TENANT"] == "acme"
    opencode = json.loads(report["files"]["opencode.json"])["mcp"]["kanban"]
    assert opencode["command"] == [server["command"], *server["args"]]
    assert not (kt.paths.home / "runs").exists()  # a dry run writes nothing
    plain = kt.ok("profile", "check", "rev").out
    assert plain.startswith("argv: opencode run ") and f"{kt.paths.home}/runs/1/mcp.json:" in plain


def test_profile_check_of_an_unknown_assignee_is_refused(kt):
    refused = kt("profile", "check", "nobody")
    assert refused.code == 1 and "nobody is not spawnable" in refused.err
