"""Bad input at the CLI door: exit 2 (malformed) or 1 (refused), one stderr line, no traceback,
and the board byte-for-byte unchanged. Most cases run in-process; a representative set runs
the installed `kanban-tui` with real argv bytes and stdin."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from kanban_tui.cli import main
from doors_support import KANBAN_TUI, assert_refused

BIG = str(10**30)
DEEP = "[" * 60_000 + "]" * 60_000
DEEP_METADATA = '{"a": ' + DEEP + "}"
NESTED_33 = '{"a": ' * 33 + "1" + "}" * 33
BAD_UTF8 = b"\xff\xfe not utf-8"

# (argv, stdin bytes or None, exit code, a fragment of the one stderr line)
CASES = [
    # integers beyond 64-bit, or negative or zero where that means nothing
    (["create", "x", "--priority", BIG], None, 2, "priority must be from"),
    (["create", "x", "--priority", str(2**63)], None, 2, "priority must be from"),
    (["create", "x", "--priority", str(-(2**63) - 1)], None, 2, "priority must be from"),
    (["create", "x", "--priority", "9" * 5000], None, 2, "a 5000-digit number"),
    (["create", "x", "--priority", "1e3"], None, 2, "priority must be an integer"),
    (["create", "x", "--priority", "1_000"], None, 2, "priority must be an integer"),
    (["create", "x", "--priority", ""], None, 2, "priority must be an integer"),
    (["create", "x", "--max-runtime", "99999999999999999999999d"], None, 2, "bad duration"),
    (["create", "x", "--max-runtime", "3651d"], None, 2, "the limit is 3650d"),
    (["create", "x", "--max-runtime", "-5"], None, 2, "bad duration"),
    (["create", "x", "--max-runtime", "1e999"], None, 2, "bad duration"),
    (["create", "x", "--max-runtime", "nan"], None, 2, "bad duration"),
    (["create", "x", "--max-runtime", "0.1s"], None, 2, "must be positive"),
    (["claim", "READY", "--ttl", BIG], None, 2, "bad duration"),
    (["claim", "READY", "--ttl", "0"], None, 2, "must be positive"),
    (["claim", "t_abcd1234", "--ttl", "abc"], None, 2, "bad duration 'abc'"),
    (["edit", "READY", "--priority", BIG], None, 2, "priority must be from"),
    (["edit", "READY", "--priority", str(2**63)], None, 2, "priority must be from"),
    (["log", "READY", "--tail", BIG], None, 2, "byte count must be from 1"),
    (["gc", "--event-retention-days", "1e309"], None, 2, "expected a number of days"),
    (["gc", "--log-retention-days", "nan"], None, 2, "expected a number of days"),
    (["dispatch", "--max", BIG], None, 2, "expected a positive integer up to"),
    (["dispatch", "--failure-limit", "0"], None, 2, "expected a positive integer"),
    # text that cannot be stored: lone surrogates (undecodable argv), NUL bytes, invalid UTF-8
    (["create", "a\udcffb"], None, 2, "title is not valid UTF-8"),
    (["create", "a\x00b"], None, 2, "title contains a NUL byte"),
    (["create", "x", "--body", "\udcff"], None, 2, "body is not valid UTF-8"),
    (["create", "x", "--body", "a\x00"], None, 2, "body contains a NUL byte"),
    (["create", "x", "--body-file", "-"], BAD_UTF8, 2, "--body-file -: not UTF-8 text"),
    (["create", "x", "--body-file", "/dev/zero"], None, 2, "more than 40000000 bytes"),
    (["create", "x", "--tenant", "\udcff"], None, 2, "tenant is not valid UTF-8"),
    (["create", "x", "--skill", "s\x00"], None, 2, "skill contains a NUL byte"),
    (["create", "x", "--idempotency-key", "k\udcff"], None, 2, "idempotency key is not valid UTF-8"),
    (["create", "x", "--workspace", "dir:/tmp/\udcff"], None, 2, "workspace is not valid UTF-8"),
    (["edit", "READY", "--title", "\udcff"], None, 2, "title is not valid UTF-8"),
    (["edit", "READY", "--body-file", "-"], BAD_UTF8, 2, "not UTF-8 text"),
    (["comment", "READY", "hi\udcff"], None, 2, "comment is not valid UTF-8"),
    (["comment", "READY", "hi\x00"], None, 2, "comment contains a NUL byte"),
    (["block", "READY", "why\udcff"], None, 2, "reason is not valid UTF-8"),
    (["complete", "READY", "--summary", "\udcff"], None, 2, "summary is not valid UTF-8"),
    (["complete", "READY", "--result", "\x00"], None, 2, "result contains a NUL byte"),
    (["reclaim", "RUNNING", "--reason", "\udcff"], None, 2, "reason is not valid UTF-8"),
    (["reassign", "READY", "dev", "--reason", "\x00"], None, 2, "reason contains a NUL byte"),
    (["heartbeat", "RUNNING", "--note", "\udcff"], None, 2, "note is not valid UTF-8"),
    # JSON that cannot be stored
    (["complete", "READY", "--metadata", DEEP_METADATA], None, 2, "nested too deeply"),
    (["complete", "READY", "--metadata", NESTED_33], None, 2, "the limit is 32 levels"),
    (["complete", "READY", "--metadata", '{"a": NaN}'], None, 2, "NaN is not allowed"),
    (["complete", "READY", "--metadata", '{"a": Infinity}'], None, 2, "Infinity is not allowed"),
    (["complete", "READY", "--metadata", '{"a": -Infinity}'], None, 2, "-Infinity is not allowed"),
    (["complete", "READY", "--metadata", '{"a": 1e999}'], None, 2, "out of range"),
    (["complete", "READY", "--metadata", '{"a": "\\ud800"}'], None, 2, "not valid UTF-8"),
    (["complete", "READY", "--metadata", '{"a\udcff": 1}'], None, 2, "not valid UTF-8"),
    (["complete", "READY", "--metadata", '{"a": "' + "x" * 1_000_001 + '"}'], None, 2, "the limit is 1000000"),
    (["complete", "READY", "--metadata", "[1]"], None, 2, "must be a JSON object"),
    (["complete", "READY", "--metadata", '"x"'], None, 2, "must be a JSON object"),
    (["complete", "READY", "--metadata", '{"a": 1'], None, 2, "not valid JSON"),
    (["complete", "READY", "--metadata", ""], None, 2, "not valid JSON"),
    # empty (or unusable) names where a name is required
    (["create", "x", "--assignee", ""], None, 2, "assignee must not be empty"),
    (["create", "x", "--assignee", "   "], None, 2, "assignee must not be empty"),
    (["create", "x", "--assignee", "a\nb"], None, 2, "control characters"),
    (["create", "x", "--assignee", "a" * 201], None, 2, "the limit is 200"),
    (["create", "x", "--skill", ""], None, 2, "skill must not be empty"),
    (["create", "x", "--created-by", ""], None, 2, "creator must not be empty"),
    (["create", "x", "--tenant", ""], None, 2, "tenant must not be empty"),
    (["create", "x", "--idempotency-key", ""], None, 2, "idempotency key must not be empty"),
    (["comment", "READY", "hi", "--author", ""], None, 2, "author must not be empty"),
    (["assign", "READY", ""], None, 2, "profile must not be empty"),
    (["reassign", "READY", ""], None, 2, "profile must not be empty"),
    (["reassign", "READY", " \t"], None, 2, "profile must not be empty"),
    (["list", "--assignee", ""], None, 2, "assignee must not be empty"),
    (["list", "--tenant", ""], None, 2, "tenant must not be empty"),
    (["watch", "--kinds", ""], None, 2, "kinds must not be empty"),
    (["notify-subscribe", "READY", "--platform", "", "--chat-id", "c"], None, 2, "platform must not be empty"),
    (["notify-subscribe", "READY", "--platform", "p", "--chat-id", "c\x00"], None, 2, "chat id contains a NUL"),
    # ids: malformed is exit 2, before any lookup; unknown is exit 1
    (["show", "zzzz"], None, 2, "is not a task id"),
    (["show", "t_123456789"], None, 2, "is not a task id"),
    (["show", "t_ab\udcffcd"], None, 2, "not valid UTF-8"),
    (["complete", "READY", "t_zz!z"], None, 2, "is not a task id"),
    (["link", "READY", "t_\x00abc"], None, 2, "NUL byte"),
    (["create", "x", "--parent", "parent-card"], None, 2, "is not a task id"),
    (["complete", "t_abcd1234"], None, 1, "no task t_abcd1234"),
    # well-formed requests the board refuses
    (["claim", "RUNNING"], None, 1, "cannot claim"),
    (["assign", "RUNNING", "other"], None, 1, "cannot assign"),
]


def run_in_process(seeded, capsys, monkeypatch, argv, stdin):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = main(["--home", str(seeded.home.home), *seeded.ids(argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv, stdin, code, fragment", CASES,
                         ids=[" ".join(a)[:50].encode("ascii", "backslashreplace").decode() for a, *_ in CASES])
def test_bad_input_is_refused_and_changes_nothing(seeded, capsys, monkeypatch, argv, stdin, code, fragment):
    before = seeded.digest()
    assert_refused(*run_in_process(seeded, capsys, monkeypatch, argv, stdin), code, fragment)
    assert seeded.digest() == before


def test_a_refused_claim_leaves_the_card_ready(seeded, capsys, monkeypatch):
    """`claim --ttl 10**30` used to open the run, then fail printing the lease's end."""
    run_in_process(seeded, capsys, monkeypatch, ["claim", "READY", "--ttl", BIG], None)
    code, out, _ = run_in_process(seeded, capsys, monkeypatch, ["show", "READY", "--json"], None)
    assert code == 0 and json.loads(out)["task"]["status"] == "ready"


# The same door through the installed command: real argv bytes (undecodable ones arrive as
# lone surrogates), a real stdin, the real exit code.
PROCESS_CASES = [
    ([b"create", b"a\xffb"], None, 2, "title is not valid UTF-8"),
    ([b"create", b"x", b"--priority", BIG.encode()], None, 2, "priority must be from"),
    ([b"claim", b"READY", b"--ttl", BIG.encode()], None, 2, "bad duration"),
    ([b"claim", b"t_abcd1234", b"--ttl", b"abc"], None, 2, "bad duration 'abc'"),
    ([b"create", b"x", b"--body-file", b"-"], BAD_UTF8, 2, "not UTF-8 text"),
    ([b"complete", b"READY", b"--metadata", DEEP_METADATA.encode()], None, 2, "nested too deeply"),
    ([b"complete", b"READY", b"--metadata", b'{"a": NaN}'], None, 2, "NaN is not allowed"),
    ([b"assign", b"READY", b""], None, 2, "profile must not be empty"),
    ([b"comment", b"READY", b"hi", b"--author", b""], None, 2, "author must not be empty"),
]


@pytest.mark.parametrize("argv, stdin, code, fragment", PROCESS_CASES,
                         ids=[b" ".join(a)[:40].decode("ascii", "backslashreplace") for a, *_ in PROCESS_CASES])
def test_the_installed_command_refuses_bad_input(seeded, argv, stdin, code, fragment):
    names = {b"READY": seeded.ready.encode()}
    command = [KANBAN_TUI, "--home", str(seeded.home.home).encode(),
               *(names.get(arg, arg) for arg in argv)]
    before = seeded.digest()
    done = subprocess.run(command, input=stdin or b"", capture_output=True, timeout=60)
    assert_refused(done.returncode, done.stdout.decode(), done.stderr.decode("utf-8", "replace"), code, fragment)
    assert seeded.digest() == before


def test_a_worker_run_id_beyond_64_bit_is_refused(seeded, capsys, monkeypatch):
    monkeypatch.setenv("KANBAN_TASK", seeded.running)
    monkeypatch.setenv("KANBAN_RUN_ID", BIG)
    before = seeded.digest()
    assert_refused(*run_in_process(seeded, capsys, monkeypatch, ["heartbeat", "RUNNING"], None), 2,
                   "KANBAN_RUN_ID must be from 1")
    assert seeded.digest() == before


def test_the_digest_sees_an_accepted_change(seeded, capsys, monkeypatch):
    before = seeded.digest()
    code, _, err = run_in_process(seeded, capsys, monkeypatch, ["comment", "READY", "fine"], None)
    assert code == 0, err
    assert seeded.digest() != before
