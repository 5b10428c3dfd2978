-- Round 2: runs record who claimed them, on which host, in which role, and whether their worker
-- was asked to stop and was stopped; the kinds pinned for this round are allowed. SQLite cannot
-- alter a CHECK, so task_runs and task_events are rebuilt (nothing references them by key).

CREATE TABLE task_runs_new (
    id                 INTEGER PRIMARY KEY,
    task_id            TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    profile            TEXT,
    status             TEXT NOT NULL CHECK (status IN ('running','ended')),
    outcome            TEXT CHECK (outcome IN ('completed','blocked','crashed','timed_out','spawn_failed',
                                               'gave_up','reclaimed','protocol_violation','rate_limited')),
    summary            TEXT,
    metadata           TEXT CHECK (metadata IS NULL OR (json_valid(metadata) AND json_type(metadata) = 'object')),
    error              TEXT,
    worker_pid         INTEGER,
    worker_started_at  REAL,
    workspace          TEXT,
    claim_lock         TEXT,
    claim_expires      REAL,
    started_at         REAL NOT NULL,
    ended_at           REAL,
    last_heartbeat_at  REAL,
    -- the dispatcher (holder `host:pid`) that claimed the run; NULL for a claim by hand
    claimer            TEXT,
    -- the role of the profile at claim time: what makes a worker an orchestrator
    role               TEXT NOT NULL DEFAULT 'worker' CHECK (role IN ('worker','orchestrator')),
    host_id            TEXT,
    -- set when a verb ended the run under a live worker; stopped_at when a dispatcher (or the
    -- CLI/TUI of its host) has stopped it
    stop_requested_at  REAL,
    stopped_at         REAL,
    CHECK ((status = 'running') = (ended_at IS NULL)),
    CHECK ((status = 'running') = (outcome IS NULL)),
    CHECK (stopped_at IS NULL OR stop_requested_at IS NOT NULL)
) STRICT;

INSERT INTO task_runs_new (id, task_id, profile, status, outcome, summary, metadata, error, worker_pid,
                           worker_started_at, workspace, claim_lock, claim_expires, started_at, ended_at,
                           last_heartbeat_at, claimer)
    SELECT id, task_id, profile, status, outcome, summary, metadata, error, worker_pid, worker_started_at,
           workspace, claim_lock, claim_expires, started_at, ended_at, last_heartbeat_at,
           -- round 1 dispatchers wrote "<holder>/<random>" locks
           CASE WHEN instr(claim_lock, '/') > 0 THEN substr(claim_lock, 1, instr(claim_lock, '/') - 1) END
    FROM task_runs;

DROP TABLE task_runs;
ALTER TABLE task_runs_new RENAME TO task_runs;
CREATE UNIQUE INDEX task_runs_one_open_per_task ON task_runs (task_id) WHERE status = 'running';
CREATE INDEX task_runs_by_task ON task_runs (task_id, id);
CREATE INDEX task_runs_to_stop ON task_runs (id) WHERE stop_requested_at IS NOT NULL AND stopped_at IS NULL;

CREATE TABLE task_events_new (
    id         INTEGER PRIMARY KEY,
    task_id    TEXT REFERENCES tasks (id) ON DELETE CASCADE,
    run_id     INTEGER,
    kind       TEXT NOT NULL CHECK (kind IN (
        'created','edited','assigned','reprioritized','linked','unlinked','promoted','claimed',
        'spawned','heartbeat','commented','completed','blocked','unblocked','archived','reclaimed',
        'reassigned','crashed','timed_out','spawn_failed','gave_up','protocol_violation',
        'skipped_nonspawnable','completion_blocked_hallucination','suspected_hallucinated_references',
        'worker_stopped','imported','rate_limited')),
    payload    TEXT CHECK (payload IS NULL OR json_valid(payload)),
    created_at REAL NOT NULL
) STRICT;

-- the claim lock is a secret now: it leaves the claimed events it was written into
INSERT INTO task_events_new (id, task_id, run_id, kind, payload, created_at)
    SELECT id, task_id, run_id, kind,
           CASE WHEN kind = 'claimed' AND payload IS NOT NULL THEN json_remove(payload, '$.lock') ELSE payload END,
           created_at
    FROM task_events;

DROP TABLE task_events;
ALTER TABLE task_events_new RENAME TO task_events;
CREATE INDEX task_events_by_task ON task_events (task_id, id);
CREATE INDEX task_events_handoffs ON task_events (task_id, id)
    WHERE kind IN ('completed', 'completion_blocked_hallucination', 'suspected_hallucinated_references');
