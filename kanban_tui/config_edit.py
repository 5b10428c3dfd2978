"""Add a profile to config.yaml as text, so the user's comments, order and layout survive.

PyYAML cannot write a document back with its comments, and a round-trip library would be a
new dependency for one verb. The edit stays small instead: PyYAML's composer gives the exact
position of the `profiles:` value, the entry is spliced in there in the style already used
(block or flow), and the result is loaded again before it replaces the file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from kanban_tui.errors import ConfigError, Refused, UsageError

_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def add_profile(path: Path, name: str, settings: dict, template: str) -> str:
    """Write profile `name` with `settings` (key -> JSON-able value) into the config at `path`
    (`template` when there is none yet) and return the name as written; an existing name or a
    config that does not load is refused and nothing changes."""
    from kanban_tui.config import load_config

    if not _PLAIN_NAME.match(name):
        raise UsageError(f"profile name must be letters, digits, '.', '_' or '-', got {name!r}")
    name = name.lower()  # profile names are case-insensitive; config.py keys them lower-case
    if load_config(path).profile(name) is not None:
        raise Refused(f"profile {name} already exists in {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = template
    _replace_checked(path, _splice(text, name, settings), name)
    return name


def _splice(text: str, name: str, settings: dict) -> str:
    import yaml

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    profiles = None
    if isinstance(root, yaml.MappingNode):
        profiles = next((value for key, value in root.value if key.value == "profiles"), None)
    if profiles is None:
        separator = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{separator}profiles:\n{_block(name, settings, 2)}"
    if isinstance(profiles, yaml.MappingNode) and profiles.value and profiles.flow_style:
        closing = profiles.end_mark.index - 1  # the mapping's `}`
        comma = "" if text[:closing].rstrip().endswith(",") else ","
        return f"{text[:closing]}{comma} {name}: {_flow(settings)}{text[closing:]}"
    lines = text.splitlines(keepends=True)
    if isinstance(profiles, yaml.MappingNode) and profiles.value:
        indent = profiles.value[0][0].start_mark.column
        at = _last_scalar(profiles).end_mark.line + 1  # after the last entry, before any comments
        if not lines[at - 1].endswith("\n"):
            lines[at - 1] += "\n"
        return "".join([*lines[:at], _block(name, settings, indent), *lines[at:]])
    # `profiles:` with no value, null or `{}`: drop that value and open a block under the key
    start, end = profiles.start_mark, profiles.end_mark
    row = lines[start.line]
    head, tail = row[:start.column].rstrip(), row[end.column:].strip()
    lines[start.line] = head + (f" {tail}" if tail else "") + "\n"
    return "".join([*lines[:start.line + 1], _block(name, settings, 2), *lines[start.line + 1:]])


def _last_scalar(node):
    """The last node written inside a block collection: its end mark is where the entry ends
    (a block collection's own end mark lies past any comments that follow it)."""
    import yaml

    while not getattr(node, "flow_style", False) and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) \
            and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def _block(name: str, settings: dict, indent: int) -> str:
    pad = " " * indent
    return f"{pad}{name}:\n" + "".join(f"{pad}  {key}: {json.dumps(value)}\n" for key, value in settings.items())


def _flow(settings: dict) -> str:
    return "{" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in settings.items()) + "}"


def _replace_checked(path: Path, text: str, name: str) -> None:
    """Load the edited text from a private temporary file, then move it over the config."""
    from kanban_tui.config import load_config

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if load_config(Path(temporary)).profile(name) is None:
            raise ConfigError(f"{path}: could not add profile {name} here; add it by hand")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
