"""Shared fixtures: every test gets its own home on tmp_path and a clean KANBAN_* environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kanban_tui import paths as paths_mod
from kanban_tui.kernel import db, doctor

# the scripted workers and their harness, shared by the dispatch and end-to-end tests
sys.path.insert(0, str(Path(__file__).parent / "workers"))

NOW = 1_800_000_000.0  # a fixed clock for tests that stamp or compare time


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path_factory):
    """No test may touch the real user home or inherit a worker identity from the shell."""
    for name in ("KANBAN_TASK", "KANBAN_RUN_ID", "KANBAN_CLAIM_LOCK", "KANBAN_WORKSPACE", "KANBAN_DB",
                 "KANBAN_PROFILE", "KANBAN_TENANT", "KANBAN_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KANBAN_TUI_HOME", str(tmp_path_factory.mktemp("default-home")))


@pytest.fixture
def home(tmp_path):
    """A fresh board home: Paths with the folders created."""
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
