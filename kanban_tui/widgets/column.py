"""A board column: a title with its count, and one virtualized list of cards under it.

`CardList` is a Line API widget: it keeps the cards as data and renders only the lines in
view, from a cache keyed by what a line shows. A column of hundreds of cards costs what the
visible dozen cost, and a refresh that changed nothing in view redraws nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import groupby

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from kanban_tui.kernel.models import COLUMN_TITLES
from kanban_tui.keymap import CARD_LIST_BINDINGS
from kanban_tui.text import inline
from kanban_tui.widgets.card import (
    CardContext,
    Piece,
    card_height,
    card_lines,
    is_stale,
)

UNASSIGNED_LANE = "unassigned"
# Ask for more cards when the cursor gets this close to the last loaded one.
NEAR_END_CARDS = 5
# A refresh that changed more rows in view than this repaints the whole list at once.
REPAINT_ROWS = 8


@dataclass(frozen=True)
class _Row:
    """A run of lines: a card (plus the blank line under it), a lane header or the 'more' note."""

    start: int
    height: int
    card: dict | None = None
    label: str = ""


class CardList(ScrollView, can_focus=True, inherit_bindings=False):
    BINDINGS = CARD_LIST_BINDINGS

    COMPONENT_CLASSES = {
        "card-list--card", "card-list--cursor", "card-list--selected", "card-list--stale",
        "card-list--lane", "card-list--more", "card-list--muted", "card-list--warning",
        "card-list--error", "card-list--summary", "card-list--scroll",
    }

    DEFAULT_CSS = """
    CardList {
        background: $surface;
        overflow-x: hidden;
        /* no scrollbar widget: the list draws a one-cell indicator itself (cheaper to repaint) */
        scrollbar-size-vertical: 0;
        & > .card-list--card { background: $panel; color: $foreground; }
        & > .card-list--cursor { background: $block-cursor-background; }
        & > .card-list--stale { background: $warning 25%; }
        & > .card-list--lane { color: $text-secondary; text-style: bold; }
        & > .card-list--more { color: $text-muted; text-style: italic; }
        & > .card-list--scroll { color: $text-muted; }
        /* text colours are blended over the card's own background */
        & > .card-list--selected { background: $panel; color: $text-accent; text-style: bold; }
        & > .card-list--muted { background: $panel; color: $text-muted; }
        & > .card-list--warning { background: $panel; color: $text-warning; text-style: bold; }
        & > .card-list--error { background: $panel; color: $text-error; text-style: bold; }
        & > .card-list--summary { background: $panel; color: $text-muted; text-style: italic; }
    }
    """

    class NearEnd(Message):
        """The view reached the last loaded cards and the column holds more."""

    class Opened(Message):
        """A card was clicked."""

        def __init__(self, card_list: CardList, task_id: str):
            super().__init__()
            self.card_list = card_list
            self.task_id = task_id

        @property
        def control(self) -> CardList:
            return self.card_list

    def __init__(self, status: str, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.status = status
        self.cursor = 0
        self.total = 0
        self._cards: list[dict] = []
        self._rows: list[_Row] = []
        self._starts: list[int] = []
        self._card_rows: list[int] = []
        self._keys: dict[str, tuple] = {}
        self._lanes = False
        self._more = False
        self._asked_more = False
        self._selected: frozenset[str] = frozenset()
        self._card_context = CardContext(0.0, frozenset(), False)
        self._cache: LRUCache[tuple, list[Strip]] = LRUCache(256)
        self._view: tuple[int, int, range] = (0, 0, range(0))  # width, scroll_y, thumb lines

    # ------------------------------------------------------------------ data in

    @property
    def cards(self) -> list[dict]:
        """The cards in display order (lane by lane when grouped)."""
        return self._cards

    @property
    def current(self) -> dict | None:
        return self._cards[self.cursor] if self._cards else None

    def show(self, cards: list[dict], *, total: int, lanes: bool, more: bool = False) -> None:
        """Replace the cards; the cursor stays on the same task when it is still here.

        `total` counts the whole column; `more` says scrolling near the end may load more.
        """
        keep = self.current["id"] if self._cards else None
        painted, painted_height = self._painted(), self.virtual_size.height
        self.total = total
        self._lanes = lanes
        self._more = more
        self._asked_more = False
        self._cards = sorted(cards, key=_lane_name) if lanes else list(cards)
        self._keys = {card["id"]: tuple(card.values()) for card in self._cards}
        self._layout()
        ids = [card["id"] for card in self._cards]
        if keep in ids:
            self.cursor = ids.index(keep)
        self.cursor = max(0, min(self.cursor, len(self._cards) - 1))
        self._repaint_changes(painted, painted_height)
        self._check_near_end()

    def _painted(self) -> list[tuple]:
        """What each row shows: where it is, its height, its content, whether the cursor is on it."""
        cursor_row = self._card_rows[self.cursor] if self._cards else -1
        return [(row.start, row.height, self._keys[row.card["id"]] if row.card else row.label,
                 index == cursor_row) for index, row in enumerate(self._rows)]

    def _repaint_changes(self, before: list[tuple], height_before: int) -> None:
        """Repaint only the rows in view whose lines changed (a count alone changes the last row)."""
        if self.virtual_size.height != height_before:
            self.refresh()  # the scroll indicator moves too
            return
        after = self._painted()
        kept = set(before) & set(after)
        top = round(self.scroll_offset.y)
        bottom = top + self.size.height
        changed = [(start, height) for start, height, *_ in (row for row in before + after if row not in kept)
                   if start < bottom and start + height > top]
        if len(changed) > REPAINT_ROWS:
            self.refresh()
            return
        for start, height in changed:
            self.refresh_lines(start, height)

    def set_selected(self, selected: frozenset[str]) -> None:
        if selected != self._selected:
            self._selected = selected
            self.refresh()

    def set_context(self, context: CardContext) -> None:
        if context != self._card_context:
            self._card_context = context
            self.refresh()

    def index_of(self, task_id: str) -> int | None:
        for index, card in enumerate(self._cards):
            if card["id"] == task_id:
                return index
        return None

    # ------------------------------------------------------------------ cursor

    def move_to(self, index: int) -> None:
        """Cursor to this card, scrolled into view; only the two cards' lines are repainted (a
        scroll repaints the whole view by itself)."""
        if not self._cards:
            return
        left = self._rows[self._card_rows[self.cursor]] if self.cursor < len(self._card_rows) else None
        self.cursor = max(0, min(index, len(self._cards) - 1))
        row = self._rows[self._card_rows[self.cursor]]
        self.scroll_to_region(Region(0, row.start, 1, row.height), animate=False, force=True,
                              immediate=True)
        for repainted in (left, row):
            if repainted is not None:
                self.refresh_lines(repainted.start, repainted.height)
        self._check_near_end()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._check_near_end()

    def _check_near_end(self) -> None:
        if not self._more or self._asked_more or self.total <= len(self._cards):
            return
        near_cursor = self.cursor >= len(self._cards) - NEAR_END_CARDS
        near_scroll = self.scroll_y >= self.max_scroll_y - self.size.height
        if near_cursor or near_scroll:
            self._asked_more = True
            self.post_message(self.NearEnd())

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_page_down(self) -> None:
        self.move_to(self.cursor + self._page())

    def action_page_up(self) -> None:
        self.move_to(self.cursor - self._page())

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self._cards) - 1)

    def _page(self) -> int:
        return max(1, self.size.height // 5)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self._rows:
            return
        row_index = bisect_right(self._starts, offset.y + self.scroll_offset.y) - 1
        card = self._rows[row_index].card if row_index >= 0 else None
        if card is None:
            return
        self.focus()
        self.move_to(self._card_rows.index(row_index))
        self.post_message(self.Opened(self, card["id"]))

    # ------------------------------------------------------------------ lines out

    def _layout(self) -> None:
        rows: list[_Row] = []
        card_rows: list[int] = []
        line = 0

        def add(row_height: int, **fields) -> None:
            nonlocal line
            rows.append(_Row(line, row_height, **fields))
            line += row_height

        if self._lanes:
            for lane, group in groupby(self._cards, key=_lane_name):
                group = list(group)
                add(1, label=f"{lane} · {len(group)}")
                for card in group:
                    card_rows.append(len(rows))
                    add(card_height(card) + 1, card=card)
        else:
            for card in self._cards:
                card_rows.append(len(rows))
                add(card_height(card) + 1, card=card)
        hidden = self.total - len(self._cards)
        if hidden > 0:
            add(1, label=f"+{hidden} more ↓" if self._more else f"+{hidden} more: search or filter to narrow")
        self._rows = rows
        self._card_rows = card_rows
        self._starts = [row.start for row in rows]
        self.virtual_size = Size(0, line)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        """Work out the view's geometry once per paint, not once per line; then the lines.

        With no CSS effect on the list (border, padding, scrollbar, tint, opacity, hatch), the
        cached card lines go out as they are, only through the app's line filters: Textual's
        per-line styling pass would rebuild every line of the column on each resize or refresh.
        """
        width, height = self.size
        scroll_y, total = round(self.scroll_offset.y), self.virtual_size.height
        thumb = range(0)
        if total > height > 0:
            size = max(1, height * height // total)
            start = round(scroll_y * (height - size) / (total - height))
            thumb = range(start, start + size)
        self._view = (width, scroll_y, thumb)
        if not self._plain():
            return super().render_lines(crop)
        filters = self.get_line_filters()
        background = self.background_colors[1]
        strips = []
        for y in crop.line_range:
            strip = self.render_line(y)
            for line_filter in filters:
                strip = strip.apply_filter(line_filter, background)
            strips.append(strip)
        if crop.column_span != (0, width):
            start, end = crop.column_span
            strips = [strip.crop(start, end) for strip in strips]
        return strips

    def _plain(self) -> bool:
        """True when Textual's styling pass would hand the content lines back unchanged."""
        styles = self.styles
        return (self.size.width >= 4 and self.outer_size == self.size and self.opacity == 1
                and styles.text_opacity == 1 and not styles.tint.a and not styles.gutter
                and not any(edge for edge, _ in styles.outline)
                and not (styles.has_rule("hatch") and styles.hatch != "none"))

    def render_line(self, y: int) -> Strip:
        """Line y of the view: cached card lines, the last cell kept for the scroll indicator."""
        width, scroll_y, thumb = self._view
        if width <= 1:
            return Strip.blank(width)
        line = y + scroll_y
        row_index = bisect_right(self._starts, line) - 1
        if row_index < 0 or line >= self.virtual_size.height:
            key: tuple = ("blank", width)
            strip = self._blank(width)
        else:
            row = self._rows[row_index]
            key, strips = self._row_strips(row_index, row, width)
            key += (line - row.start,)
            strip = strips[line - row.start]
        if y in thumb:
            key += ("thumb",)
            thumbed = self._cache.get(key)
            if thumbed is None:
                thumbed = self._cache[key] = Strip(
                    [*strip.crop(0, width - 1), Segment("▐", self.get_component_rich_style("card-list--scroll"))],
                    width)
            strip = thumbed
        return strip

    def _row_strips(self, row_index: int, row: _Row, width: int) -> tuple[tuple, list[Strip]]:
        """A row's lines from the cache, and the key they are cached under."""
        card = row.card
        if card is None:
            key: tuple = (row.label, width)
        else:
            is_cursor = self.has_focus and self._card_rows[self.cursor] == row_index
            key = (self._keys[card["id"]], width, is_cursor, card["id"] in self._selected,
                   self._card_context)
        strips = self._cache.get(key)
        if strips is None:
            strips = self._render_card(card, width, key[2], key[3]) if card else self._render_label(row, width)
            self._cache[key] = strips
        return key, strips

    def _blank(self, width: int) -> Strip:
        key = ("blank", width)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._cache[key] = Strip.blank(width, self.rich_style)
        return strip

    def _text_style(self, name: str) -> Style:
        """A component's text attributes without its background (the card's shows through)."""
        style = self.get_component_rich_style(name)
        return Style(color=style.color, bold=style.bold, italic=style.italic, dim=style.dim)

    def _render_label(self, row: _Row, width: int) -> list[Strip]:
        name = "card-list--more" if row.label.startswith("+") else "card-list--lane"
        base = self.rich_style
        label = _fit([(inline(row.label), "label")], width - 1, {"label": base + self._text_style(name)})
        return [Strip([*label, Segment(" ", base)], width)]

    def _render_card(self, card: dict, width: int, is_cursor: bool, is_selected: bool) -> list[Strip]:
        style = self.get_component_rich_style
        base = style("card-list--card")
        if is_stale(card, self._card_context.now):
            base += style("card-list--stale")
        if is_cursor:
            base += style("card-list--cursor")
        styles = {"plain": base, "title": base + Style(bold=True)}
        for name in ("muted", "warning", "error", "summary"):
            styles[name] = base + self._text_style(f"card-list--{name}")
        mark = Segment("▌" if is_selected else " ", base + self._text_style("card-list--selected"))
        inner = max(1, width - 3)  # the selection mark, the text, a space, the scroll indicator
        gutter = Segment(" ", self.rich_style)
        strips = [Strip([mark, *_fit(pieces, inner, styles), Segment(" ", base), gutter], width)
                  for pieces in card_lines(card, self._card_context, inner)]
        strips.append(self._blank(width))
        return strips


def _fit(pieces: list[Piece], width: int, styles: dict[str, Style]) -> list[Segment]:
    """Pieces as segments filling exactly `width` cells: cut with an ellipsis, or padded."""
    segments = []
    used = 0
    for text, name in pieces:
        length = cell_len(text)
        if used + length > width:
            room = width - used
            if room > 0:
                segments.append(Segment(set_cell_size(text, room - 1) + "…", styles[name]))
            return segments
        segments.append(Segment(text, styles[name]))
        used += length
    if used < width:
        segments.append(Segment(" " * (width - used), styles[pieces[0][1]] if pieces else Style()))
    return segments


def _lane_name(card: dict) -> str:
    return card["assignee"] or UNASSIGNED_LANE


class ColumnTitle(Widget):
    """A column's name and how many cards it holds; a narrow title shortens the name, never the count."""

    count: reactive[int] = reactive(0)

    def __init__(self, status: str):
        super().__init__(id=f"title-{status}", classes="column-title")
        self.status = status

    def render(self) -> Text:
        count = f" {self.count}"
        room = self.content_region.width - len(count)
        name = COLUMN_TITLES[self.status]
        if len(name) > room:
            name = name[:max(0, room - 1)] + "…"
        title = Text(name, style="bold")
        title.append(count, style="dim")
        return title
