"""The README's screenshots (docs/*.svg) are what scripts/screenshots.py renders from today's code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"


@pytest.fixture(scope="module")
def screenshots():
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_screenshots_are_current(screenshots):
    problem = screenshots.check()
    assert problem is None, problem


def test_check_names_the_stale_file(screenshots, monkeypatch, capsys):
    monkeypatch.setattr(screenshots, "render", lambda: {screenshots.BOARD: "<svg/>"})
    assert screenshots.main(["--check"]) == 1
    assert capsys.readouterr().err == "docs/board.svg is stale: run `make screenshots`\n"
