"""A scripted demo worker: `python -m kanban_tui.demo.worker <behaviour>`.

The dispatcher spawns it like any agent (KANBAN_TASK, KANBAN_RUN_ID, KANBAN_DB, ... in its
environment), and it changes the board only through the worker tools. It reads its task
with kanban_show, prints the worker context to its log, and plays the lines of its card in
stories.py (matched by title). Behaviours, chosen by the profile's command:

  work      heartbeat the card's notes, then complete with its summary and metadata; on
            the first attempt a card may instead block, crash (SIGKILL) or hang
  fan-out   an orchestrator: create the card's follow-ups with kanban_create, then complete
            listing them in created_cards
  operator  the demo operator: wait until the card it answers is blocked, comment an
            answer, unblock it (what a person would do with `U`)
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Callable

from kanban_tui import tools
from kanban_tui.demo import stories

STEP_SECONDS = 0.9  # pause before each heartbeat and before the handoff
OPERATOR_POLL_SECONDS = 0.5
OPERATOR_ANSWER_DELAY_SECONDS = 4.0  # long enough to see the blocked card on the board
OPERATOR_PATIENCE_SECONDS = 120.0


class ToolRefused(Exception):
    pass


def tool(name: str, **args) -> dict:
    answer = tools.call(name, args)
    if not answer["ok"]:
        raise ToolRefused(f"{name} refused: {answer['error']}")
    return answer


def step() -> None:
    time.sleep(STEP_SECONDS)


def heartbeat(note: str) -> None:
    print(f"heartbeat: {note}", flush=True)
    tool("kanban_heartbeat", note=note)


def complete(card: stories.Card, **extra) -> None:
    handoff = {"summary": card.summary}
    if card.metadata is not None:
        handoff["metadata"] = card.metadata
    handoff.update(extra)
    tool("kanban_complete", **handoff)
    print(f"completed: {handoff['summary']}", flush=True)


def leave_comment(card: stories.Card, shown: dict) -> None:
    if card.comment is None:
        return
    target = next((parent["id"] for parent in shown["parents"]
                   if parent["title"] == card.comment.on_title), shown["task"]["id"])
    tool("kanban_comment", task_id=target, body=card.comment.body)


# ---------------------------------------------------------------- behaviours

def work(card: stories.Card, shown: dict) -> None:
    prior = [run for run in shown["runs"] if run["outcome"]]
    if prior:
        heartbeat(f"attempt {len(prior) + 1}: run {len(prior)} ended {prior[-1]['outcome']}, "
                  "picking up from its context")
    for note in card.notes:
        step()
        heartbeat(note)
    step()
    twist = None if prior else card.first_attempt
    if isinstance(twist, stories.Block):
        tool("kanban_block", reason=twist.reason)
        print(f"blocked: {twist.reason}", flush=True)
        return
    if isinstance(twist, stories.Crash):
        heartbeat(twist.note)
        print(twist.last_words, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if isinstance(twist, stories.Hang):
        heartbeat(twist.note)
        while True:
            time.sleep(60)
    leave_comment(card, shown)
    complete(card)


def fan_out(card: stories.Card, shown: dict) -> None:
    task_id = shown["task"]["id"]
    for note in card.notes:
        step()
        heartbeat(note)
    created: dict[str, str] = {}
    for key in card.follow_ups:
        follow_up = stories.card_by_key(key)
        answer = tool("kanban_create", title=follow_up.title, assignee=follow_up.assignee,
                      body=follow_up.body, tenant=follow_up.tenant, priority=follow_up.priority,
                      parents=[created[parent] for parent in follow_up.parents],
                      idempotency_key=f"{task_id}:{key}")
        created[key] = answer["task_id"]
        print(f"created {answer['task_id']}: {follow_up.title}", flush=True)
        step()
    ids = list(created.values())
    complete(card, summary=f"{card.summary} ({', '.join(ids)})", created_cards=ids)


def demo_operator(card: stories.Card, shown: dict) -> None:
    if card.unblocks is None:  # a card added by hand: nothing to answer
        return work(card, shown)
    target = stories.card_by_key(card.unblocks)
    heartbeat(card.notes[0])
    deadline = time.monotonic() + OPERATOR_PATIENCE_SECONDS
    while True:
        listed = tool("kanban_list", tenant=target.tenant, assignee=target.assignee, limit=200)
        task = next((t for t in listed["tasks"] if t["title"] == target.title), None)
        if task is not None and task["status"] == "blocked":
            break
        if task is None or task["status"] == "done" or time.monotonic() > deadline:
            tool("kanban_complete", summary=f"nothing to answer: \"{target.title}\" did not block")
            return
        time.sleep(OPERATOR_POLL_SECONDS)
    heartbeat(f"{task['id']} is blocked on review feedback; answering in a few seconds")
    time.sleep(OPERATOR_ANSWER_DELAY_SECONDS)
    tool("kanban_comment", task_id=task["id"], body=card.comment.body)
    tool("kanban_unblock", task_id=task["id"])
    print(f"unblocked {task['id']}", flush=True)
    complete(card, metadata={"unblocked": task["id"]})


BEHAVIOURS: dict[str, Callable[[stories.Card, dict], None]] = {
    "work": work, "fan-out": fan_out, "operator": demo_operator}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in BEHAVIOURS:
        print(f"usage: python -m kanban_tui.demo.worker {{{','.join(BEHAVIOURS)}}}", file=sys.stderr)
        return 2
    try:
        shown = tool("kanban_show")
        print(shown["worker_context"], flush=True)
        task = shown["task"]
        card = stories.card_for_title(task["title"]) or stories.unscripted(task["title"], task["assignee"])
        BEHAVIOURS[argv[0]](card, shown)
    except ToolRefused as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
