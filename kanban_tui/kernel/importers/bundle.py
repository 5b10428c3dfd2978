"""What a reader hands the writer: a board's rows in our column names, plus what was mapped.

Readers (hermes.py, kanban.py) turn one source format into a Bundle; writer.py puts any
Bundle into the target board. Rows keep their source ids (`id`, or None where the source
has none); the writer decides which ids survive on the target.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

TASK_ID = re.compile(r"^t_[0-9a-f]{8}$")


@dataclass
class Bundle:
    source: str
    format: str                       # "hermes" | "kanban-tui"
    tasks: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    notify_subs: list[dict] = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)   # {sub_id, event_id, delivered_at, ok}
    # per task id: extra keys for its `imported` event (original_status, original_id, ...)
    notes: dict[str, dict] = field(default_factory=dict)
    mapped: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)

    def count(self, what: str, change: str) -> None:
        """Tally one mapping, e.g. count("statuses", "scheduled->todo")."""
        tally = self.mapped.setdefault(what, {})
        tally[change] = tally.get(change, 0) + 1


class TaskIds:
    """Source task ids -> ours: kept when already `t_<8 hex>`, else `t_` + the first 8 hex digits
    of sha256(source id) (the next digits on a clash), the same on every run of the import."""

    def __init__(self, source_ids: list[str]):
        self.map: dict[str, str] = {}
        self.changed: dict[str, str] = {}
        taken = {value for value in source_ids if TASK_ID.match(value)}
        for value in source_ids:
            if value in self.map:
                continue
            if TASK_ID.match(value):
                self.map[value] = value
                continue
            digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
            new = next(candidate for candidate in ("t_" + digest[i:i + 8] for i in range(0, 57))
                       if candidate not in taken)
            taken.add(new)
            self.map[value] = self.changed[value] = new

    def get(self, value: Any) -> str | None:
        """Our id for a source id; an id of no source task comes back as it is (it will not match)."""
        return self.map.get(value, value) if isinstance(value, str) else None


def timestamp(value: Any) -> float | None:
    """Unix seconds from an epoch number, a numeric string or an ISO 8601 string (naive = UTC)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    raw = str(value).strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def text(value: Any) -> str | None:
    """A TEXT column as str (bytes decoded with replacement); None stays None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def json_value(raw: Any) -> Any:
    """A JSON text column parsed; text that is not JSON is kept as {"unparsed": text}."""
    raw = text(raw)
    if raw is None or not raw.strip():
        return None
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return {"unparsed": raw}


def json_object(raw: Any) -> dict | None:
    """Like json_value, but always an object (a bare value is kept as {"value": ...})."""
    value = json_value(raw)
    if value is None or isinstance(value, dict):
        return value
    return {"value": value}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity would not survive our json_valid CHECK
