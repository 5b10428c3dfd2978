"""The four stories of the README's tutorial, end to end: a real dispatcher, real worker processes that
talk to the board only through the worker tools, and an operator acting through the kernel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from harness import PYTHON, complete

from kanban_tui.kernel import db, transitions

SCHEMA_SUMMARY = ("users(id, email, pw_hash), sessions(id, user_id, jti, expires_at); refresh tokens "
                  "stored as sessions with type='refresh'")
SCHEMA_METADATA = {"changed_files": ["migrations/001_users.sql", "migrations/002_sessions.sql"],
                   "decisions": ["bcrypt for hashing", "JWT for session tokens", "7-day refresh, 15-min access"]}


def kanban(board, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "kanban_tui", "--home", str(board.paths.home), *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_solo_developer_dependencies_and_handoff(board):
    board.configure(("backend-dev", "qa-dev"), interval=60)
    design = board.create(
        "Design auth schema",
        [{"do": "heartbeat", "note": "schema drafted, writing migrations now"},
         {"do": "complete", "summary": SCHEMA_SUMMARY, "metadata": SCHEMA_METADATA}],
        assignee="backend-dev", tenant="auth-project", priority=2,
        body="Design the user/session/token schema.")
    endpoints = board.create("Implement auth API endpoints", complete("POST /register, /login, /refresh, /logout"),
                             assignee="backend-dev", parents=[design], priority=2,
                             body="POST /register, /login, /refresh, /logout")
    tests = board.create("Write auth integration tests", complete("4 scenarios green"),
                         assignee="qa-dev", parents=[endpoints], priority=2,
                         body="happy path, wrong password, expired token, concurrent refresh")
    assert [board.status(t) for t in (design, endpoints, tests)] == ["ready", "todo", "todo"]
    assert board.task(tests)["tenant"] == "auth-project"

    board.start()
    board.wait_for(lambda: board.status(tests) == "done", what="the chain to finish")

    heartbeat = next(e for e in board.events(design) if e["kind"] == "heartbeat")
    assert heartbeat["payload"] == {"note": "schema drafted, writing migrations now"}
    [run] = board.runs(design)
    assert (run["outcome"], run["profile"], run["summary"], run["metadata"]) == \
        ("completed", "backend-dev", SCHEMA_SUMMARY, SCHEMA_METADATA)
    assert run["started_at"] <= run["ended_at"]
    promoted = next(e for e in board.events(endpoints) if e["kind"] == "promoted")
    assert promoted["payload"]["trigger"] == design

    context = board.context(endpoints, board.runs(endpoints)[0]["id"])
    parent_results = context.split("## Parent task results", 1)[1]
    assert SCHEMA_SUMMARY in parent_results
    assert "bcrypt for hashing" in parent_results and "migrations/001_users.sql" in parent_results
    assert "→ users(id, email, pw_hash)" in kanban(board, "runs", design)


@pytest.mark.slow
def test_fleet_farming_drains_three_pools_within_caps(board):
    caps = {"translator": 1, "transcriber": 2, "copywriter": 2}
    board.configure({name: {"max_workers": cap} for name, cap in caps.items()}, interval=60, max_workers=4)
    work = [{"do": "sleep", "seconds": 0.25},
            {"do": "complete", "summary": "translated 4 pages, style matched existing marketing voice",
             "metadata": {"duration_seconds": 720, "tokens_used": 2100}}]
    titles = ([(f"Translate homepage to {lang}", "translator") for lang in ("Spanish", "French", "German")]
              + [(f"Transcribe Q3 customer call #{n}", "transcriber") for n in range(1, 6)]
              + [(f"Generate product description: SKU-{sku}", "copywriter") for sku in range(1001, 1005)])
    tasks = [board.create(title, work, assignee=who, tenant="content-ops") for title, who in titles]

    peaks: Counter = Counter()
    sampling = threading.Event()
    sampler_conn = db.connect(board.paths.db)

    def sample() -> None:
        while not sampling.is_set():
            rows = sampler_conn.execute(
                "SELECT assignee, count(*) FROM tasks WHERE status = 'running' GROUP BY assignee").fetchall()
            counts = dict(rows)
            peaks["board"] = max(peaks["board"], sum(counts.values()))
            for name, count in counts.items():
                peaks[name] = max(peaks[name], count)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        board.headless()
        board.wait_for(lambda: all(board.status(t) == "done" for t in tasks), timeout=30, what="the fleet")
    finally:
        sampling.set()
        sampler.join()
        sampler_conn.close()
    assert peaks["board"] == 4  # the board cap binds (1 + 2 + 2 > 4) and is reached
    assert all(peaks[name] <= cap for name, cap in caps.items())
    assert peaks["transcriber"] == 2
    assert all(board.outcomes(t) == ["completed"] for t in tasks)
    translation = board.runs(tasks[0])[0]
    assert translation["metadata"] == {"duration_seconds": 720, "tokens_used": 2100}


def test_role_pipeline_block_unblock_and_second_run(board):
    board.configure(("pm", "backend-dev", "reviewer"), interval=60)
    reason = "Review: password strength check missing, reset link isn't single-use (can be replayed within 30min)"
    implementation_metadata = {"changed_files": ["auth/reset.py", "auth/tests/test_reset.py",
                                                 "migrations/003_single_use_reset_tokens.sql"],
                               "tests_run": 11, "review_iteration": 2}
    spec = board.create("Spec: password reset flow", complete(
        "spec approved; POST /forgot-password sends email, GET /reset/:token renders form, POST /reset applies "
        "new password", metadata={"acceptance": ["expired token returns 410",
                                                 "reused last-3 password returns 400 with message",
                                                 "successful reset invalidates all active sessions"]}),
        assignee="pm", tenant="auth-project")
    implement = board.create(
        "Implement password reset flow", [{"do": "block", "reason": reason}],
        complete("added zxcvbn strength check, reset tokens are now single-use (stored + deleted on success)",
                 metadata=implementation_metadata),
        assignee="backend-dev", parents=[spec])
    review = board.create("Review password reset PR", complete("approved"), assignee="reviewer",
                          parents=[implement])

    board.start()
    board.wait_for(lambda: board.status(implement) == "blocked", what="the first run to block")
    [first] = board.runs(implement)
    assert (first["outcome"], first["summary"]) == ("blocked", reason)
    assert board.status(review) == "todo"
    time.sleep(0.3)
    assert len(board.runs(implement)) == 1  # nothing retries a blocked task

    transitions.unblock(board.conn, implement)  # the operator answers
    board.wait_for(lambda: board.status(review) == "done", what="the second run and the review")
    first, second = board.runs(implement)
    assert (first["outcome"], second["outcome"]) == ("blocked", "completed")
    assert second["metadata"] == implementation_metadata
    prior = board.context(implement, second["id"]).split("## Prior attempts on this task", 1)[1]
    assert "blocked" in prior and reason in prior.split("## Parent task results")[0]
    review_context = board.context(review, board.runs(review)[0]["id"])
    assert "single-use (stored + deleted on success)" in review_context and "auth/reset.py" in review_context
    assert "spec approved" in board.context(implement, first["id"])


def test_circuit_breaker_blocks_after_three_spawn_failures_and_notifies_once(board, tmp_path):
    inbox = tmp_path / "inbox.jsonl"
    notifier = tmp_path / "notify.py"
    notifier.write_text(f"import sys\nopen({str(inbox)!r}, 'a').write(sys.stdin.read().strip() + '\\n')\n")
    board.configure({"deploy-bot": {"command": ["/opt/deploy-bot/bin/agent", "--creds", "{home}/creds"]}},
                    interval=0.2, notify_command=[PYTHON, str(notifier)])
    task = board.create("Deploy to staging (missing creds)", assignee="deploy-bot", tenant="ops")
    transitions.notify_subscribe(board.conn, task, platform="telegram", chat_id="ops-room")
    started = time.monotonic()
    board.start()
    board.wait_for(lambda: board.status(task) == "blocked", what="the breaker")
    assert time.monotonic() - started >= 0.4  # each retry waits (here the 0.2 s interval caps it): no spin
    assert board.kinds(task, skip=()) == ["created", "claimed", "spawn_failed", "claimed", "spawn_failed",
                                          "claimed", "gave_up"]
    runs = board.runs(task)
    assert [r["outcome"] for r in runs] == ["spawn_failed", "spawn_failed", "gave_up"]
    assert all("/opt/deploy-bot/bin/agent" in r["error"] for r in runs)
    board.wait_for(lambda: inbox.exists(), what="the notification")
    time.sleep(0.5)
    assert len(board.runs(task)) == 3  # no more retries until a person unblocks it
    [message] = [json.loads(line) for line in inbox.read_text().splitlines()]
    assert message["event"]["kind"] == "gave_up" and message["subscription"]["chat_id"] == "ops-room"
    assert message["event"]["payload"]["trigger"] == "spawn_failed"


def test_crash_recovery_after_a_worker_is_killed_mid_run(board):
    board.configure(("migrator",), interval=0.2)
    task = board.create(
        "Backfill user emails (2.4M rows)",
        [{"do": "print", "text": "processed 2300000 of 2400000 rows"}, {"do": "hang"}],
        complete("backfilled 2.4M rows in 24 chunks",
                 metadata={"strategy": "chunked with LIMIT + WHERE id > last_id"}),
        assignee="migrator")
    board.start()
    log = board.paths.log_for(task)
    board.wait_for(lambda: log.exists() and "2300000" in log.read_text(), what="the scan to get far")
    os.kill(board.task(task)["worker_pid"], signal.SIGKILL)  # the OOM killer
    board.wait_for(lambda: board.status(task) == "done", what="the retry to succeed")

    crashed, completed = board.runs(task)
    assert (crashed["outcome"], completed["outcome"]) == ("crashed", "completed")
    assert crashed["error"].startswith("processed 2300000 of 2400000 rows (process ")
    assert "killed by SIGKILL" in crashed["error"]
    assert completed["metadata"] == {"strategy": "chunked with LIMIT + WHERE id > last_id"}
    prior = board.context(task, completed["id"]).split("## Prior attempts on this task", 1)[1]
    assert "crashed" in prior and "processed 2300000 of 2400000 rows" in prior
    assert board.kinds(task) == ["created", "claimed", "crashed", "claimed", "completed"]


def test_a_hanging_worker_times_out_and_the_retry_completes(board):
    board.configure(interval=0.2)
    task = board.create("hangs first", [{"do": "hang"}], complete("second time lucky"), assignee="dev",
                        max_runtime=1)
    began = time.monotonic()
    board.start()
    board.wait_for(lambda: "timed_out" in board.kinds(task), timeout=5, what="the timeout")
    assert time.monotonic() - began < 2.5  # woken by the deadline, not by a 60 s interval
    board.wait_for(lambda: board.status(task) == "done", what="the retry")
    timed_out = next(e for e in board.events(task) if e["kind"] == "timed_out")["payload"]
    assert timed_out["limit_seconds"] == 1 and timed_out["sigkill"] is False
    assert timed_out["elapsed_seconds"] >= 1
    assert board.outcomes(task) == ["timed_out", "completed"]


def test_exit_zero_without_a_report_is_a_protocol_violation(board):
    board.configure(interval=0.2)
    task = board.create("forgetful", [{"do": "exit", "code": 0}], complete("reported this time"), assignee="dev")
    board.start()
    board.wait_for(lambda: board.status(task) == "done", what="the retry")
    assert board.outcomes(task) == ["protocol_violation", "completed"]
    violation = next(e for e in board.events(task) if e["kind"] == "protocol_violation")["payload"]
    assert violation["exit_code"] == 0 and violation["pid"] == board.runs(task)[0]["worker_pid"]
