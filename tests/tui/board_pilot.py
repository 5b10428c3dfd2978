"""Shared by the board's pilot tests: a fixed clock, an app on a test home, and waiting helpers."""

from __future__ import annotations

from kanban_tui import cli
from kanban_tui.app import KanbanApp
from kanban_tui.config import Config, Profile
from kanban_tui.gateway import Gateway

NOW = 1_700_000_000.0


def profiles_config(*names: str) -> Config:
    """A config whose profiles exist (so cards show them as spawnable) but run nothing useful."""
    return Config(profiles={name: Profile(name=name, command=["true"]) for name in names})


def make_app(home, config: Config | None = None, **kwargs) -> KanbanApp:
    """The real app on `home`, with the dispatcher off unless asked for and the clock pinned."""
    kwargs.setdefault("start_dispatcher", False)
    kwargs.setdefault("run_verb", cli.run)  # as the entry point hands it in
    return KanbanApp(Gateway(home, config or Config()), clock=lambda: NOW, **kwargs)


async def settle(pilot) -> None:
    """Let workers finish and the board apply what they read."""
    app = pilot.app
    for _ in range(100):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.board.loaded and not any(worker.is_running for worker in app.workers):
            return


async def until(pilot, predicate, timeout: float = 3.0) -> None:
    """Wait (the bridge polls every 100 ms) until predicate() holds."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate()
