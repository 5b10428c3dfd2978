"""Put the demo's cards on the board through the kernel, as an operator's `create` would.

Every card carries the idempotency key `demo:<key>`, so seeding a board that was seeded
before changes nothing: a reused demo home picks up where it was.
"""

from __future__ import annotations

import sqlite3

from kanban_tui.demo import stories
from kanban_tui.kernel import transitions

SEEDED_BY = "demo"


def idempotency_key(card: stories.Card) -> str:
    return f"demo:{card.key}"


def seed(conn: sqlite3.Connection) -> dict[str, str]:
    """Create the cards that are missing; returns card key -> task id for all of them."""
    ids: dict[str, str] = {}
    for card in stories.SEEDED:
        created = transitions.create(
            conn, card.title, body=card.body, assignee=card.assignee, tenant=card.tenant,
            priority=card.priority, parents=[ids[key] for key in card.parents],
            max_runtime=card.max_runtime_seconds, idempotency_key=idempotency_key(card),
            created_by=SEEDED_BY)
        ids[card.key] = created["task_id"]
    return ids
