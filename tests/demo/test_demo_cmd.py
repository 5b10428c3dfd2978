"""`kanban-tui demo --no-open`: the demo home, its config, the seeded stories, --reset."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kanban_tui.cli import main
from kanban_tui.config import load_config
from kanban_tui.demo import home, stories
from kanban_tui.kernel import db, queries


def demo(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["demo", "--no-open", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def demo_home(tmp_path):
    return tmp_path / "demo"


def board_tasks(demo_home) -> list[dict]:
    conn = db.connect(demo_home / "kanban.db")
    try:
        return queries.list_tasks(conn)
    finally:
        conn.close()


def test_no_open_seeds_the_stories_and_prints_the_home(capsys, demo_home):
    code, out, _ = demo(capsys, "--home", str(demo_home))
    assert code == 0
    assert out.strip() == str(demo_home)
    tasks = {task["title"]: task for task in board_tasks(demo_home)}
    assert set(tasks) == {card.title for card in stories.SEEDED}
    ids = {card.key: tasks[card.title]["id"] for card in stories.SEEDED}
    for card in stories.SEEDED:
        task = tasks[card.title]
        assert (task["assignee"], task["tenant"], task["priority"], task["body"]) == \
               (card.assignee, card.tenant, card.priority, card.body)
        assert task["parents"] == [ids[key] for key in card.parents]
        assert task["max_runtime_seconds"] == card.max_runtime_seconds


def test_story_shapes_match_stories_md(capsys, demo_home):
    demo(capsys, "--home", str(demo_home))
    tasks = {task["title"]: task for task in board_tasks(demo_home)}
    solo = [tasks[t] for t in ("Design auth schema", "Implement auth API endpoints",
                               "Write auth integration tests")]
    assert [t["status"] for t in solo] == ["ready", "todo", "todo"]
    assert [t["assignee"] for t in solo] == ["backend-dev", "backend-dev", "qa-dev"]
    assert solo[2]["parents"] == [solo[1]["id"]] and solo[1]["parents"] == [solo[0]["id"]]
    fleet = [t for t in tasks.values() if t["tenant"] == "content-ops"]
    by_profile = {name: sum(t["assignee"] == name for t in fleet)
                  for name in ("translator", "transcriber", "copywriter")}
    assert by_profile == {"translator": 3, "transcriber": 5, "copywriter": 4}
    assert tasks["Deploy to staging (missing creds)"]["assignee"] == "deploy-bot"
    assert tasks["Deploy to staging (missing creds)"]["tenant"] == "ops"


def test_config_runs_scripted_workers_with_this_python(capsys, demo_home):
    demo(capsys, "--home", str(demo_home))
    config = load_config(demo_home / "config.yaml")
    assert config.dispatch.interval_seconds == 2 and config.dispatch.failure_limit == 3
    for profile in home.PROFILES:
        assert config.command_for(profile.name) == [sys.executable, "-m", home.WORKER_MODULE,
                                                    profile.behaviour]
    assert config.command_for("deploy-bot")[0] == home.MISSING_DEPLOY_AGENT
    assert config.profile("techlead").role == "orchestrator"
    assert config.profile("transcriber").max_workers == 2
    assignees = {card.assignee for card in (*stories.SEEDED, *stories.FOLLOW_UPS.values())}
    assert all(config.command_for(name) for name in assignees)


def test_running_again_reuses_the_board(capsys, demo_home):
    demo(capsys, "--home", str(demo_home))
    first = {task["id"] for task in board_tasks(demo_home)}
    assert demo(capsys, "--home", str(demo_home))[0] == 0
    assert {task["id"] for task in board_tasks(demo_home)} == first


def test_reset_deletes_only_the_database_logs_and_workspaces(capsys, demo_home):
    demo(capsys, "--home", str(demo_home))
    first = {task["id"] for task in board_tasks(demo_home)}
    (demo_home / "logs" / "t_00000000.log").write_text("old")
    (demo_home / "workspaces" / "t_00000000").mkdir()
    (demo_home / "notes.txt").write_text("mine")
    assert demo(capsys, "--home", str(demo_home), "--reset")[0] == 0
    assert not (demo_home / "logs" / "t_00000000.log").exists()
    assert not (demo_home / "workspaces" / "t_00000000").exists()
    assert (demo_home / "notes.txt").read_text() == "mine"
    assert not first & {task["id"] for task in board_tasks(demo_home)}


def test_refuses_a_home_the_demo_did_not_write(capsys, tmp_path):
    real = tmp_path / "real"
    assert main(["--home", str(real), "init"]) == 0
    before = (real / "config.yaml").read_text()
    code, _, err = demo(capsys, "--home", str(real), "--reset")
    assert code == 1 and "not a demo home" in err
    assert (real / "config.yaml").read_text() == before
    assert (real / "kanban.db").exists()


def test_db_flag_is_refused(capsys, demo_home, tmp_path):
    code, _, err = demo(capsys, "--home", str(demo_home), "--db", str(tmp_path / "x.db"))
    assert code == 2 and "--home" in err


def test_default_home_is_its_own_user_data_dir(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("KANBAN_TUI_HOME", str(tmp_path / "real-board"))
    code, out, _ = demo(capsys)
    assert code == 0
    assert out.strip() == str(tmp_path / "data" / "kanban-tui-demo")
    assert not (tmp_path / "real-board").exists()


def test_worker_refuses_an_unknown_behaviour():
    done = subprocess.run([sys.executable, "-m", home.WORKER_MODULE, "dance"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr
