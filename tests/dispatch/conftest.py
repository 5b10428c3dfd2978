"""A `board` whose profiles run the scripted worker of tests/workers as real processes."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workers"))

from harness import Board  # noqa: E402


@pytest.fixture
def board(tmp_path):
    made = Board(tmp_path)
    yield made
    made.close()
