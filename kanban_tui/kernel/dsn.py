"""Board addresses: a file path (SQLite) or a `postgresql://` / `postgres://` URL.

Importing this module costs nothing (no driver): the CLI asks it which store a `--db` names,
and every message that shows a URL goes through `redact`, so a password never reaches a
terminal, a log or an error line.
"""

from __future__ import annotations

import os
import re

URL_SCHEMES = ("postgresql://", "postgres://")
# user:password@ in the authority part, and password=... in the query string
_AUTH_PASSWORD = re.compile(r"(?P<head>(?:postgresql|postgres)://[^:/@?#\s]*):[^@/?#\s]*@")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#\s]*", re.IGNORECASE)
HIDDEN = "***"


def is_postgres(target: str | os.PathLike | None) -> bool:
    """True when the board address is a PostgreSQL URL (anything else is an SQLite file)."""
    return isinstance(target, str) and target.lower().startswith(URL_SCHEMES)


def redact(text: object) -> str:
    """The text with every URL password replaced by ***; the text itself when it has none."""
    shown = _AUTH_PASSWORD.sub(lambda m: f"{m['head']}:{HIDDEN}@", str(text))
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{HIDDEN}", shown)


def password_of(url: str) -> str | None:
    """The URL's password (to scrub it from driver messages), or None."""
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    if parts.password:
        return unquote(parts.password)
    values = parse_qs(parts.query).get("password")
    return values[0] if values else None
