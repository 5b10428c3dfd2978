"""Fixtures of the doors' bad-input tests."""

from __future__ import annotations

import pytest
from doors_support import Seeded


@pytest.fixture
def seeded(home) -> Seeded:
    return Seeded(home)
