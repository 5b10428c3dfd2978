import subprocess
import sys
import textwrap

import pytest

from kanban_tui.config import Config, DispatchSettings, Profile, default_config_text, load_config
from kanban_tui.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def config_error(tmp_path, text) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    return message[len(str(path)):]


def test_missing_file_gives_defaults(tmp_path):
    config = load_config(tmp_path / "config.yaml")
    assert config == Config()
    assert config.dispatch == DispatchSettings(60.0, 4, 3, 900)
    assert config.ui.lanes_by_profile is True and config.ui.theme is None
    assert config.command_for("anyone") is None


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "# nothing yet\n")) == Config()


def test_default_template_loads_as_defaults(tmp_path):
    assert load_config(write(tmp_path, default_config_text())) == Config()


def test_full_config(tmp_path):
    config = load_config(write(tmp_path, """\
        dispatch: {interval_seconds: 2.5, max_workers: 8, failure_limit: 5, claim_ttl_seconds: 60}
        default_command: ["hermes", "-p", "{profile}", "chat", "-q", "{prompt}"]
        profiles:
          " Backend-Dev ":
            command: ["my-agent", "--task", "{task_id}", "{skill_args}"]
            env: {MODEL: fast, PORT: 8080, VERBOSE: yes}
            max_workers: 1
            skill_args: ["--skill", "{skill}"]
          techlead: {command: "lead --plan '{prompt}'", role: orchestrator}
          reviewer:
        ui: {lanes_by_profile: false, theme: nord}
        keymap: {nudge: "ctrl+n"}
        notify: {command: "notify-send kanban"}
        """))
    assert config.dispatch == DispatchSettings(2.5, 8, 5, 60)
    assert config.profiles["backend-dev"] == Profile(
        name="backend-dev", command=["my-agent", "--task", "{task_id}", "{skill_args}"],
        env={"MODEL": "fast", "PORT": "8080", "VERBOSE": "yes"}, max_workers=1,
        skill_args=["--skill", "{skill}"], role="worker")
    assert config.profiles["techlead"].role == "orchestrator"
    assert config.profiles["reviewer"] == Profile(name="reviewer")
    assert config.ui.lanes_by_profile is False and config.ui.theme == "nord"
    assert config.keymap == {"nudge": "ctrl+n"}
    assert config.notify.command == ["notify-send", "kanban"]


def test_string_command_is_split_shell_style(tmp_path):
    config = load_config(write(tmp_path, """\
        profiles:
          techlead: {command: "lead --plan 'a b' \\"{prompt}\\" {skill_args}"}
        """))
    assert config.profiles["techlead"].command == ["lead", "--plan", "a b", "{prompt}", "{skill_args}"]


def test_command_for_falls_back_to_default_command(tmp_path):
    config = load_config(write(tmp_path, """\
        default_command: "generic {task_id}"
        profiles:
          backend-dev: {command: [special]}
          capped: {max_workers: 1}
        """))
    assert config.command_for(" Backend-Dev") == ["special"]
    assert config.command_for("capped") == ["generic", "{task_id}"]
    assert config.command_for("stranger") == ["generic", "{task_id}"]
    assert config.profile("stranger") is None
    assert config.profile("CAPPED").max_workers == 1


def test_unknown_key_names_file_line_and_known_keys(tmp_path):
    message = config_error(tmp_path, """\
        dispatch:
          max_workers: 2
        profiles:
          Backend-Dev:
            comand: ["x"]
        """)
    assert message == (":5: profiles.backend-dev.comand: unknown key "
                       "(known: command, env, max_workers, skill_args, role, preset, args)")


def test_unknown_top_level_key(tmp_path):
    assert config_error(tmp_path, "dispatch: {}\nprofile: {}\n").startswith(":2: profile: unknown key")


def test_wrong_type_names_file_line_and_key(tmp_path):
    message = config_error(tmp_path, """\
        dispatch:
          interval_seconds: 5
          max_workers: x
        """)
    assert message == ":3: dispatch.max_workers: expected a positive integer, got 'x'"


@pytest.mark.parametrize("text, expected", [
    ("dispatch: {failure_limit: 0}", ":1: dispatch.failure_limit: expected a positive integer, got '0'"),
    ("dispatch: {max_workers: true}", ":1: dispatch.max_workers: expected a positive integer, got 'true'"),
    ("dispatch: {interval_seconds: '60'}", ":1: dispatch.interval_seconds: expected a positive number, got '60'"),
    ("dispatch: [1]", ":1: dispatch: expected a mapping, got a list"),
    ("ui: {lanes_by_profile: maybe}", ":1: ui.lanes_by_profile: expected true or false, got 'maybe'"),
    ("profiles: {a: {role: boss}}", ":1: profiles.a.role: expected one of worker, orchestrator, got 'boss'"),
    ("profiles: {a: {env: {X: [1]}}}", ":1: profiles.a.env.X: expected a string, got a list"),
    ("default_command: {a: 1}", ":1: default_command: expected a list or a string, got a mapping"),
    ("default_command: []", ":1: default_command: the command must not be empty"),
    ("default_command: \"a 'b\"", ":1: default_command: cannot split command: No closing quotation"),
    ("- just\n- a list", ":1: expected a mapping, got a list"),
])
def test_invalid_values(tmp_path, text, expected):
    assert config_error(tmp_path, text) == expected


def test_duplicate_keys_are_errors(tmp_path):
    message = config_error(tmp_path, "dispatch: {max_workers: 1}\nui: {}\ndispatch: {max_workers: 2}\n")
    assert message == ":3: dispatch: duplicate key (first on line 1)"


def test_profiles_that_normalize_to_the_same_name_are_errors(tmp_path):
    message = config_error(tmp_path, "profiles:\n  dev: {}\n  DEV: {}\n")
    assert message == ":3: profiles.dev: duplicate profile (same name as on line 2)"


def test_yaml_syntax_error_names_the_line(tmp_path):
    message = config_error(tmp_path, """\
        dispatch:
          max_workers: 2
        profiles: {a: [1, 2}
        """)
    assert message.startswith(":3: invalid YAML: ")


def test_unsafe_tags_are_refused(tmp_path):
    message = config_error(tmp_path, "dispatch: {max_workers: !!python/object:os.system 1}\n")
    assert message.startswith(":1: invalid YAML: ")


def test_unreadable_file_is_a_config_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.mkdir()
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(path)


def test_importing_config_does_not_import_yaml():
    code = "import sys, kanban_tui.config; print('yaml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_preset_profile_parses_with_args_and_is_spawnable(tmp_path):
    config = load_config(write(tmp_path, """\
        profiles:
          reviewer: {preset: claude-code, args: "--model sonnet", env: {A: b}}
          ops: {command: ["/opt/bot"], args: ["--fast"]}
        """))
    reviewer = config.profile("reviewer")
    assert (reviewer.preset, reviewer.args, reviewer.command) == ("claude-code", ["--model", "sonnet"], None)
    assert config.command_for("reviewer") == ["claude", "--model", "sonnet"]
    assert config.command_for("ops") == ["/opt/bot", "--fast"]


def test_an_unknown_preset_is_an_error_naming_the_key(tmp_path):
    message = config_error(tmp_path, """\
        profiles:
          reviewer:
            preset: claude
        """)
    assert message.startswith(":3: profiles.reviewer.preset: expected one of claude-code, codex, gemini, ")
    assert message.endswith("got 'claude'")


def test_the_shell_preset_needs_a_command(tmp_path):
    assert config_error(tmp_path, "profiles: {bot: {preset: shell}}\n") == (
        ":1: profiles.bot.command: preset shell runs your own script: give its command")
