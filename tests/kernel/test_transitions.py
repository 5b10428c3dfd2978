"""Table-driven transition tests: each legal move writes exactly its events; each illegal one
changes nothing (same task row, same event count, same runs)."""

from __future__ import annotations

import json

import pytest

from kanban_tui.errors import NotFound, Refused, UsageError
from kanban_tui.kernel import doctor
from kanban_tui.kernel import transitions as T
from kanban_tui.kernel.caller import Caller

NOW = 1_800_000_000.0


def make_task(conn, state: str, **kw) -> str:
    """A task in `state`, reached through the real kernel verbs."""
    kw.setdefault("assignee", "backend-dev")
    if state == "triage":
        return T.create(conn, "idea", triage=True, now=NOW, **kw)["task_id"]
    if state == "todo":
        parent = T.create(conn, "parent", now=NOW)["task_id"]
        return T.create(conn, "child", parents=[parent], now=NOW, **kw)["task_id"]
    task_id = T.create(conn, f"a {state} task", now=NOW, **kw)["task_id"]
    if state == "running":
        T.claim(conn, task_id, now=NOW)
    elif state == "blocked":
        T.block(conn, task_id, reason="needs creds", now=NOW)
    elif state == "done":
        T.complete(conn, task_id, summary="shipped", now=NOW)
    elif state == "archived":
        T.archive(conn, task_id, now=NOW)
    return task_id


def snapshot(conn, task_id):
    task = dict(conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone())
    events = conn.execute("SELECT count(*) FROM task_events").fetchone()[0]
    runs = [tuple(r) for r in conn.execute("SELECT * FROM task_runs ORDER BY id")]
    comments = conn.execute("SELECT count(*) FROM task_comments").fetchone()[0]
    return task, events, runs, comments


def new_event_kinds(conn, after: int) -> list[str]:
    return [r[0] for r in conn.execute("SELECT kind FROM task_events WHERE id > ? ORDER BY id", (after,))]


def last_event_id(conn) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM task_events").fetchone()[0]


@pytest.fixture(autouse=True)
def board_stays_sound(conn):
    yield
    assert doctor.check(conn) == []


VERBS = {
    "claim": lambda c, t: T.claim(c, t, now=NOW + 1),
    "complete": lambda c, t: T.complete(c, t, summary="ok", now=NOW + 1),
    "block": lambda c, t: T.block(c, t, reason="why", now=NOW + 1),
    "unblock": lambda c, t: T.unblock(c, t, now=NOW + 1),
    "assign": lambda c, t: T.assign(c, t, "reviewer", now=NOW + 1),
    "heartbeat": lambda c, t: T.heartbeat(c, t, note="alive", now=NOW + 1),
    "reclaim": lambda c, t: T.reclaim(c, t, reason="stuck", now=NOW + 1),
    "reassign": lambda c, t: T.reassign(c, t, "reviewer", now=NOW + 1),
    "archive": lambda c, t: T.archive(c, t, now=NOW + 1),
    "to_ready": lambda c, t: T.move(c, t, "ready", now=NOW + 1),
    "to_todo": lambda c, t: T.move(c, t, "todo", now=NOW + 1),
}

# (verb, from) -> (to, events written) ; absent pairs must be refused and change nothing.
LEGAL = {
    ("claim", "ready"): ("running", ["claimed"]),
    ("complete", "running"): ("done", ["completed"]),
    ("complete", "ready"): ("done", ["completed"]),
    ("complete", "blocked"): ("done", ["completed"]),
    ("block", "running"): ("blocked", ["blocked"]),
    ("block", "ready"): ("blocked", ["blocked"]),
    ("block", "todo"): ("blocked", ["blocked"]),
    ("block", "triage"): ("blocked", ["blocked"]),
    ("unblock", "blocked"): ("ready", ["unblocked"]),
    ("assign", "triage"): ("triage", ["assigned"]),
    ("assign", "todo"): ("todo", ["assigned"]),
    ("assign", "ready"): ("ready", ["assigned"]),
    ("assign", "blocked"): ("blocked", ["assigned"]),
    ("assign", "done"): ("done", ["assigned"]),
    ("heartbeat", "running"): ("running", ["heartbeat"]),
    ("reclaim", "running"): ("ready", ["reclaimed"]),
    ("reassign", "triage"): ("triage", ["reassigned"]),
    ("reassign", "todo"): ("todo", ["reassigned"]),
    ("reassign", "ready"): ("ready", ["reassigned"]),
    ("reassign", "blocked"): ("blocked", ["reassigned"]),
    ("archive", "triage"): ("archived", ["archived"]),
    ("archive", "todo"): ("archived", ["archived"]),
    ("archive", "ready"): ("archived", ["archived"]),
    ("archive", "running"): ("archived", ["archived"]),
    ("archive", "blocked"): ("archived", ["archived"]),
    ("archive", "done"): ("archived", ["archived"]),
    ("to_ready", "triage"): ("ready", ["promoted"]),
    ("to_todo", "triage"): ("todo", ["edited"]),
    ("to_todo", "ready"): ("todo", ["edited"]),
}
STATES = ("triage", "todo", "ready", "running", "blocked", "done", "archived")
CASES = [(verb, state) for verb in VERBS for state in STATES]


@pytest.mark.parametrize("verb,state", CASES, ids=[f"{v}-{s}" for v, s in CASES])
def test_transition_table(conn, verb, state):
    task_id = make_task(conn, state)
    before = snapshot(conn, task_id)
    cursor = last_event_id(conn)
    if (verb, state) in LEGAL:
        to_status, kinds = LEGAL[(verb, state)]
        VERBS[verb](conn, task_id)
        assert conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()[0] == to_status
        assert new_event_kinds(conn, cursor) == kinds
    else:
        with pytest.raises(Refused):
            VERBS[verb](conn, task_id)
        assert snapshot(conn, task_id) == before


def test_create_statuses_tenant_inheritance_and_skills(conn):
    parent = T.create(conn, "  Design auth schema  ", tenant="auth-project", priority=2, now=NOW)
    child = T.create(conn, "Implement", parents=[parent["task_id"]], skills=["py", "py", " sql "], now=NOW)
    triaged = T.create(conn, "raw idea", triage=True, now=NOW)
    assert (parent["status"], child["status"], triaged["status"]) == ("ready", "todo", "triage")
    row = conn.execute("SELECT title, tenant, skills FROM tasks WHERE id = ?", (child["task_id"],)).fetchone()
    assert row["tenant"] == "auth-project"
    assert json.loads(row["skills"]) == ["py", "sql"]
    title = conn.execute("SELECT title FROM tasks WHERE id = ?", (parent["task_id"],)).fetchone()[0]
    assert title == "Design auth schema"


@pytest.mark.parametrize("title", ["", "   ", "two\nlines", "x" * 501])
def test_bad_titles_refused(conn, title):
    with pytest.raises(UsageError):
        T.create(conn, title, now=NOW)
    assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0


@pytest.mark.parametrize("kwargs", [
    {"max_runtime": "soon"}, {"max_runtime": "-5m"}, {"workspace": "dir:relative/path"},
    {"workspace": "cloud:/x"}, {"parents": ["t_00000000"]},
])
def test_bad_create_arguments_change_nothing(conn, kwargs):
    with pytest.raises((UsageError, NotFound)):
        T.create(conn, "task", now=NOW, **kwargs)
    assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0


def test_durations_and_workspaces(conn):
    ids = [T.create(conn, f"t{n}", max_runtime=spec, workspace=ws, now=NOW)["task_id"]
           for n, (spec, ws) in enumerate([("300", None), ("90s", "dir:/srv/x"), ("30m", "worktree:/repo"),
                                           ("2h", "scratch"), ("1d", None)])]
    rows = conn.execute(f"SELECT max_runtime_seconds, workspace_kind, workspace_path FROM tasks "
                        f"WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall()
    assert sorted(r[0] for r in rows) == [90, 300, 1800, 7200, 86400]
    assert {(r[1], r[2]) for r in rows} >= {("dir", "/srv/x"), ("worktree", "/repo"), ("scratch", None)}


def test_idempotency_key_returns_the_live_task(conn):
    first = T.create(conn, "deploy", idempotency_key="k1", now=NOW)
    again = T.create(conn, "deploy (retry)", idempotency_key="k1", now=NOW)
    assert again == {**first, "created": False}
    T.archive(conn, first["task_id"], now=NOW)
    fresh = T.create(conn, "deploy", idempotency_key="k1", now=NOW)
    assert fresh["created"] and fresh["task_id"] != first["task_id"]


def test_huge_body_and_escape_sequences_stored_verbatim(conn):
    body = "\x1b[31mred\x1b[0m [bold]markup[/bold] \x07" + "b" * 1_000_000
    title = "evil \x1b]0;pwned\x07 [red]title[/red]"
    task_id = T.create(conn, title, body=body, now=NOW)["task_id"]
    row = conn.execute("SELECT title, body FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert (row["title"], row["body"]) == (title, body)


def test_links_refuse_self_and_cycles_and_demote_ready_child(conn):
    a, b, c = (T.create(conn, n, now=NOW)["task_id"] for n in "abc")
    with pytest.raises(Refused, match="itself"):
        T.link(conn, a, a)
    assert T.link(conn, a, b)["child_status"] == "todo"
    T.link(conn, b, c)
    with pytest.raises(Refused, match="cycle"):
        T.link(conn, c, a)
    with pytest.raises(Refused, match="already"):
        T.link(conn, a, b)
    T.complete(conn, a, summary="a done", now=NOW)
    assert conn.execute("SELECT status FROM tasks WHERE id = ?", (b,)).fetchone()[0] == "ready"
    assert T.unlink(conn, b, c)["child_status"] == "ready"


def test_move_to_ready_names_open_parents(conn):
    todo = make_task(conn, "todo")
    parent = conn.execute("SELECT parent_id FROM task_links WHERE child_id = ?", (todo,)).fetchone()[0]
    with pytest.raises(Refused, match=parent):
        T.move(conn, todo, "ready", now=NOW)


def test_claim_rechecks_parents_and_caps(conn):
    ready = [T.create(conn, f"r{n}", assignee="translator", now=NOW)["task_id"] for n in range(3)]
    T.claim(conn, ready[0], max_workers=2, profile_max_workers=1, now=NOW)
    with pytest.raises(Refused, match="profile translator is at its cap"):
        T.claim(conn, ready[1], max_workers=2, profile_max_workers=1, now=NOW)
    T.claim(conn, ready[1], max_workers=2, now=NOW)
    with pytest.raises(Refused, match="board cap"):
        T.claim(conn, ready[2], max_workers=2, now=NOW)
    with pytest.raises(Refused, match="needs ready"):
        T.claim(conn, ready[0], now=NOW)


def worker_of(conn, task_id: str) -> Caller:
    """The caller a dispatcher's worker of the task's open run would be (run id + lock)."""
    run, lock = conn.execute("SELECT current_run_id, claim_lock FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return Caller.worker(task_id, run, lock)


def test_worker_run_id_scopes_mutations(conn):
    mine, other = make_task(conn, "running"), make_task(conn, "running")
    me = worker_of(conn, mine)
    before = snapshot(conn, other)
    for verb in (lambda: T.complete(conn, other, summary="x", caller=me),
                 lambda: T.block(conn, other, reason="x", caller=me),
                 lambda: T.heartbeat(conn, other, caller=me),
                 lambda: T.archive(conn, other, caller=me),
                 lambda: T.reclaim(conn, other, caller=me),
                 lambda: T.edit(conn, other, title="mine now", caller=me),
                 lambda: T.unblock(conn, other, caller=me)):
        with pytest.raises(Refused, match=f"worker is scoped to task {mine}; refusing to mutate {other}"):
            verb()
    assert snapshot(conn, other) == before
    with pytest.raises(UsageError):
        T.block(conn, mine, reason="  ", caller=me)


def test_stale_run_id_is_refused_after_reclaim(conn):
    task_id = make_task(conn, "running")
    late = worker_of(conn, task_id)
    T.reclaim(conn, task_id, reason="stuck", now=NOW)
    T.claim(conn, task_id, now=NOW)
    before = snapshot(conn, task_id)
    with pytest.raises(Refused, match="not its open run"):
        T.complete(conn, task_id, summary="late", caller=late)
    assert snapshot(conn, task_id) == before


@pytest.mark.parametrize("lock", [None, "guessed", "lock-of-the-other-card"])
def test_a_run_id_without_its_lock_proves_nothing(conn, lock):
    mine, other = make_task(conn, "running"), make_task(conn, "running")
    theirs = worker_of(conn, other)
    if lock == "lock-of-the-other-card":
        lock = worker_of(conn, mine).lock
    impostor = Caller.worker(other, theirs.run_id, lock)
    before = snapshot(conn, other)
    for verb in (lambda: T.complete(conn, other, summary="x", caller=impostor),
                 lambda: T.block(conn, other, reason="x", caller=impostor),
                 lambda: T.heartbeat(conn, other, caller=impostor),
                 lambda: T.comment(conn, other, "signed as you", caller=impostor)):
        with pytest.raises(Refused, match="KANBAN_CLAIM_LOCK"):
            verb()
    assert snapshot(conn, other) == before


def test_a_worker_without_a_run_id_acts_for_its_tasks_open_run(conn):
    task_id = make_task(conn, "running", assignee="translator")
    run = worker_of(conn, task_id).run_id
    T.comment(conn, task_id, "halfway", author="ceo", caller=Caller.worker(task_id))
    assert conn.execute("SELECT author FROM task_comments").fetchone()[0] == "translator"
    with pytest.raises(Refused, match="KANBAN_CLAIM_LOCK does not match"):
        T.complete(conn, task_id, summary="x", caller=Caller.worker(task_id, lock="guessed"))
    done = T.complete(conn, task_id, summary="done", caller=Caller.worker(task_id), now=NOW)
    assert done["run_id"] == run
    assert tuple(conn.execute("SELECT outcome, stop_requested_at FROM task_runs WHERE id = ?", (run,)).fetchone()) == \
        ("completed", None)
    with pytest.raises(Refused, match="no open run"):
        T.block(conn, task_id, reason="late", caller=Caller.worker(task_id))


def test_the_claim_lock_is_a_secret(conn):
    task_id = make_task(conn, "ready")
    claimed = T.claim(conn, task_id, now=NOW)
    assert len(claimed["claim_lock"]) == 32
    payload = json.loads(conn.execute("SELECT payload FROM task_events WHERE kind = 'claimed'").fetchone()[0])
    assert payload == {"run_id": claimed["run_id"], "expires": NOW + 900}


def test_complete_with_handoff_and_hallucination_gate(conn):
    task_id = make_task(conn, "running", assignee="techlead")
    me = worker_of(conn, task_id)
    run = me.run_id
    real = T.create(conn, "child card", created_by="techlead", now=NOW)["task_id"]
    before = snapshot(conn, task_id)
    with pytest.raises(Refused, match="still in flight"):
        T.complete(conn, task_id, summary="x", created_cards=[real, "t_0badcafe"], caller=me)
    task, events, runs, _ = snapshot(conn, task_id)
    assert (task, runs) == before[:1] + before[2:3]
    payload = json.loads(conn.execute("SELECT payload FROM task_events WHERE kind = "
                                      "'completion_blocked_hallucination'").fetchone()[0])
    assert payload == {"phantom_cards": ["t_0badcafe"], "verified_cards": [real]}
    cursor = last_event_id(conn)
    T.complete(conn, task_id, summary=f"made {real}, see t_deadbeef", metadata='{"tests_run": 11}',
               created_cards=[real], caller=me, now=NOW + 5)
    assert new_event_kinds(conn, cursor) == ["completed", "suspected_hallucinated_references"]
    run_row = conn.execute("SELECT outcome, summary, metadata FROM task_runs WHERE id = ?", (run,)).fetchone()
    assert run_row["outcome"] == "completed" and json.loads(run_row["metadata"]) == {"tests_run": 11}


@pytest.mark.parametrize("metadata", ["[1, 2]", "not json", "42"])
def test_metadata_must_be_an_object(conn, metadata):
    task_id = make_task(conn, "ready")
    with pytest.raises(UsageError):
        T.complete(conn, task_id, summary="x", metadata=metadata)
    assert conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()[0] == "ready"


def test_completing_unclaimed_task_records_zero_length_run(conn):
    task_id = make_task(conn, "ready")
    T.complete(conn, task_id, summary="done by hand", metadata={"k": 1}, now=NOW)
    run = conn.execute("SELECT outcome, started_at, ended_at, summary FROM task_runs WHERE task_id = ?",
                       (task_id,)).fetchone()
    assert tuple(run) == ("completed", NOW, NOW, "done by hand")


def test_block_reason_on_run_and_comment(conn):
    task_id = make_task(conn, "running")
    T.block(conn, task_id, reason="reset link isn't single-use", comment=True, now=NOW)
    run = conn.execute("SELECT outcome, summary FROM task_runs WHERE task_id = ?", (task_id,)).fetchone()
    assert tuple(run) == ("blocked", "reset link isn't single-use")
    body = conn.execute("SELECT body FROM task_comments WHERE task_id = ?", (task_id,)).fetchone()[0]
    assert body == "BLOCKED: reset link isn't single-use"


def test_circuit_breaker_story(conn):
    task_id = T.create(conn, "Deploy to staging (missing creds)", assignee="deploy-bot", tenant="ops",
                       now=NOW)["task_id"]
    for attempt in range(3):
        run = T.claim(conn, task_id, now=NOW + attempt)["run_id"]
        T.end_run_failed(conn, task_id, run, "spawn_failed", error="cannot start 'deploy-agent'",
                         retry_cap=60, now=NOW + attempt)
    kinds = [r[0] for r in conn.execute("SELECT kind FROM task_events WHERE task_id = ? ORDER BY id", (task_id,))]
    assert kinds == ["created", "claimed", "spawn_failed", "claimed", "spawn_failed", "claimed", "gave_up"]
    outcomes = [r[0] for r in conn.execute("SELECT outcome FROM task_runs WHERE task_id = ? ORDER BY id", (task_id,))]
    assert outcomes == ["spawn_failed", "spawn_failed", "gave_up"]
    task = conn.execute("SELECT status, consecutive_failures FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert tuple(task) == ("blocked", 3)
    T.unblock(conn, task_id, now=NOW + 10)
    assert conn.execute("SELECT consecutive_failures FROM tasks WHERE id = ?", (task_id,)).fetchone()[0] == 0


def test_comment_and_edit(conn):
    task_id = make_task(conn, "ready")
    with pytest.raises(UsageError):
        T.comment(conn, task_id, "   ")
    T.comment(conn, task_id, "looks good", author="reviewer", now=NOW)
    cursor = last_event_id(conn)
    T.edit(conn, task_id, title="renamed", priority=5, now=NOW)
    assert new_event_kinds(conn, cursor) == ["edited", "reprioritized"]


def test_archive_promotes_children_and_assign_none(conn):
    parent = make_task(conn, "ready")
    child = T.create(conn, "child", parents=[parent], now=NOW)["task_id"]
    T.archive(conn, parent, now=NOW)
    assert conn.execute("SELECT status FROM tasks WHERE id = ?", (child,)).fetchone()[0] == "ready"
    T.assign(conn, child, "none", now=NOW)
    assert conn.execute("SELECT assignee FROM tasks WHERE id = ?", (child,)).fetchone()[0] is None


def _running_with_worker(conn, tmp_path):
    import subprocess

    from kanban_tui.kernel import procs

    task_id = make_task(conn, "running")
    run = conn.execute("SELECT current_run_id FROM tasks WHERE id = ?", (task_id,)).fetchone()[0]
    worker = subprocess.Popen(["sleep", "60"], start_new_session=True)
    T.record_spawn(conn, task_id, run, pid=worker.pid, started_at=procs.start_time(worker.pid),
                   workspace=str(tmp_path), now=NOW)
    return task_id, run, worker


@pytest.mark.parametrize("verb", ["block", "complete", "reclaim", "archive", "reassign"])
def test_ending_a_run_marks_its_worker_and_signals_nothing(conn, tmp_path, verb):
    import time

    from kanban_tui.kernel import procs, stopping

    task_id, run, worker = _running_with_worker(conn, tmp_path)
    try:
        started = time.monotonic()
        {"block": lambda: T.block(conn, task_id, reason="hold on", now=NOW),
         "complete": lambda: T.complete(conn, task_id, summary="done by hand", now=NOW),
         "reclaim": lambda: T.reclaim(conn, task_id, reason="operator", now=NOW),
         "archive": lambda: T.archive(conn, task_id, now=NOW),
         "reassign": lambda: T.reassign(conn, task_id, "qa", reclaim_first=True, now=NOW)}[verb]()
        assert time.monotonic() - started < 0.5 and worker.poll() is None
        outcome = {"block": "blocked", "complete": "completed"}.get(verb, "reclaimed")
        assert tuple(conn.execute("SELECT outcome, stop_requested_at, stopped_at FROM task_runs WHERE id = ?",
                            (run,)).fetchone()) == (outcome, NOW, None)
        stopping.stop_unowned(conn)  # no dispatcher leads: the caller's host stops it
        deadline = time.monotonic() + 2
        while procs.is_alive(worker.pid, None) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not procs.is_alive(worker.pid, None)  # reaped by the stop: Popen cannot tell how
        stopped = json.loads(conn.execute("SELECT payload FROM task_events WHERE kind = 'worker_stopped'")
                             .fetchone()[0])
        assert stopped == {"pid": worker.pid, "signal": "SIGTERM"}
        assert doctor.check(conn) == []
    finally:
        worker.kill()
        worker.wait()


def test_relative_priority_bumps_add_up(conn):
    task_id = make_task(conn, "ready")
    for _ in range(3):
        T.edit(conn, task_id, priority_delta=1, now=NOW)
    T.edit(conn, task_id, priority_delta=-1, now=NOW)
    assert conn.execute("SELECT priority FROM tasks WHERE id = ?", (task_id,)).fetchone()[0] == 2
    assert new_event_kinds(conn, 0).count("reprioritized") == 4


def test_retry_delay_starts_near_2s_doubles_and_stops_at_the_cap():
    for failures, low, high in ((1, 1.5, 2.5), (2, 3.0, 5.0), (3, 6.0, 10.0)):
        assert all(low <= T.retry_delay(failures, 60) <= high for _ in range(200))
    assert T.retry_delay(40, 60) == 60
    assert T.retry_delay(1, 0.2) == 0.2
