"""The claim on PostgreSQL as one statement: the claim query of the store layer.

`transitions.claim` reads, checks, inserts the run, updates the task and appends the event:
five statements, each a round trip to a server (nothing on SQLite). Here a claim that
succeeds is one statement of data-modifying CTEs doing the same writes with the same values
and event payload; when it claims nothing, `transitions.claim` goes on with its own reads,
which name the reason (not ready, a cap, open parents) exactly as on SQLite. The task row is
taken `FOR UPDATE SKIP LOCKED`: a row another session holds is not waited for here.
See https://www.postgresql.org/docs/15/queries-with.html#QUERIES-WITH-MODIFYING and
https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE
"""

from __future__ import annotations

from kanban_tui.kernel.models import dumps

CLAIM_SQL = """
WITH task AS (
    SELECT t.id, t.assignee FROM tasks t
    WHERE t.id = :task_id AND t.status = 'ready' AND t.claim_lock IS NULL
      AND (CAST(:cap AS BIGINT) IS NULL
           OR (SELECT count(*) FROM (SELECT 1 FROM task_runs WHERE status = 'running' AND host_id = :host
                                     LIMIT :cap) AS live) < :cap)
      AND (CAST(:profile_cap AS BIGINT) IS NULL
           OR (SELECT count(*) FROM (SELECT 1 FROM task_runs r WHERE r.status = 'running' AND r.host_id = :host
                                     AND r.profile = t.assignee LIMIT :profile_cap) AS mine) < :profile_cap)
      AND (CAST(:fence AS TEXT) IS NULL
           OR EXISTS (SELECT 1 FROM dispatchers d WHERE d.host_id = :host AND d.holder = :fence
                      AND d.stopped_at IS NULL
                      AND d.lease_expires > extract(epoch FROM clock_timestamp())))
      AND NOT EXISTS (SELECT 1 FROM task_links l JOIN tasks p ON p.id = l.parent_id
                      WHERE l.child_id = t.id AND p.status NOT IN ('done', 'archived'))
    FOR UPDATE OF t SKIP LOCKED
), run AS (
    INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, started_at, claimer, role, host_id)
    SELECT id, assignee, 'running', :lock, :expires, :now, :claimer, :role, :host FROM task
    RETURNING id, task_id, profile
), claimed AS (
    UPDATE tasks t SET status = 'running', claim_lock = :lock, claim_expires = :expires,
        current_run_id = run.id, started_at = coalesce(t.started_at, :now), retry_after = NULL,
        updated_at = :now
    FROM run WHERE t.id = run.task_id
    RETURNING t.id
), event AS (
    INSERT INTO task_events (task_id, run_id, kind, payload, created_at)
    SELECT task_id, id, 'claimed', :payload_head || id || :payload_tail, :now FROM run
)
SELECT run.id, run.profile FROM run
"""


def claim(c, task_id: str, *, lock: str, expires: float, now: float, max_workers: int | None,
          profile_max_workers: int | None, claimer: str | None, role: str, host: str,
          fence: str | None) -> dict | None:
    """Claim in one statement; the claim's result, or None when the task was not claimable."""
    # the payload text is exactly dumps({"run_id": ..., "expires": ...}), as on SQLite
    tail = "," + dumps({"expires": expires})[1:]
    row = c.execute(CLAIM_SQL, {"task_id": task_id, "cap": max_workers, "profile_cap": profile_max_workers,
                                "lock": lock, "expires": expires, "now": now, "claimer": claimer,
                                "role": role, "host": host, "fence": fence,
                                "payload_head": '{"run_id":', "payload_tail": tail}).fetchone()
    if row is None:
        return None
    return {"task_id": task_id, "run_id": row[0], "claim_lock": lock, "claim_expires": expires,
            "assignee": row[1]}
