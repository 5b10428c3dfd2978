"""Presets (SPEC 14): `preset: claude-code` in a profile instead of a hand-written command.

A preset expands, for one run, to its agent CLI's documented headless one-shot invocation:
the run's MCP server registered the way that CLI reads it (a flag, an environment variable
naming a file in the run folder, or a config override), the worker prompt, and only the
kanban tools pre-approved. The profile's `command` replaces the program (e.g. a wrapper or
`npx ...`), `args` are appended, `env` wins over the preset's.

Each preset cites where its flags are documented. Flags we could not confirm are said so.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Callable, NamedTuple

from kanban_tui.kernel.run_folder import IDENTITY_VARS, MCP_CONFIG, SERVER_NAME, McpServer

SAMPLE_TASK = "t_0123abcd"
SAMPLE_RUN = 1


def prompt(task_id: str) -> str:
    """What a preset asks the agent to do: the worker contract in a few sentences."""
    return (f"You are a kanban-tui worker on task {task_id}. Use the `{SERVER_NAME}` MCP tools. "
            "First call kanban_show and read its worker_context: the brief, prior attempts and what "
            "parent tasks handed you. Do the work in the current directory; on long work call "
            "kanban_heartbeat with a one-line progress note every few minutes. Finish with exactly "
            "one call: kanban_complete with a summary for the next reader (what you did, what changed, "
            "what is left) and metadata such as changed_files and tests_run, or kanban_block with a "
            "specific question a human must answer. Follow the kanban-worker skill if it is installed.")


class Expansion(NamedTuple):
    argv: list[str]
    env: dict[str, str]       # added to the worker's environment (the profile's env wins)
    files: dict[str, str]     # written into the run folder: relative path -> text
    result_check: str | None  # a RESULT_CHECKS name, applied when the CLI exits 0 unreported


Build = Callable[[McpServer, str, Path], tuple[list[str], dict[str, str], dict[str, str]]]


class Preset(NamedTuple):
    name: str
    description: str
    program: list[str] | None  # None: the profile's command is the program
    build: Build               # (server, prompt, run folder) -> (flags, env, files)
    result_check: str | None = None


# DEL and the C1 controls, which JSON leaves raw but YAML (and TOML, for DEL) refuses unescaped
_RAW_CONTROLS = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def _json(data) -> str:
    """JSON whose strings are also valid YAML and TOML strings (controls all escaped)."""
    return json.dumps(data, indent=2, ensure_ascii=False).translate(_RAW_CONTROLS) + "\n"


def _toml(value) -> str:
    """A TOML value for `codex -c key=value`: JSON strings, lists and booleans, controls escaped, are TOML."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).translate(_RAW_CONTROLS)


# Claude Code: `-p` prints one answer and exits; `--mcp-config FILE` loads servers from a file in
# the `mcpServers` format, `--strict-mcp-config` ignores every other MCP configuration,
# `--allowedTools "mcp__kanban"` pre-approves all tools of the server named kanban and nothing else;
# `--output-format json` ends with a result object whose `is_error` flags a failed turn.
# Sources: the Claude Code docs, code.claude.com/docs/en/headless and /cli-reference (flags, the
# JSON result with is_error); its permission rules (`mcp__<server>` matches every tool of a server),
# read through mirrors of those pages, not the live site.
def _claude(server: McpServer, text: str, run_dir: Path):
    return (["-p", text, "--mcp-config", str(run_dir / MCP_CONFIG), "--strict-mcp-config",
             "--allowedTools", f"mcp__{SERVER_NAME}", "--output-format", "json"], {}, {})


# Codex CLI: `codex exec PROMPT` runs non-interactively; `--skip-git-repo-check` allows a workspace
# that is not a git repository; `-c key=value` overrides config.toml with a TOML value, so the server
# is registered for this run only. Codex starts MCP servers with an allow-list of its own
# environment (HOME, LOGNAME, PATH, SHELL, USER, LANG, LC_ALL, TERM, TMPDIR, TZ) plus the names in
# `env_vars`: that forwards the identity without putting the claim lock on a command line.
# `default_tools_approval_mode = "approve"` lets `exec` (which cannot prompt) call this server's
# tools; `required = true` makes exec fail when the server does not start.
# Sources: openai/codex codex-rs/exec/src/cli.rs (exec flags), codex-rs/config/src/mcp_types.rs
# (mcp_servers keys), codex-rs/rmcp-client/src/utils.rs (DEFAULT_ENV_VARS), docs/config.md.
def _codex(server: McpServer, text: str, run_dir: Path):
    table = f"mcp_servers.{SERVER_NAME}"
    overrides = {"command": server.command, "args": list(server.args), "env_vars": list(IDENTITY_VARS),
                 "default_tools_approval_mode": "approve", "required": True}
    flags = ["exec", "--skip-git-repo-check"]
    for key, value in overrides.items():
        flags += ["-c", f"{table}.{key}={_toml(value)}"]
    return flags + [text], {}, {}


# Gemini CLI: `-p` forces non-interactive mode; settings are JSON with `mcpServers` (command, args,
# env; `trust: true` skips confirmations for that server only), merged key by key across the system
# defaults, user, project and system settings files. The preset's server goes in the system defaults
# file, whose path GEMINI_CLI_SYSTEM_DEFAULTS_PATH overrides: the lowest layer, so an administrator's
# system settings still apply (a server the user names `kanban` too would win over it). `--allowed-
# mcp-server-names kanban` leaves out the user's other servers; `--skip-trust` trusts the workspace for
# the session (headless runs in an untrusted folder exit, and MCP servers do not connect there).
# Sources: google-gemini/gemini-cli docs/cli/headless.md, docs/cli/cli-reference.md,
# docs/reference/configuration.md (settings files, GEMINI_CLI_SYSTEM_DEFAULTS_PATH),
# docs/tools/mcp-server.md, docs/cli/trusted-folders.md; packages/cli/src/config/settingsSchema.ts
# (mcpServers: shallow merge).
def _gemini(server: McpServer, text: str, run_dir: Path):
    settings = {"mcpServers": {SERVER_NAME: {**server.entry(), "trust": True}}}
    return (["-p", text, "--skip-trust", "--allowed-mcp-server-names", SERVER_NAME],
            {"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(run_dir / "gemini-settings.json")},
            {"gemini-settings.json": _json(settings)})


# opencode: `opencode run MESSAGE` is the non-interactive mode; OPENCODE_CONFIG names a config file
# merged over the global one (not project config, which would need `opencode mcp approve`). A local
# server is `{"type": "local", "command": [argv...], "environment": {...}}`. MCP tools are named
# `<server>_<tool>`; the permission rule allows exactly those. Sources: anomalyco/opencode
# packages/web/src/content/docs/cli.mdx (run, OPENCODE_CONFIG), config.mdx, mcp-servers.mdx,
# permissions.mdx. Not confirmed: that `permission` patterns match MCP tool names (MCP tools are
# allowed by default anyway, so the rule only matters under a stricter user config).
def _opencode(server: McpServer, text: str, run_dir: Path):
    config = {"$schema": "https://opencode.ai/config.json",
              "mcp": {SERVER_NAME: {"type": "local", "command": server.argv, "environment": dict(server.env),
                                    "enabled": True}},
              "permission": {f"{SERVER_NAME}_*": "allow"}}
    return ["run", text], {"OPENCODE_CONFIG": str(run_dir / "opencode.json")}, {"opencode.json": _json(config)}


# goose: `goose run -t TEXT` runs one instruction and exits, `--no-session` keeps no session file,
# `--with-extension "VAR=value command args"` adds a stdio extension, leading VAR=value words being
# its environment. Only the board's location rides along; the server reads the rest of the identity
# (claim lock included) from the run folder its `--run-id` names, so no secret is on a command line.
# Sources: block/goose documentation/docs/guides/goose-cli-commands.md (run, --with-extension),
# block.github.io/goose/docs/getting-started/using-extensions (the VAR=value prefix).
# Not confirmed: a flag limiting pre-approval to one extension (goose's default mode approves all).
def _goose(server: McpServer, text: str, run_dir: Path):
    located = [f"{name}={server.env[name]}" for name in ("KANBAN_TUI_HOME", "KANBAN_DB") if name in server.env]
    extension = shlex.join([*located, *server.argv])
    return ["run", "--no-session", "-t", text, "--with-extension", extension], {}, {}


# Hermes Agent: `hermes chat -q QUERY` is single-query mode; MCP servers live under `mcp_servers`
# (command, args, env) in $HERMES_HOME/config.yaml, HERMES_HOME defaulting to ~/.hermes. The preset
# points HERMES_HOME at the run folder, so Hermes sees only this server: its provider credentials
# must then come from the environment (profile `env`), not ~/.hermes. The file is JSON, which is
# YAML. Sources: NousResearch/hermes-agent website/docs/user-guide/cli.md (chat -q),
# website/docs/user-guide/features/mcp.md (mcp_servers), hermes_constants.get_hermes_home.
def _hermes(server: McpServer, text: str, run_dir: Path):
    config = {"mcp_servers": {SERVER_NAME: server.entry()}}
    return (["chat", "-q", text], {"HERMES_HOME": str(run_dir / "hermes")},
            {"hermes/config.yaml": "# written by kanban-tui for this run\n" + _json(config)})


# A plain script: the profile's command, with the worker environment (it talks to the board with
# `kanban-tui tool ...`, or through {mcp_config}).
def _shell(server: McpServer, text: str, run_dir: Path):
    return [], {}, {}


PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset("claude-code", "Claude Code, headless (-p) with the run's --mcp-config; JSON result checked",
           ["claude"], _claude, result_check="claude-json"),
    Preset("codex", "OpenAI Codex CLI, codex exec with the server set by -c overrides", ["codex"], _codex),
    Preset("gemini", "Gemini CLI, -p with a system defaults settings file in the run folder", ["gemini"], _gemini),
    Preset("opencode", "opencode run with an OPENCODE_CONFIG file in the run folder", ["opencode"], _opencode),
    Preset("goose", "goose run -t with the server as a --with-extension", ["goose"], _goose),
    Preset("hermes", "Hermes Agent, chat -q with HERMES_HOME in the run folder (credentials from env)",
           ["hermes"], _hermes),
    Preset("shell", "your own script (the profile's command) with the worker environment", None, _shell),
)}
NAMES = tuple(PRESETS)


def expand(name: str, server: McpServer, run_dir: Path, *, task_id: str, command: list[str] | None = None,
           args: list[str] | None = None) -> Expansion:
    """One run's invocation of preset `name`, its files meant for `run_dir`. `command` (replacing
    the program) and `args` (appended) are the profile's, placeholders already filled."""
    preset = PRESETS[name]
    program = command or preset.program
    if not program:
        raise ValueError(f"preset {name} needs the profile's command")
    flags, env, files = preset.build(server, prompt(task_id), run_dir)
    return Expansion([*program, *flags, *(args or [])], env, files, preset.result_check)


# -- result checks: an agent CLI may exit 0 after a failed turn ---------------------------------

def _claude_json(output: str) -> str | None:
    """The error of Claude Code's final `{"type": "result", "is_error": true, ...}` object, if any."""
    for line in reversed(output.splitlines()):
        try:
            result = json.loads(line)
        except ValueError:
            continue
        if isinstance(result, dict) and result.get("type") == "result":
            if result.get("is_error"):
                detail = result.get("result") or result.get("subtype") or "error"
                return f"claude reported an error: {str(detail)[:300]}"
            return None
    return None


RESULT_CHECKS: dict[str, Callable[[str], str | None]] = {"claude-json": _claude_json}
