"""Shared fixtures: every test gets its own home on tmp_path and a clean KANBAN_* environment.

The kernel, CLI, tools and dispatcher tests run once per store (`[sqlite]`, `[postgres]`):
the `store` fixture points KANBAN_DB at a fresh PostgreSQL database for the second, so every
board a test opens (`home`, `conn`, `kt`, `board`, the workers it spawns) lives there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import stores
from kanban_tui import paths as paths_mod
from kanban_tui.kernel import db, doctor

TESTS = Path(__file__).parent
# the scripted workers and their harness, shared by the dispatch and end-to-end tests
sys.path.insert(0, str(TESTS / "workers"))

NOW = 1_800_000_000.0  # a fixed clock for tests that stamp or compare time


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path_factory):
    """No test may touch the real user home or inherit a worker identity from the shell."""
    for name in ("KANBAN_TASK", "KANBAN_RUN_ID", "KANBAN_CLAIM_LOCK", "KANBAN_WORKSPACE", "KANBAN_DB",
                 "KANBAN_PROFILE", "KANBAN_TENANT", "KANBAN_ROLE", "KANBAN_HOST_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KANBAN_TUI_HOME", str(tmp_path_factory.mktemp("default-home")))


def pytest_generate_tests(metafunc):
    folder = Path(metafunc.definition.path).relative_to(TESTS).parts[0]
    postgres = pytest.param("postgres", marks=pytest.mark.postgres)
    if metafunc.definition.get_closest_marker("postgres_only"):
        metafunc.parametrize("store", [postgres], indirect=True)
    elif (folder in stores.CONFORMANCE_DIRS or metafunc.definition.get_closest_marker("both_stores")) \
            and not metafunc.definition.get_closest_marker("sqlite_only"):
        metafunc.parametrize("store", ["sqlite", postgres], indirect=True)


@pytest.fixture(autouse=True)
def store(request, isolated_env, monkeypatch):
    """Which store the test's boards use; a PostgreSQL test gets a database of its own."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield kind
        return
    if stores.SERVER_DSN is None:
        pytest.skip("no PostgreSQL server: set KANBAN_TEST_PG_DSN (make test starts one)")
    url = stores.create_database()
    monkeypatch.setenv("KANBAN_DB", url)
    yield kind
    stores.drop_database(url)


_ran = {"postgres": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _ran["postgres"] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    if stores.REQUIRED and _ran["postgres"] == 0:
        terminalreporter.write_line("FAILED: KANBAN_TEST_PG_REQUIRED=1 but no test ran on PostgreSQL", red=True)
    elif _ran["postgres"]:
        terminalreporter.write_line(f"{_ran['postgres']} tests passed on PostgreSQL")


def pytest_sessionfinish(session, exitstatus):
    stores.drop_template()
    # the xdist controller (or a plain run) sees every report; its workers do not decide
    if stores.REQUIRED and _ran["postgres"] == 0 and not hasattr(session.config, "workerinput") \
            and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def home(tmp_path, store):
    """A fresh board home: Paths with the folders created (the database per `store`)."""
    board_paths = paths_mod.resolve(home=tmp_path / "home")
    paths_mod.ensure_home(board_paths)
    return board_paths


@pytest.fixture
def db_path(home):
    return home.db


@pytest.fixture
def conn(db_path, request):
    """A connection to the test's board; afterwards the board must pass `doctor` (tests that
    break invariants on purpose are marked `corrupts_board`)."""
    connection = db.connect(db_path)
    yield connection
    if request.node.get_closest_marker("corrupts_board") is None:
        assert doctor.check(connection) == [], "the board is unsound after this test"
    connection.close()


@pytest.fixture
def board(tmp_path):
    """A board whose profiles run the scripted worker of tests/workers as real processes."""
    from harness import Board

    made = Board(tmp_path)
    yield made
    made.close()


@pytest.fixture
def now():
    return NOW
