"""Bad input at the config.yaml door: each problem is one line naming config.yaml, its line,
the key and the problem; every problem is reported at once; the board does not start (exit 1),
nothing is spawned, and `doctor` reports the same problems."""

from __future__ import annotations

import subprocess

import pytest
from doors_support import KANBAN_TUI

from kanban_tui.config import load_config
from kanban_tui.errors import ConfigError

BIG = str(10**30)
DEEP_FLOW = "keymap: " + "{a: " * 10_000 + "b" + "}" * 10_000
DEEP_LIST = "default_command: " + "[" * 10_000 + "]" * 10_000
ALIAS_BOMB = ("x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
              "y: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "default_command: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n")

# (config.yaml contents, the key, a fragment of the problem)
CASES = [
    (f"dispatch: {{max_workers: {BIG}}}", "dispatch.max_workers", "expected a positive integer up to 100000"),
    (f"dispatch: {{claim_ttl_seconds: {BIG}}}", "dispatch.claim_ttl_seconds", "up to 315360000"),
    (f"dispatch: {{failure_limit: {BIG}}}", "dispatch.failure_limit", "up to 100000"),
    ("dispatch: {failure_limit: -1}", "dispatch.failure_limit", "expected a positive integer, got '-1'"),
    ("dispatch: {max_workers: 1.5}", "dispatch.max_workers", "expected a positive integer"),
    ("dispatch: {interval_seconds: 1e400}", "dispatch.interval_seconds", "expected a positive number"),
    ("dispatch: {interval_seconds: .nan}", "dispatch.interval_seconds", "expected a positive number"),
    ("dispatch: {interval_seconds: -.inf}", "dispatch.interval_seconds", "expected a positive number"),
    ("profiles: {a: {command: 5}}", "profiles.a.command", "expected a list or a string, got '5'"),
    ("profiles: {a: {command: true}}", "profiles.a.command", "expected a list or a string"),
    ("profiles: {a: {command: [ok, [nested]]}}", "profiles.a.command", "expected a string, got a list"),
    ('profiles: {a: {skill_args: "x"}}', "profiles.a.skill_args", "expected a list, got 'x'"),
    (f"profiles: {{a: {{max_workers: {BIG}}}}}", "profiles.a.max_workers", "up to 100000"),
    ('profiles: {a: {env: {"A=B": x}}}', "profiles.a.env.A=B", "not a usable environment variable name"),
    ('profiles: {a: {env: {X: "\\ud800"}}}', "profiles.a.env.X", "not valid UTF-8"),
    ('profiles: {"": {}}', "profiles", "a profile name must not be empty"),
    ("keymap: {quit: 5}", "keymap.quit", "expected a string, got '5'"),
    ("keymap: {quit: [q]}", "keymap.quit", "expected a string, got a list"),
    ("keymap: {quit: null}", "keymap.quit", "expected a string, got null"),
    ("keymap: {quit: yes}", "keymap.quit", "expected a string, got 'yes'"),
    ("default_command: 5", "default_command", "expected a list or a string"),
    ("notify: {command: 7}", "notify.command", "expected a list or a string"),
    ("ui: {theme: 7}", "ui.theme", "expected a string, got '7'"),
    ("ui: {lanes_by_profile: 2}", "ui.lanes_by_profile", "expected true or false"),
    ("dispatch:\n  max_workers: 2\x00\n", "", "character #x0000 is not allowed"),
    (DEEP_FLOW, "", "nested too deeply"),
    (DEEP_LIST, "", "nested too deeply"),
    (ALIAS_BOMB, "x", "unknown key"),
]


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, key, fragment", CASES, ids=[f"{i}-{key or 'yaml'}" for i, (_, key, _) in
                                                            enumerate(CASES)])
def test_a_bad_value_is_one_line_naming_file_key_and_problem(tmp_path, text, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert len(problems) >= 1 and all("\n" not in problem for problem in problems), problems
    assert problems[0].startswith(f"{path}:") and fragment in problems[0], problems
    assert f" {key}: " in problems[0] if key else True


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, f"dispatch: {{max_workers: {BIG}, bogus: 1}}\n"
                           "profiles:\n  a: {command: 5, skill_args: x}\n"
                           "keymap: {quit: 5}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    keys = [problem.split(": ")[1] for problem in caught.value.problems]
    assert keys == ["dispatch.bogus", "dispatch.max_workers", "profiles.a.command", "profiles.a.skill_args",
                    "keymap.quit"], caught.value.problems


@pytest.fixture
def bad_home(tmp_path, seeded):
    """The seeded board with a profile that would leave a mark if it ran, and two bad values."""
    marker = tmp_path / "spawned"
    seeded.home.config.write_text(f'dispatch: {{max_workers: {BIG}}}\n'
                                  f'profiles:\n  dev: {{command: ["touch", "{marker}"], skill_args: x}}\n')
    return seeded, marker


@pytest.mark.parametrize("argv", [["dispatch"], ["--dispatch-only"], ["claim", "READY"]])
def test_the_board_does_not_start_on_a_bad_config(bad_home, argv):
    seeded, marker = bad_home
    before = seeded.digest()
    done = subprocess.run([KANBAN_TUI, "--home", str(seeded.home.home), *seeded.ids(argv)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert [line.split(": ")[2] for line in lines] == ["dispatch.max_workers", "profiles.dev.skill_args"], lines
    assert all(line.startswith(f"kanban-tui: {seeded.home.config}:") for line in lines)
    assert "Traceback" not in done.stderr
    assert not marker.exists()
    assert seeded.digest() == before


def test_doctor_reports_a_config_the_board_cannot_start_with(bad_home):
    seeded, _ = bad_home
    done = subprocess.run([KANBAN_TUI, "--home", str(seeded.home.home), "doctor"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr == ""
    assert [line.split(": ")[1] for line in done.stdout.splitlines()] == [
        "dispatch.max_workers", "profiles.dev.skill_args"], done.stdout
