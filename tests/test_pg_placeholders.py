"""The PostgreSQL store's placeholder translation (no server needed)."""

import pytest

from kanban_tui.kernel.pg import translate


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM tasks WHERE id = ? AND status IN (?, ?)",
     ("SELECT * FROM tasks WHERE id = $1 AND status IN ($2, $3)", None)),
    ("SELECT min(x) FROM t WHERE a > :now OR b > :now AND c = :other",
     ("SELECT min(x) FROM t WHERE a > $1 OR b > $1 AND c = $2", ("now", "other"))),
    # quoted text, identifiers, comments and casts are left alone
    ("SELECT '?', 'it''s :not', \"odd?\", x::text -- why?\nFROM t WHERE y = ?",
     ("SELECT '?', 'it''s :not', \"odd?\", x::text -- why?\nFROM t WHERE y = $1", None)),
    ("SELECT '%' || ? || '%'", ("SELECT '%' || $1 || '%'", None)),
])
def test_translate(sql, expected):
    assert translate(sql) == expected


def test_mixing_placeholder_styles_is_refused():
    with pytest.raises(ValueError):
        translate("SELECT ? , :name")
