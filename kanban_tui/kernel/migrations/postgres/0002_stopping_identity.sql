-- ../0002_stopping_identity.sql on PostgreSQL: runs record who claimed them, on which host, in
-- which role, and whether their worker was asked to stop and was stopped; the kinds and the
-- outcome pinned for this round are allowed. PostgreSQL alters in place what SQLite rebuilds;
-- the new columns come last, in SQLite's order.

ALTER TABLE task_runs DROP CONSTRAINT task_runs_outcome_check;
ALTER TABLE task_runs ADD CONSTRAINT task_runs_outcome_check CHECK (outcome IN (
    'completed','blocked','crashed','timed_out','spawn_failed','gave_up','reclaimed','protocol_violation',
    'rate_limited'));

ALTER TABLE task_runs
    -- the dispatcher (holder `host:pid`) that claimed the run; NULL for a claim by hand
    ADD COLUMN claimer TEXT COLLATE "C",
    -- the role of the profile at claim time: what makes a worker an orchestrator
    ADD COLUMN role TEXT COLLATE "C" NOT NULL DEFAULT 'worker' CHECK (role IN ('worker','orchestrator')),
    ADD COLUMN host_id TEXT COLLATE "C",
    -- set when a verb ended the run under a live worker; stopped_at when a dispatcher (or the
    -- CLI/TUI of its host) has stopped it
    ADD COLUMN stop_requested_at DOUBLE PRECISION,
    ADD COLUMN stopped_at DOUBLE PRECISION,
    ADD CHECK (stopped_at IS NULL OR stop_requested_at IS NOT NULL);

-- round 1 dispatchers wrote "<holder>/<random>" locks
UPDATE task_runs SET claimer = split_part(claim_lock, '/', 1) WHERE strpos(claim_lock, '/') > 0;

CREATE INDEX task_runs_to_stop ON task_runs (id) WHERE stop_requested_at IS NOT NULL AND stopped_at IS NULL;

ALTER TABLE task_events DROP CONSTRAINT task_events_kind_check;
ALTER TABLE task_events ADD CONSTRAINT task_events_kind_check CHECK (kind IN (
    'created','edited','assigned','reprioritized','linked','unlinked','promoted','claimed',
    'spawned','heartbeat','commented','completed','blocked','unblocked','archived','reclaimed',
    'reassigned','crashed','timed_out','spawn_failed','gave_up','protocol_violation',
    'skipped_nonspawnable','completion_blocked_hallucination','suspected_hallucinated_references',
    'worker_stopped','imported','rate_limited'));

-- the claim lock is a secret now: it leaves the claimed events it was written into (jsonb
-- rewrites the payload's spacing and key order, which no reader depends on)
UPDATE task_events SET payload = (payload::jsonb - 'lock')::text
    WHERE kind = 'claimed' AND payload IS NOT NULL AND payload::jsonb ? 'lock';
