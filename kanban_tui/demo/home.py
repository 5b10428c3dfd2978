"""Where the demo board lives, its config.yaml, and starting it over.

The demo keeps its own home (`<user data dir>/kanban-tui-demo`, or `--home`), so it never
touches a real board. A home counts as a demo home when it is empty or its config.yaml
starts with CONFIG_MARKER; anything else is refused, so `--reset` cannot delete real work.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kanban_tui import paths as paths_module
from kanban_tui.errors import Refused
from kanban_tui.paths import Paths

CONFIG_MARKER = "# kanban-tui demo board"
WORKER_MODULE = "kanban_tui.demo.worker"
MISSING_DEPLOY_AGENT = "deploy-agent-missing-creds"

DISPATCH = {"interval_seconds": 2, "max_workers": 10, "failure_limit": 3, "claim_ttl_seconds": 900}


@dataclass(frozen=True)
class DemoProfile:
    name: str
    behaviour: str  # an entry of worker.BEHAVIOURS
    max_workers: int | None = None
    role: str = "worker"


PROFILES = (
    DemoProfile("backend-dev", "work", max_workers=1),
    DemoProfile("qa-dev", "work", max_workers=1),
    DemoProfile("pm", "work"),
    DemoProfile("reviewer", "work"),
    DemoProfile("translator", "work", max_workers=1),
    DemoProfile("transcriber", "work", max_workers=2),
    DemoProfile("copywriter", "work", max_workers=1),
    DemoProfile("migrator", "work"),
    DemoProfile("indexer", "work"),
    DemoProfile("techlead", "fan-out", role="orchestrator"),
    DemoProfile("demo-operator", "operator", role="orchestrator"),
)


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("kanban-tui-demo"))


def demo_paths(home: str | None) -> Paths:
    """The demo's home and database; KANBAN_TUI_HOME and KANBAN_DB are ignored on purpose."""
    return paths_module.resolve(home=home or default_home(), env={})


def check_is_demo_home(paths: Paths) -> None:
    """Refuse a folder that holds a board the demo did not write."""
    if paths.config.exists():
        if paths.config.read_text(encoding="utf-8", errors="replace").startswith(CONFIG_MARKER):
            return
        raise Refused(f"{paths.home} is not a demo home (its config.yaml was not written by "
                      "`kanban-tui demo`); give --home an empty or new folder")
    if paths.db.exists():
        raise Refused(f"{paths.home} holds a board the demo did not create; give --home an empty "
                      "or new folder")


def reset(paths: Paths) -> None:
    """Start over: stop workers left by a previous demo, then delete the database, logs and
    workspaces. Nothing else in the home is touched."""
    _refuse_while_led(paths)
    stop_leftover_workers(paths)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{paths.db}{suffix}").unlink(missing_ok=True)
    for folder in (paths.logs, paths.workspaces):
        shutil.rmtree(folder, ignore_errors=True)


def _refuse_while_led(paths: Paths) -> None:
    if not paths.db.exists():
        return
    from kanban_tui.kernel import db, hosts

    conn = db.connect(paths.db)
    try:
        live = hosts.live(conn)
    finally:
        conn.close()
    if live:
        raise Refused(f"a dispatcher ({live[0]['holder']}) is running this demo board; "
                      "quit it before --reset")


def stop_leftover_workers(paths: Paths) -> None:
    """End the workers of running tasks (identity-checked): a demo quit mid-story leaves some."""
    if not paths.db.exists():
        return
    from kanban_tui.kernel import db, procs

    conn = db.connect(paths.db)
    try:
        workers = conn.execute("SELECT worker_pid, worker_started_at FROM tasks "
                               "WHERE status = 'running' AND worker_pid IS NOT NULL").fetchall()
    finally:
        conn.close()
    for pid, started_at in workers:
        procs.terminate(pid, started_at, grace=1.0)


def write_config(paths: Paths) -> None:
    """(Re)write the demo's config.yaml: the scripted workers run with this Python."""
    import yaml

    profiles: dict[str, dict] = {}
    for profile in PROFILES:
        entry: dict = {"command": [sys.executable, "-m", WORKER_MODULE, profile.behaviour]}
        if profile.max_workers is not None:
            entry["max_workers"] = profile.max_workers
        if profile.role != "worker":
            entry["role"] = profile.role
        profiles[profile.name] = entry
    profiles["deploy-bot"] = {"command": [MISSING_DEPLOY_AGENT, "--task", "{task_id}"]}
    body = yaml.safe_dump({"dispatch": DISPATCH, "default_command": None, "profiles": profiles,
                           "ui": {"lanes_by_profile": True}},
                          sort_keys=False, default_flow_style=None, width=200)
    header = (f"{CONFIG_MARKER} (written by `kanban-tui demo`, rewritten on every run).\n"
              "# Scripted workers: kanban_tui/demo/worker.py; their lines: kanban_tui/demo/stories.py.\n"
              f"# deploy-bot's command ({MISSING_DEPLOY_AGENT}) does not exist on purpose: "
              "it shows the circuit breaker.\n")
    paths_module.ensure_home(paths)
    paths.config.write_text(header + body, encoding="utf-8")
    paths.config.chmod(0o600)
