"""Regenerate the README's screenshots, docs/board.svg and docs/drawer.svg.

A temporary demo home gets the four stories' cards, played through the kernel's transitions
with a fixed clock and fixed ids; then the real KanbanApp runs headless on that board and
Textual exports the screen as SVG. The same code gives the same bytes on any machine.

    python scripts/screenshots.py           write both files
    python scripts/screenshots.py --check   exit 1 (one line on stderr) when a file is stale
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

from kanban_tui import paths as paths_module
from kanban_tui.app import KanbanApp
from kanban_tui.config import load_config
from kanban_tui.demo import home as demo_home
from kanban_tui.demo import stories
from kanban_tui.demo.seed import SEEDED_BY
from kanban_tui.gateway import Gateway
from kanban_tui.kernel import db, transitions
from kanban_tui.kernel.caller import Caller

ROOT = Path(__file__).resolve().parent.parent
BOARD, DRAWER = "docs/board.svg", "docs/drawer.svg"
SIZE = (160, 48)
TITLE = "kanban-tui demo"
THEME = "textual-dark"
START = datetime(2026, 11, 21, 6, 0, tzinfo=timezone.utc).timestamp()
ID_SEED = 2026
FLEET_DONE = ("translate-spanish", "translate-french", "transcribe-call-1", "transcribe-call-2",
              "describe-sku-1001")
FLEET_RUNNING = ("translate-german", "transcribe-call-3", "describe-sku-1002")
# What rendering reads from the environment: the time zone (the drawer's times) and NO_COLOR
# (monochrome). The theme is pinned through the board's config (TEXTUAL_THEME would change it).
PINNED_ENV = {"TZ": "UTC"}
UNSET_ENV = ("NO_COLOR",)


class ClockedKernel:
    """The kernel verbs a dispatcher and its workers would call, each stamped by a clock that
    only moves forward when told to."""

    def __init__(self, conn, start: float):
        self.conn = conn
        self.now = start
        self.locks = 0

    def later(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def create(self, card: stories.Card, *parents: str) -> str:
        return transitions.create(self.conn, card.title, body=card.body, assignee=card.assignee,
                                  tenant=card.tenant, priority=card.priority, parents=parents,
                                  created_by=SEEDED_BY, now=self.later(5))["task_id"]

    def claim(self, task_id: str, after: float = 20) -> int:
        self.locks += 1
        return transitions.claim(self.conn, task_id, lock=f"lock-{self.locks}", now=self.later(after))["run_id"]

    def worker(self, task_id: str) -> Caller:
        """The worker of the task's open run (the lock the last claim used)."""
        return Caller.worker(task_id, lock=f"lock-{self.locks}")

    def work(self, task_id: str, notes: tuple[str, ...], after: float = 60) -> int:
        """Claim, then heartbeat these notes a minute apart; returns the open run."""
        run = self.claim(task_id, after)
        for note in notes:
            transitions.heartbeat(self.conn, task_id, note=note, caller=self.worker(task_id), now=self.later(60))
        return run

    def play(self, task_id: str, card: stories.Card) -> None:
        """A whole successful attempt: claim, the card's heartbeats, complete with its handoff."""
        self.work(task_id, card.notes)
        transitions.complete(self.conn, task_id, summary=card.summary, metadata=card.metadata,
                             caller=self.worker(task_id), now=self.later(90))

    def fail(self, task_id: str, run: int, outcome: str, error: str) -> None:
        transitions.end_run_failed(self.conn, task_id, run, outcome, error=error, now=self.later(2))


def play_stories(kernel: ClockedKernel) -> str:
    """The four stories after most of their work: every column holds a card. Returns the id of
    the role pipeline's implementation card (blocked, unblocked, completed)."""
    conn = kernel.conn
    # 1. Handoff: the schema is done, the API is being written (below), its tests wait in Todo.
    schema_card, api_card, tests_card = stories.SOLO
    schema = kernel.create(schema_card)
    api = kernel.create(api_card, schema)
    kernel.create(tests_card, api)
    kernel.play(schema, schema_card)

    # 3. Role pipeline: the first implementation run blocks on review; the operator answers.
    spec_card, impl_card, review_card = stories.ROLE_PIPELINE
    spec = kernel.create(spec_card)
    impl = kernel.create(impl_card, spec)
    kernel.create(review_card, impl)
    kernel.play(spec, spec_card)
    run = kernel.work(impl, impl_card.notes[:1])
    transitions.block(conn, impl, reason=impl_card.first_attempt.reason, comment=True,
                      caller=kernel.worker(impl), now=kernel.later(30))
    transitions.comment(conn, impl, stories.DEMO_OPERATOR.comment.body, now=kernel.later(240))
    transitions.unblock(conn, impl, now=kernel.later(10))
    kernel.play(impl, impl_card)

    # 4. The breaker: three spawn failures, the last one gives up and blocks the card.
    deploy_card, backfill_card = stories.BREAKER_AND_CRASH
    deploy = kernel.create(deploy_card)
    error = f"cannot start '{demo_home.MISSING_DEPLOY_AGENT}': No such file or directory"
    for _ in range(3):
        kernel.fail(deploy, kernel.claim(deploy, after=2), "spawn_failed", error)

    # 4. Crash recovery: run 1 is killed near the end, run 2 succeeds in chunks.
    backfill = kernel.create(backfill_card)
    crash = backfill_card.first_attempt
    run = kernel.work(backfill, (*backfill_card.notes, crash.note))
    kernel.fail(backfill, run, "crashed", f"{crash.last_words} (process 48213 killed by SIGKILL)")
    kernel.play(backfill, backfill_card)

    # 2. Fleet farming: the first cards of each profile done, then one running each, the rest ready.
    fleet = {card.key: (card, kernel.create(card)) for card in stories.FLEET}
    for key in FLEET_DONE:
        kernel.play(fleet[key][1], fleet[key][0])
    for key in FLEET_RUNNING:
        card, task_id = fleet[key]
        kernel.work(task_id, card.notes[:1])
    kernel.work(api, api_card.notes[:1])

    transitions.create(conn, "Idea: sign in with SSO for the admin console", tenant="auth-project",
                       triage=True, created_by="operator", now=kernel.later(30))
    return impl


async def _settle(pilot) -> None:
    """Twice: until no worker is left unfinished, then a repaint. (Not `wait_for_complete`: the
    once-a-second dispatcher poll may cancel its previous worker meanwhile, which it raises on.)"""
    for _ in range(2):
        while not all(worker.is_finished for worker in pilot.app.workers):
            await pilot.pause(0.01)
        await pilot.pause()


async def _screenshots(gateway: Gateway, impl: str, now: float) -> dict[str, str]:
    app = KanbanApp(gateway, start_dispatcher=False, clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        while not app.board.loaded:
            await pilot.pause(0.02)
        await _settle(pilot)
        board = app.export_screenshot(title=TITLE)
        app.board.focus_task(impl)
        await pilot.press("enter")
        await _settle(pilot)
        # Opening the drawer recomposes the board's footer underneath, which a screen in the
        # background lays out only when asked: ask, so that footer is never caught half-built.
        app.board.refresh(layout=True)
        await _settle(pilot)
        drawer = app.export_screenshot(title=TITLE)
    return {BOARD: board, DRAWER: drawer}


@contextmanager
def pinned_environment():
    try:
        with mock.patch.dict(os.environ, PINNED_ENV):
            for name in UNSET_ENV:
                os.environ.pop(name, None)
            time.tzset()
            yield
    finally:
        time.tzset()


def render() -> dict[str, str]:
    """Both screenshots as SVG text, keyed by their path under the repository."""
    ids = random.Random(ID_SEED)
    with tempfile.TemporaryDirectory() as folder, pinned_environment(), \
            mock.patch.object(transitions, "new_task_id", lambda: f"t_{ids.getrandbits(32):08x}"):
        paths = paths_module.resolve(home=folder, env={})
        demo_home.write_config(paths)
        conn = db.connect(paths.db)
        try:
            kernel = ClockedKernel(conn, START)
            impl = play_stories(kernel)
        finally:
            conn.close()
        config = load_config(paths.config)
        config.ui.theme = THEME  # not TEXTUAL_THEME's
        gateway = Gateway(paths, config)
        try:
            return asyncio.run(_screenshots(gateway, impl, kernel.later(60)))
        finally:
            gateway.close()


def check() -> str | None:
    """None when docs/ holds what `render` makes now, else the one-line complaint."""
    for name, svg in render().items():
        path = ROOT / name
        if not path.exists() or path.read_text(encoding="utf-8") != svg:
            return f"{name} is stale: run `make screenshots`"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate docs/board.svg and docs/drawer.svg.")
    parser.add_argument("--check", action="store_true", help="exit 1 when a file in docs/ is stale")
    args = parser.parse_args(argv)
    if args.check:
        problem = check()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        return 0
    for name, svg in render().items():
        (ROOT / name).write_text(svg, encoding="utf-8")
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
