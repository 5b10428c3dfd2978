"""Bad input and refusals: the right exit code, one line on stderr, no traceback, no change."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from kanban_tui.cli import main, read_cmds
from kanban_tui.kernel import queries, transitions


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    assert result.code == code, (result.out, result.err)
    assert result.err.count("\n") == 1 and result.err.startswith("kanban-tui: "), result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err


TYPING_MISTAKES = [
    (["list", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["create"], "create: the following arguments are required: TITLE"),
    (["create", ""], "title must not be empty"),
    (["create", "   \t "], "title must not be empty"),
    (["create", "x" * 501], "the limit is 500"),
    (["create", "x", "--priority", "high"], "argument --priority: priority must be an integer, got 'high'"),
    (["create", "x", "--max-runtime", "soon"], "bad duration 'soon'"),
    (["create", "x", "--max-runtime", "0"], "must be positive"),
    (["create", "x", "--workspace", "dir:relative/path"], "the path must be absolute"),
    (["create", "x", "--workspace", "cloud:/x"], "bad workspace 'cloud:/x'"),
    (["create", "x", "--body", "a", "--body-file", "b"], "not allowed with argument"),
    (["create", "x", "--body-file", "/nonexistent/body.md"], "--body-file /nonexistent/body.md: No such file"),
    (["show", "t_ab"], "id prefix 't_ab' is too short"),
    (["show", "abc"], "too short"),
    (["list", "--status", "lost"], "invalid choice: 'lost'"),
    (["list", "--mine", "--assignee", "x"], "not allowed with argument --mine"),
    (["log", "t_abcd", "--tail", "0"], "byte count must be from 1 to"),
    (["gc", "--event-retention-days", "-1"], "expected a number of days from 0 to 36500"),
    (["watch", "--kinds", "created,exploded"], "unknown event kind exploded"),
    (["notify-subscribe", "t_abcd", "--platform", "tg"], "the following arguments are required: --chat-id"),
]


@pytest.mark.parametrize("argv, message", TYPING_MISTAKES, ids=[" ".join(a)[:40] for a, _ in TYPING_MISTAKES])
def test_typing_mistakes_exit_2(kt, argv, message):
    assert_one_line_error(kt(*argv), 2, message)
    assert kt.ok("list", "--json").json == []


def test_task_verbs_with_bad_input_exit_2_and_change_nothing(kt, conn):
    task_id = kt.create("x")
    several = kt.create("y")
    before = queries.show(conn, task_id)
    for argv, message in [
        (["complete", task_id, "--metadata", "[1, 2]"], "metadata must be a JSON object"),
        (["complete", task_id, "--metadata", "{oops"], "metadata is not valid JSON"),
        (["complete", task_id, several, "--summary", "s"], "give a single id"),
        (["complete", task_id, several, "--metadata", "{}"], "give a single id"),
        (["comment", task_id, " "], "comment must not be empty"),
        (["edit", task_id], "nothing to edit"),
        (["edit", task_id, "--title", ""], "title must not be empty"),
        (["claim", task_id, "--ttl", "forever"], "bad duration"),
    ]:
        assert_one_line_error(kt(*argv), 2, message)
    assert queries.show(conn, task_id) == before
    assert queries.get_task(conn, several)["status"] == "ready"


def test_unknown_id_exits_1(kt):
    assert_one_line_error(kt("show", "t_deadbeef"), 1, "no task t_deadbeef")
    assert_one_line_error(kt("complete", "beef"), 1, "no task t_beef")


def test_ambiguous_prefix_exits_1(kt, monkeypatch):
    ids = iter(["t_abcd0001", "t_abcd0002"])
    monkeypatch.setattr(transitions, "new_task_id", lambda: next(ids))
    kt.create("one")
    kt.create("two")
    assert_one_line_error(kt("show", "t_abcd"), 1, "ambiguous id prefix 't_abcd' matches t_abcd0001, t_abcd0002")
    assert kt.ok("show", "abcd0002", "--json").json["task"]["title"] == "two"


def test_nonexistent_parent_exits_1_and_creates_nothing(kt):
    assert_one_line_error(kt("create", "orphan", "--parent", "t_00000000"), 1, "no task t_00000000")
    assert kt.ok("list", "--json").json == []


def test_self_link_and_cycle_exit_1(kt, conn):
    a, b = kt.create("a"), kt.create("b")
    assert_one_line_error(kt("link", a, a), 1, "to itself")
    kt.ok("link", a, b)
    assert_one_line_error(kt("link", b, a), 1, "cycle")
    assert queries.get_task(conn, a)["parents"] == []


def test_refusals_exit_1(kt, conn):
    task_id = kt.create("x")
    waiting = kt.create("waiting", "--parent", task_id)
    assert_one_line_error(kt("claim", waiting), 1, "it is todo (needs ready)")
    assert_one_line_error(kt("unblock", task_id), 1, "it is ready (needs blocked)")
    assert_one_line_error(kt("unlink", waiting, task_id), 1, "is not a parent of")
    assert_one_line_error(kt("heartbeat", task_id), 1, "needs running")
    assert_one_line_error(kt("reclaim", task_id), 1, "needs running")
    assert_one_line_error(kt("notify-unsubscribe", task_id, "--platform", "p", "--chat-id", "c"), 1,
                          "no subscription")
    kt.ok("archive", task_id)
    assert_one_line_error(kt("archive", task_id), 1, "already archived")
    assert_one_line_error(kt("assign", task_id, "bob"), 1, "it is archived")
    assert_one_line_error(kt("log", task_id), 1, f"no log for {task_id} yet")


def test_garbage_db_file_exits_1_and_is_left_untouched(kt, tmp_path):
    garbage = tmp_path / "garbage.db"
    content = b"this is not a database, just some bytes\n" * 50
    garbage.write_bytes(content)
    assert_one_line_error(kt("--db", str(garbage), "list"), 1, "not an SQLite database")
    assert garbage.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.db", "home"]


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}"))


def test_an_unreachable_postgres_url_exits_1_without_its_password(kt):
    result = kt("--db", "postgresql://kanban:s3cr%40t@127.0.0.1:1/board", "list")
    assert_one_line_error(result, 1, "postgresql://kanban:***@127.0.0.1:1/board: cannot open the board")
    assert "s3cr" not in result.err


@pytest.mark.postgres_only
def test_a_password_in_the_url_is_never_printed(kt, home):
    # the test server trusts loopback, so any password gets in
    url = with_password(home.db, "s3cr3t")
    shown = kt.ok("--db", url, "init").out
    assert "s3cr3t" not in shown and with_password(home.db, "***") in shown
    missing = with_password(home.db, "s3cr3t").rsplit("/", 1)[0] + "/no_such_board"
    result = kt("--db", missing, "list")
    assert_one_line_error(result, 1, "cannot open the board")
    assert "s3cr3t" not in result.err


@pytest.mark.corrupts_board
def test_database_from_the_future_exits_1(kt, conn):
    conn.execute("INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 0)")
    assert_one_line_error(kt("list"), 1, "schema version 999 is newer")


def test_malformed_config_is_one_line_exit_1(kt):
    kt.paths.config.write_text("dispatch:\n  max_workers: lots\n")
    task_id = kt.create()
    assert_one_line_error(kt("claim", task_id), 1, "config.yaml:2: dispatch.max_workers: expected a positive integer")


def test_database_errors_are_one_line(kt, monkeypatch):
    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(queries, "list_tasks", broken)
    assert_one_line_error(kt("list"), 1, "database error: disk I/O error")


def test_unusable_home_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["--home", str(blocker / "home"), "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kanban-tui: ") and "Not a directory" in err


def test_ctrl_c_exits_130_quietly(kt, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(read_cmds.queries, "list_tasks", interrupted)
    result = kt("list")
    assert (result.code, result.err) == (130, "")


def test_help_exits_0(kt):
    result = kt("create", "--help")
    assert result.code == 0 and "--body-file" in result.out


def test_error_messages_never_carry_raw_control_characters(kt):
    result = kt("show", "t_\x1b[31mzzz")
    assert "\x1b" not in result.err and "\\x1b" in result.err


def test_closed_pipe_is_quiet(kt):
    for n in range(30):
        kt.create(f"task {n} " + "x" * 300)
    proc = subprocess.Popen([sys.executable, "-m", "kanban_tui", "--home", str(kt.paths.home), "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    assert proc.wait(timeout=20) == 1
    assert proc.stderr.read() == b""
