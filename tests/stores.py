"""The two stores the conformance suite runs on: an SQLite file, or a PostgreSQL database.

Given a server (KANBAN_TEST_PG_DSN, a postgresql:// URL whose user may create databases),
each PostgreSQL test gets a database of its own, copied from a migrated template (one per
test process, made on first use), and dropped afterwards with whatever connections its
workers left open.
"""

from __future__ import annotations

import itertools
import os
from urllib.parse import urlsplit, urlunsplit

SERVER_DSN = os.environ.get("KANBAN_TEST_PG_DSN") or None
# when set, a run that collected no PostgreSQL test fails (.ci/run, make test with a server)
REQUIRED = os.environ.get("KANBAN_TEST_PG_REQUIRED") == "1"
# the tests of these folders run on both stores; the TUI, demo and e2e ones on SQLite only
CONFORMANCE_DIRS = frozenset({"kernel", "cli", "tools", "dispatch"})
STORES = ("sqlite", "postgres")

_names = itertools.count(1)
_prefix = f"kt_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
_template: str | None = None
_admin = None


def database_url(name: str) -> str:
    parts = urlsplit(SERVER_DSN)
    return urlunsplit(parts._replace(path="/" + name))


def _admin_conn():
    global _admin
    if _admin is None or _admin.closed:
        import psycopg

        _admin = psycopg.connect(SERVER_DSN, autocommit=True)
    return _admin


def _ensure_template() -> str:
    """A database holding an empty, migrated board, to copy per test."""
    global _template
    if _template is None:
        from kanban_tui.kernel import db

        name = f"{_prefix}_template"
        _admin_conn().execute(f'DROP DATABASE IF EXISTS "{name}"')
        _admin_conn().execute(f'CREATE DATABASE "{name}"')
        db.connect(database_url(name)).close()
        _template = name
    return _template


def create_database() -> str:
    """A fresh migrated board database; returns its URL."""
    name = f"{_prefix}_{next(_names)}"
    # FILE_COPY: a plain copy of the small template's files, faster than WAL-logging each page
    _admin_conn().execute(f'CREATE DATABASE "{name}" TEMPLATE "{_ensure_template()}" STRATEGY FILE_COPY')
    return database_url(name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    _admin_conn().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_template() -> None:
    """At the end of the run: the template this process made, if any."""
    global _template
    if _template is not None:
        _admin_conn().execute(f'DROP DATABASE IF EXISTS "{_template}" WITH (FORCE)')
        _template = None
