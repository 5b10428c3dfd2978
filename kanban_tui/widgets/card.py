"""One card as a few lines of styled text pieces: no widget per card, the column draws them.

Everything taken from the board goes through `inline` (control characters escaped) and ends up
as the text of a `Segment`, so worker-written titles and summaries are never parsed as markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.cells import cell_len

from kanban_tui.text import age, inline

# A running card whose worker has not been heard from for this long is tinted as stale.
STALE_SECONDS = 600


@dataclass(frozen=True)
class CardContext:
    """What a card needs besides its own row: the clock and which assignees can run."""

    now: float
    profiles: frozenset[str]
    default_command: bool

    def spawnable(self, assignee: str) -> bool:
        return self.default_command or assignee in self.profiles


# A line is a list of (text, style name) pieces; the column maps names to its component styles.
Piece = tuple[str, str]


def is_stale(card: dict, now: float) -> bool:
    if card["status"] != "running":
        return False
    if card.get("claim_expired") or card.get("stale_heartbeat"):
        return True
    heard = card["last_heartbeat_at"] or card["started_at"]
    return heard is not None and now - heard > STALE_SECONDS


def one_line(text: str | None) -> str:
    """Collapse whitespace (a summary may span lines), then escape what remains."""
    return inline(" ".join((text or "").split()), empty="")


def badge(card: dict) -> tuple[str, str] | None:
    """The card's warning badge and its severity, if it has one."""
    if card.get("warning") == "completion_blocked_hallucination":
        return "⚠ phantom cards", "error"
    if card.get("warning") == "suspected_hallucinated_references":
        return "⚠ phantom refs", "warning"
    if card.get("gave_up") and card["status"] == "blocked":
        return "✖ gave up", "error"
    if card.get("claim_expired"):
        return "⚠ lease expired", "warning"
    if card.get("stale_heartbeat"):  # alive but silent past its lease: the dispatcher keeps it
        return "⚠ stale heartbeat", "warning"
    if card.get("consecutive_failures"):
        return f"✖ {card['consecutive_failures']} failed", "warning"
    return None


def card_lines(card: dict, ctx: CardContext, width: int) -> list[list[Piece]]:
    """The card's lines as styled pieces (the header's age is right-aligned within `width`)."""
    lines = [_header(card, ctx, width), [(inline(card["title"]), "title")], _meta(card, ctx)]
    summary = _summary(card)
    if summary is not None:
        lines.append([summary])
    return lines


def _header(card: dict, ctx: CardContext, width: int) -> list[Piece]:
    pieces = [(card["id"], "muted")]
    if card["priority"]:
        pieces.append((f" p{card['priority']}", "warning" if card["priority"] > 0 else "muted"))
    found = badge(card)
    if found is not None:
        pieces.append((" " + found[0], found[1]))
    stamp = card["started_at"] if card["status"] == "running" and card["started_at"] else card["created_at"]
    right = age(ctx.now - stamp)
    gap = width - sum(cell_len(text) for text, _ in pieces) - len(right)
    if gap >= 1:
        pieces += [(" " * gap, "plain"), (right, "muted")]
    return pieces


def _meta(card: dict, ctx: CardContext) -> list[Piece]:
    assignee = card["assignee"]
    if assignee is None:
        pieces = [("needs assignee", "warning")]
    else:
        pieces = [("@" + inline(assignee), "plain")]
        if not ctx.spawnable(assignee):
            pieces.append((" unknown profile", "error"))
    retry_at = card.get("retry_after")
    if card["status"] == "ready" and retry_at is not None and retry_at > ctx.now:
        pieces.append((f" · retry in {age(math.ceil(retry_at - ctx.now))}", "warning"))
    if card["tenant"]:
        pieces.append((" · " + inline(card["tenant"]), "muted"))
    if card.get("child_total"):
        pieces.append((f" · ↳{card['child_done']}/{card['child_total']}", "muted"))
    if card.get("comment_count"):
        pieces.append((f" · ✎{card['comment_count']}", "muted"))
    return pieces


def _summary(card: dict) -> Piece | None:
    """The fourth line: the last failure while the card is open, else the latest run summary."""
    if card["status"] != "done" and card.get("last_failure_error"):
        return "! " + one_line(card["last_failure_error"]), "error"
    if card.get("latest_summary"):
        return "→ " + one_line(card["latest_summary"]), "summary"
    return None


def card_height(card: dict) -> int:
    return 3 if _summary(card) is None else 4
