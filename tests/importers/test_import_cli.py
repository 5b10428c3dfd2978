"""`kanban-tui import`: the report, and one line with the documented exit code for everything refused."""

from __future__ import annotations

import json

import pytest
from hermes_boards import HermesBoard, damage, populate
from our_boards import build_board, without_import_stamps

from kanban_tui.cli import main

REPORT_KEYS = {"source", "format", "counts", "mapped", "skipped", "dry_run"}
COUNT_KEYS = {"tasks", "links", "comments", "runs", "events", "notify_subs"}


@pytest.fixture
def kt(tmp_path, capsys):
    """Run `kanban-tui --home <target> ...` in-process: (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--home", str(tmp_path / "target"), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


@pytest.fixture
def hermes_root(tmp_path):
    board = HermesBoard(tmp_path / "hermes" / "kanban.db")
    ids = populate(board)
    board.close()
    named = HermesBoard(tmp_path / "hermes" / "kanban" / "boards" / "ops" / "kanban.db")
    named.task("t_0000abcd", "ready")
    named.close()
    return tmp_path / "hermes", ids


def test_json_report_shape(kt, hermes_root):
    root, _ = hermes_root
    code, out, err = kt("import", str(root), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == REPORT_KEYS and set(report["counts"]) == COUNT_KEYS
    assert report["format"] == "hermes" and report["counts"]["tasks"] == 9


def test_plain_summary(kt, hermes_root):
    root, _ = hermes_root
    code, out, _ = kt("import", str(root), "--board", "ops", "--dry-run")
    assert code == 0
    assert out.splitlines()[0] == (f"Would import from {root}/kanban/boards/ops/kanban.db (hermes): 1 tasks, 0 links, "
                                   "0 comments, 0 runs, 0 events, 0 notify subs")
    assert out.splitlines()[-1] == "Dry run: nothing was written."
    assert kt("list", "--json")[1] == "[]\n"
    code, out, _ = kt("import", str(root))
    assert "  statuses: scheduled->todo 1, review->blocked 1, running->ready 1" in out.splitlines()


def test_round_trip_show_json_matches(kt, tmp_path, capsys):
    src, ids = build_board(tmp_path / "old" / "kanban.db")
    src.close()
    assert kt("import", str(tmp_path / "old"))[0] == 0
    for task_id in ids.values():
        assert main(["--db", str(tmp_path / "old" / "kanban.db"), "show", task_id, "--json"]) == 0
        before = json.loads(capsys.readouterr().out)
        after = json.loads(kt("show", task_id, "--json")[1])
        if before["task"]["status"] == "running":
            continue  # its documented changes: test_import_kanban
        assert without_import_stamps(after) == before
    assert kt("doctor")[0] == 0


@pytest.mark.parametrize("args, code, message", [
    (["import", "{tmp}/missing.db"], 1, "{tmp}/missing.db: no such file or folder"),
    (["import", "{tmp}/notes.txt"], 1, "{tmp}/notes.txt: not an SQLite database"),
    (["import", "{tmp}/plain"], 1, "{tmp}/plain: no kanban.db here, so it is neither a kanban-tui home nor a "
                                   "Hermes root"),
    (["import", "{tmp}/hermes", "--board", "nope"], 1, "no board 'nope' in {tmp}/hermes (boards: default, ops)"),
    (["import", "{tmp}/hermes", "--board", "Bad/Slug"], 2, "import: bad --board 'Bad/Slug': a board slug is "
                                                             "lowercase letters, digits, - and _"),
    (["import", "{tmp}/hermes/kanban.db", "--board", "ops"], 2, "import: --board picks a board inside a Hermes "
                                                                  "root folder, but SOURCE is a file"),
    (["import", "{tmp}/hermes", "--tenant", " "], 2, "import: argument --tenant: must not be empty"),
    (["import", ""], 2, "import: SOURCE must not be empty"),
    (["import", "postgresql://kanban@db/kanban"], 1, "importing from PostgreSQL is not supported yet (the "
                                                      "source must be an SQLite board file or its home)"),
    (["import"], 2, "import: the following arguments are required: SOURCE"),
])
def test_bad_input_is_one_line_with_its_exit_code_and_changes_nothing(kt, hermes_root, tmp_path, args, code, message):
    (tmp_path / "notes.txt").write_text("not a board")
    (tmp_path / "plain").mkdir()
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    got, out, err = kt(*args)
    assert (got, out, err) == (code, "", f"kanban-tui: {message.replace('{tmp}', str(tmp_path))}\n")
    assert kt("list", "--json")[1] == "[]\n"


def test_collisions_are_refused_then_skipped(kt, hermes_root):
    root, _ = hermes_root
    assert kt("import", str(root))[0] == 0
    code, out, err = kt("import", str(root))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "9 of the imported task ids already exist on this board" in err
    code, out, _ = kt("import", str(root), "--skip-existing", "--json")
    assert code == 0 and len(json.loads(out)["skipped"]) == 9


def test_corrupt_source_refused_unless_salvage(kt, tmp_path):
    board = HermesBoard(tmp_path / "h" / "kanban.db")
    for number in range(300):
        board.task(f"t_{number:08x}", "ready", body="y" * 700)
    board.close()
    damage(board.path)
    code, out, err = kt("import", str(board.path))
    assert code == 1 and out == "" and err.count("\n") == 1 and "fails PRAGMA integrity_check" in err
    assert kt("list", "--json")[1] == "[]\n"
    code, out, err = kt("import", str(board.path), "--salvage")
    assert code == 0, err
    assert "skipped (" in out and "tasks " in out
    assert kt("doctor")[0] == 0


def test_a_missing_source_is_not_found_even_with_board(kt, tmp_path):
    assert kt("import", str(tmp_path / "gone"), "--board", "ops") == \
        (1, "", f"kanban-tui: {tmp_path}/gone: no such file or folder\n")
