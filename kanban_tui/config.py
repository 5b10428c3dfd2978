"""`<home>/config.yaml` -> typed settings (README "Configuration").

Every problem is one line naming the file, the line and the dotted key, and all of a file's
problems are reported together (ConfigError.problems). Unknown keys are errors, never
dropped. Values are range-checked with kanban_tui.validate. PyYAML is imported only when a
config file is actually read.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kanban_tui import validate
from kanban_tui.errors import ConfigError, UsageError
from kanban_tui.presets import NAMES as PRESET_NAMES

ROLES = ("worker", "orchestrator")
DEFAULT_SKILL_ARGS = ("--skills", "{skill}")


@dataclass
class DispatchSettings:
    interval_seconds: float = 60.0
    max_workers: int = 4
    failure_limit: int = 3
    claim_ttl_seconds: int = 900
    rate_limit_cooldown_seconds: int = 300  # a worker that exits 75 (EX_TEMPFAIL) waits this long
    host_lease_seconds: int = 15  # a host whose dispatcher has not renewed for this long is lost


@dataclass
class Profile:
    name: str
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    max_workers: int | None = None
    skill_args: list[str] = field(default_factory=lambda: list(DEFAULT_SKILL_ARGS))
    role: str = "worker"
    preset: str | None = None   # kanban_tui.presets: expands to that agent CLI's invocation
    args: list[str] = field(default_factory=list)  # appended to the command or the preset


@dataclass
class UISettings:
    lanes_by_profile: bool = True
    theme: str | None = None


@dataclass
class NotifySettings:
    command: list[str] | None = None


@dataclass
class Config:
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    default_command: list[str] | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)
    ui: UISettings = field(default_factory=UISettings)
    keymap: dict[str, str] = field(default_factory=dict)
    notify: NotifySettings = field(default_factory=NotifySettings)

    def profile(self, assignee: str | None) -> Profile | None:
        if assignee is None:
            return None
        return self.profiles.get(assignee.strip().lower())

    def command_for(self, assignee: str | None) -> list[str] | None:
        """The profile's command (a preset's program), else `default_command`; None means not spawnable."""
        profile = self.profile(assignee)
        if profile is not None and profile.preset is not None:
            from kanban_tui.presets import PRESETS

            return [*(profile.command or PRESETS[profile.preset].program), *profile.args]
        if profile is not None and profile.command is not None:
            return [*profile.command, *profile.args]
        return self.default_command


def load_config(path: Path) -> Config:
    """Read and validate a config file; a missing file means all defaults."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {_reason(exc)}") from None

    import yaml

    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a NUL or another character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{path}:{line}: invalid YAML: character #x{exc.character:04x} is not allowed") from None
    try:
        root = loader.get_single_node()
        reader = _Reader(path, loader)
        config = reader.config(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}:" if mark else ""
        raise ConfigError(f"{path}:{line} invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply to read") from None
    finally:
        loader.dispose()
    if reader.problems:
        raise ConfigError("\n".join(reader.problems), reader.problems)
    return config


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


_KNOWN = {
    "": ("dispatch", "default_command", "profiles", "ui", "keymap", "notify"),
    "dispatch": ("interval_seconds", "max_workers", "failure_limit", "claim_ttl_seconds",
                 "rate_limit_cooldown_seconds", "host_lease_seconds"),
    "profile": ("command", "env", "max_workers", "skill_args", "role", "preset", "args"),
    "ui": ("lanes_by_profile", "theme"),
    "notify": ("command",),
}


class _Reader:
    """Walks composed YAML nodes (not plain data) so every value keeps its line number."""

    def __init__(self, path: Path, loader: Any):
        import yaml

        self.yaml = yaml
        self.path = path
        self.loader = loader
        self.problems: list[str] = []

    def error(self, node: Any, key: str, problem: str) -> ConfigError:
        label = f" {key}:" if key else ""
        return ConfigError(f"{self.path}:{node.start_mark.line + 1}:{label} {problem}")

    def attempt(self, read: Callable[[], Any], default: Any) -> Any:
        """read(), or default once its problem is recorded: one bad key never hides the next."""
        try:
            return read()
        except ConfigError as exc:
            self.problems.append(exc.message)
            return default

    # -- sections ---------------------------------------------------------------------

    def config(self, root: Any) -> Config:
        entries = self.mapping(root, "", _KNOWN[""])
        config = Config()
        readers: dict[str, Callable[[Any], None]] = {
            "dispatch": lambda node: setattr(config, "dispatch", self.dispatch(node)),
            "default_command": lambda node: setattr(config, "default_command",
                                                    self.command(node, "default_command")),
            "profiles": lambda node: setattr(config, "profiles", self.profiles(node)),
            "ui": lambda node: setattr(config, "ui", self.ui(node)),
            "keymap": lambda node: setattr(config, "keymap", self.string_map(node, "keymap", strict=True)),
            "notify": lambda node: setattr(config, "notify", self.notify(node)),
        }
        for name, node in entries.items():
            self.attempt(lambda: readers[name](node), None)
        return config

    def notify(self, node: Any) -> NotifySettings:
        entries = self.mapping(node, "notify", _KNOWN["notify"])
        settings = NotifySettings()
        if "command" in entries:
            settings.command = self.attempt(lambda: self.command(entries["command"], "notify.command"), None)
        return settings

    def dispatch(self, node: Any) -> DispatchSettings:
        entries = self.mapping(node, "dispatch", _KNOWN["dispatch"])
        settings = DispatchSettings()
        readers: dict[str, Callable[[Any, str], Any]] = {
            "interval_seconds": self.positive_number, "max_workers": self.positive_int,
            "failure_limit": self.positive_int, "claim_ttl_seconds": self.duration,
            "rate_limit_cooldown_seconds": self.duration, "host_lease_seconds": self.duration,
        }
        for name, value in entries.items():
            setattr(settings, name, self.attempt(lambda: readers[name](value, f"dispatch.{name}"),
                                                 getattr(settings, name)))
        return settings

    def profiles(self, node: Any) -> dict[str, Profile]:
        profiles: dict[str, Profile] = {}
        first_line: dict[str, int] = {}
        for key_node, raw_name, value in self.pairs(node, "profiles", None):
            name = raw_name.strip().lower()
            if not name:
                self.problems.append(self.error(key_node, "profiles", "a profile name must not be empty").message)
                continue
            if name in profiles:
                problem = f"duplicate profile (same name as on line {first_line[name]})"
                self.problems.append(self.error(key_node, f"profiles.{name}", problem).message)
                continue
            first_line[name] = key_node.start_mark.line + 1
            profiles[name] = self.attempt(lambda: self.profile(name, value), Profile(name=name))
        return profiles

    def profile(self, name: str, node: Any) -> Profile:
        prefix = f"profiles.{name}"
        self.attempt(lambda: validate.name(name, "profile name"), None)
        entries = self.mapping(node, prefix, _KNOWN["profile"])
        profile = Profile(name=name)
        readers: dict[str, Callable[[Any], Any]] = {
            "command": lambda value: self.command(value, f"{prefix}.command"),
            "env": lambda value: self.env(value, f"{prefix}.env"),
            "max_workers": lambda value: (None if self.is_null(value)
                                          else self.positive_int(value, f"{prefix}.max_workers")),
            "skill_args": lambda value: self.skill_args(value, f"{prefix}.skill_args"),
            "role": lambda value: self.choice(value, f"{prefix}.role", ROLES),
            "args": lambda value: self.argv(value, f"{prefix}.args", allow_empty=True),
            "preset": lambda value: self.choice(value, f"{prefix}.preset", PRESET_NAMES),
        }
        for key, value in entries.items():
            setattr(profile, key, self.attempt(lambda: readers[key](value), getattr(profile, key)))
        if profile.preset == "shell" and profile.command is None:
            self.problems.append(self.error(entries["preset"], f"{prefix}.command",
                                            "preset shell runs your own script: give its command").message)
        return profile

    def ui(self, node: Any) -> UISettings:
        entries = self.mapping(node, "ui", _KNOWN["ui"])
        settings = UISettings()
        if "lanes_by_profile" in entries:
            settings.lanes_by_profile = self.attempt(
                lambda: self.boolean(entries["lanes_by_profile"], "ui.lanes_by_profile"), settings.lanes_by_profile)
        if "theme" in entries and not self.is_null(entries["theme"]):
            settings.theme = self.attempt(lambda: self.string(entries["theme"], "ui.theme", strict=True), None)
        return settings

    # -- shapes -----------------------------------------------------------------------

    def mapping(self, node: Any, key: str, known: tuple[str, ...] | None) -> dict[str, Any]:
        """Key text -> value node."""
        return {name: value for _, name, value in self.pairs(node, key, known)}

    def pairs(self, node: Any, key: str, known: tuple[str, ...] | None) -> list[tuple[Any, str, Any]]:
        """(key node, key text, value node); null is empty, duplicate and unknown keys are errors."""
        if node is None or self.is_null(node):
            return []
        if not isinstance(node, self.yaml.MappingNode):
            raise self.error(node, key, f"expected a mapping, got {self.describe(node)}")
        pairs = []
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, self.yaml.ScalarNode):
                raise self.error(key_node, key, "keys must be plain strings")
            name = key_node.value
            dotted = f"{key}.{name}" if key else name
            if known is not None and name not in known:
                self.problems.append(self.error(key_node, dotted, f"unknown key (known: {', '.join(known)})").message)
                continue
            if name in first_line:
                self.problems.append(self.error(key_node, dotted,
                                                f"duplicate key (first on line {first_line[name]})").message)
                continue
            first_line[name] = key_node.start_mark.line + 1
            pairs.append((key_node, name, value_node))
        return pairs

    def is_null(self, node: Any) -> bool:
        return isinstance(node, self.yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def scalar(self, node: Any) -> Any:
        if not isinstance(node, self.yaml.ScalarNode):
            return node
        return self.loader.construct_object(node)

    def describe(self, node: Any) -> str:
        if isinstance(node, self.yaml.MappingNode):
            return "a mapping"
        if isinstance(node, self.yaml.SequenceNode):
            return "a list"
        if self.is_null(node):
            return "null"
        return repr(node.value) if len(node.value) <= 40 else repr(node.value[:39]) + "…"

    # -- values -----------------------------------------------------------------------

    def positive_int(self, node: Any, key: str, maximum: int = validate.COUNT_MAX) -> int:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
            up_to = f" up to {maximum}" if isinstance(value, int) and value > maximum else ""
            raise self.error(node, key, f"expected a positive integer{up_to}, got {self.describe(node)}")
        return value

    def duration(self, node: Any, key: str) -> int:
        """Whole seconds, at most validate.DURATION_MAX (ten years)."""
        return self.positive_int(node, key, validate.DURATION_MAX)

    def positive_number(self, node: Any, key: str) -> float:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= validate.DURATION_MAX:
            up_to = f" up to {validate.DURATION_MAX}" if isinstance(value, (int, float)) and value > 0 else ""
            raise self.error(node, key, f"expected a positive number{up_to}, got {self.describe(node)}")
        return float(value)

    def boolean(self, node: Any, key: str) -> bool:
        value = self.scalar(node)
        if not isinstance(value, bool):
            raise self.error(node, key, f"expected true or false, got {self.describe(node)}")
        return value

    def string(self, node: Any, key: str, *, strict: bool = False) -> str:
        """Scalar text as written, so `3` is '3' and `yes` stays 'yes'; strict refuses any scalar
        YAML does not read as a string (numbers, booleans)."""
        if (not isinstance(node, self.yaml.ScalarNode) or self.is_null(node)
                or strict and node.tag != "tag:yaml.org,2002:str"):
            raise self.error(node, key, f"expected a string, got {self.describe(node)}")
        try:
            return validate.text(node.value, "value", max_chars=validate.NAME_MAX * 50)
        except UsageError as exc:
            raise self.error(node, key, exc.message) from None

    def choice(self, node: Any, key: str, choices: tuple[str, ...]) -> str:
        value = self.string(node, key)
        if value not in choices:
            raise self.error(node, key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def string_map(self, node: Any, key: str, *, strict: bool = False) -> dict[str, str]:
        entries = {name: self.attempt(lambda: self.string(value, f"{key}.{name}", strict=strict), None)
                   for name, value in self.mapping(node, key, None).items()}
        return {name: value for name, value in entries.items() if value is not None}

    def env(self, node: Any, key: str) -> dict[str, str]:
        values: dict[str, str] = {}
        for key_node, name, value in self.pairs(node, key, None):
            if not name or "=" in name or "\x00" in name:
                self.problems.append(self.error(key_node, f"{key}.{name}", "not a usable environment "
                                                "variable name (empty, or holds '=')").message)
                continue
            text = self.attempt(lambda: self.string(value, f"{key}.{name}"), None)
            if text is not None:
                values[name] = text
        return values

    def command(self, node: Any, key: str) -> list[str] | None:
        if self.is_null(node):
            return None
        if isinstance(node, self.yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:str":
            raise self.error(node, key, f"expected a list or a string, got {self.describe(node)}")
        return self.argv(node, key, allow_empty=False)

    def skill_args(self, node: Any, key: str) -> list[str]:
        """A list, repeated once per skill (a string would be a command, not arguments)."""
        if not isinstance(node, self.yaml.SequenceNode):
            raise self.error(node, key, f"expected a list, got {self.describe(node)}")
        return self.argv(node, key, allow_empty=True)

    def argv(self, node: Any, key: str, *, allow_empty: bool) -> list[str]:
        """A list of strings, or one string split shell-style (never run through a shell)."""
        if isinstance(node, self.yaml.SequenceNode):
            words = [self.string(item, key) for item in node.value]
        elif isinstance(node, self.yaml.ScalarNode) and not self.is_null(node):
            try:
                words = shlex.split(self.string(node, key))
            except ValueError as exc:
                raise self.error(node, key, f"cannot split command: {exc}") from None
        else:
            raise self.error(node, key, f"expected a list or a string, got {self.describe(node)}")
        if not words and not allow_empty:
            raise self.error(node, key, "the command must not be empty")
        return words


def default_config_text() -> str:
    """The commented template `init` writes into a fresh home; it loads as the defaults."""
    return _DEFAULT_CONFIG_TEXT


_DEFAULT_CONFIG_TEXT = """\
# kanban-tui configuration. Every key is optional; the values below are the defaults.
# A typo or a wrong type is reported with the file and line, never silently ignored.

dispatch:
  interval_seconds: 60      # seconds between ticks (the dispatcher also wakes on board changes)
  max_workers: 4            # live workers on this host (each host has its own cap)
  failure_limit: 3          # consecutive failures before a task gives up and is blocked
  claim_ttl_seconds: 900    # lease length; worker heartbeats extend it
  host_lease_seconds: 15    # several hosts: a dispatcher silent this long is lost, its runs reclaimed

# Command for assignees without a profile entry. null: such tasks are not spawnable.
# A list, or a string split shell-style (never run through a shell). Placeholders:
#   {task_id} {profile} {workspace} {prompt} {home} {db}, {mcp_config} (the run's mcp.json)
#   {mcp_dir} (its folder), and an element exactly {skill_args}, which expands to the
#   profile's skill_args once per skill.
default_command: null
# default_command: ["hermes", "-p", "{profile}", "chat", "-q", "{prompt}"]

profiles: {}
# profiles:
#   backend-dev:
#     command: ["my-agent", "--task", "{task_id}", "{skill_args}"]
#     env: {MODEL: fast}                  # added to the worker's environment (wins)
#     max_workers: 1                      # live workers for this profile
#     skill_args: ["--skills", "{skill}"] # repeated per skill, kanban-worker first
#   techlead:
#     command: "my-agent --plan {prompt}"
#     role: orchestrator                  # worker (default) or orchestrator
#   reviewer:
#     preset: claude-code   # or codex, gemini, opencode, goose, hermes, shell (see `kanban-tui presets`)
#     args: ["--model", "sonnet"]         # appended; command replaces the preset's program

ui:
  lanes_by_profile: true    # group In progress by profile
  theme: null               # a Textual theme name

keymap: {}                  # binding id -> keys, e.g. {some_binding: "ctrl+k"}

notify:
  command: null             # run with each subscribed event as JSON on stdin
"""
