"""A scripted worker: a real process that talks to the board only through the worker tools.

The plan is a JSON file (path in $WORKER_PLAN) mapping a task title to a list of steps per
attempt: attempt N (counted from the task's runs) follows plan[title][N], or the last entry.
Each attempt is a list of steps, run in order:

  {"do": "heartbeat", "note": "..."}
  {"do": "complete", "summary": "...", "metadata": {...}}
  {"do": "block", "reason": "..."}
  {"do": "print", "text": "..."}             a line on stdout (the task log)
  {"do": "sleep", "seconds": 0.5}
  {"do": "hang"}                              sleep until killed
  {"do": "ignore_term"}                       SIGTERM does nothing from now on
  {"do": "exit", "code": 3}                   leave without reporting
  {"do": "kill_self", "signal": "SIGKILL"}
  {"do": "run", "argv": ["complete", "{task}"], "drop_env": ["KANBAN_RUN_ID"]}
                                              `kanban-tui ARGV` as the agent's shell would run it
  {"do": "mcp", "tool": "kanban_complete", "args": {...}, "drop_env": [...]}
                                              one call through a `kanban-tui mcp` child

Before its steps a worker saves its context to <workspace>/context-<run_id>.md and appends a
line to $WORKER_TRACE (if set): {"task_id", "run_id", "pid", "event": "start"|"end", "t"}; `run`
and `mcp` steps add {"event": "ran", "code": exit code} or {"event": "ran", "result": {...}}.
"""

import json
import os
import signal
import subprocess
import sys
import time

from kanban_tui import tools


def trace(event: str, **extra) -> None:
    path = os.environ.get("WORKER_TRACE")
    if not path:
        return
    line = json.dumps({"task_id": os.environ["KANBAN_TASK"], "run_id": int(os.environ["KANBAN_RUN_ID"]),
                       "profile": os.environ["KANBAN_PROFILE"], "pid": os.getpid(), "event": event,
                       "t": time.time(), **extra})
    with open(path, "a") as handle:
        handle.write(line + "\n")


def checked(result: dict) -> dict:
    if not result.get("ok"):
        print(f"tool refused: {result.get('error')}", flush=True)
        sys.exit(9)
    return result


def run_step(step: dict) -> None:
    action = step["do"]
    if action == "heartbeat":
        checked(tools.call("kanban_heartbeat", {"note": step.get("note")}))
    elif action == "complete":
        args = {key: step[key] for key in ("summary", "metadata", "result", "created_cards") if key in step}
        checked(tools.call("kanban_complete", args))
    elif action == "block":
        checked(tools.call("kanban_block", {"reason": step["reason"]}))
    elif action == "print":
        print(step["text"], flush=True)
    elif action == "sleep":
        time.sleep(step["seconds"])
    elif action == "hang":
        while True:
            time.sleep(60)
    elif action == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif action == "exit":
        trace("end")
        os._exit(step.get("code", 0))
    elif action == "kill_self":
        os.kill(os.getpid(), getattr(signal, step.get("signal", "SIGKILL")))
    elif action == "run":
        argv = [arg.replace("{task}", os.environ["KANBAN_TASK"]) for arg in step["argv"]]
        done = subprocess.run([sys.executable, "-m", "kanban_tui", *argv], env=_env(step), stdin=subprocess.DEVNULL)
        trace("ran", code=done.returncode)
    elif action == "mcp":
        trace("ran", result=_mcp_call(step["tool"], step.get("args", {}), _env(step)))
    else:
        raise SystemExit(f"unknown step {action!r}")


def _env(step: dict) -> dict:
    return {key: value for key, value in os.environ.items() if key not in step.get("drop_env", ())}


def _mcp_call(tool: str, args: dict, env: dict) -> dict:
    import anyio
    from mcp import Client, StdioServerParameters

    async def session() -> dict:
        params = StdioServerParameters(command=sys.executable, args=["-m", "kanban_tui", "mcp"], env=env)
        async with Client(params) as client:
            return json.loads((await client.call_tool(tool, args)).content[0].text)

    return anyio.run(session)


def main() -> None:
    trace("start")
    shown = checked(tools.call("kanban_show"))
    run_id = os.environ["KANBAN_RUN_ID"]
    with open(os.path.join(os.environ["KANBAN_WORKSPACE"], f"context-{run_id}.md"), "w") as handle:
        handle.write(shown["worker_context"])
    with open(os.environ["WORKER_PLAN"]) as handle:
        plan = json.load(handle)
    attempts = plan[shown["task"]["title"]]
    attempt = len(shown["runs"]) - 1
    for step in attempts[min(attempt, len(attempts) - 1)]:
        run_step(step)
    trace("end")


if __name__ == "__main__":
    main()
