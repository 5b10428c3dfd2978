-- The board. STRICT tables, CHECKed enums and partial unique indexes keep it honest.

CREATE TABLE tasks (
    id                    TEXT PRIMARY KEY CHECK (id GLOB 't_[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    title                 TEXT NOT NULL CHECK (length(trim(title)) BETWEEN 1 AND 500),
    body                  TEXT NOT NULL DEFAULT '',
    assignee              TEXT CHECK (assignee IS NULL OR length(assignee) > 0),
    status                TEXT NOT NULL CHECK (status IN ('triage','todo','ready','running','blocked','done','archived')),
    priority              INTEGER NOT NULL DEFAULT 0,
    tenant                TEXT,
    workspace_kind        TEXT NOT NULL DEFAULT 'scratch' CHECK (workspace_kind IN ('scratch','dir','worktree')),
    workspace_path        TEXT,
    workspace_managed     INTEGER NOT NULL DEFAULT 0 CHECK (workspace_managed IN (0, 1)),
    created_by            TEXT,
    created_at            REAL NOT NULL,
    updated_at            REAL NOT NULL,
    started_at            REAL,
    completed_at          REAL,
    result                TEXT,
    skills                TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(skills) AND json_type(skills) = 'array'),
    max_runtime_seconds   INTEGER CHECK (max_runtime_seconds IS NULL OR max_runtime_seconds > 0),
    idempotency_key       TEXT,
    claim_lock            TEXT,
    claim_expires         REAL,
    current_run_id        INTEGER,
    worker_pid            INTEGER,
    worker_started_at     REAL,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_failure_error    TEXT,
    last_heartbeat_at     REAL,
    retry_after           REAL,
    -- a running task holds a claim and a run; nothing else does
    CHECK ((status = 'running') = (claim_lock IS NOT NULL)),
    CHECK ((status = 'running') = (current_run_id IS NOT NULL)),
    CHECK (worker_pid IS NULL OR status = 'running')
) STRICT;

CREATE INDEX tasks_by_column ON tasks (status, priority DESC, created_at, id);
CREATE INDEX tasks_by_assignee ON tasks (assignee, status);
CREATE INDEX tasks_by_tenant ON tasks (tenant, status);
CREATE INDEX tasks_failing ON tasks (status, consecutive_failures) WHERE consecutive_failures > 0;
CREATE UNIQUE INDEX tasks_live_idempotency_key ON tasks (idempotency_key)
    WHERE idempotency_key IS NOT NULL AND status <> 'archived';

CREATE TABLE task_links (
    parent_id  TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    child_id   TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    PRIMARY KEY (parent_id, child_id),
    CHECK (parent_id <> child_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX task_links_by_child ON task_links (child_id, parent_id);

CREATE TABLE task_runs (
    id                 INTEGER PRIMARY KEY,
    task_id            TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    profile            TEXT,
    status             TEXT NOT NULL CHECK (status IN ('running','ended')),
    outcome            TEXT CHECK (outcome IN ('completed','blocked','crashed','timed_out','spawn_failed',
                                               'gave_up','reclaimed','protocol_violation')),
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
    -- open runs have no outcome; closed runs have one
    CHECK ((status = 'running') = (ended_at IS NULL)),
    CHECK ((status = 'running') = (outcome IS NULL))
) STRICT;

CREATE UNIQUE INDEX task_runs_one_open_per_task ON task_runs (task_id) WHERE status = 'running';
CREATE INDEX task_runs_by_task ON task_runs (task_id, id);

CREATE TABLE task_comments (
    id         INTEGER PRIMARY KEY,
    task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL CHECK (length(trim(body)) > 0),
    created_at REAL NOT NULL
) STRICT;

CREATE INDEX task_comments_by_task ON task_comments (task_id, id);

CREATE TABLE task_events (
    id         INTEGER PRIMARY KEY,
    task_id    TEXT REFERENCES tasks (id) ON DELETE CASCADE,
    run_id     INTEGER,
    kind       TEXT NOT NULL CHECK (kind IN (
        'created','edited','assigned','reprioritized','linked','unlinked','promoted','claimed',
        'spawned','heartbeat','commented','completed','blocked','unblocked','archived','reclaimed',
        'reassigned','crashed','timed_out','spawn_failed','gave_up','protocol_violation',
        'skipped_nonspawnable','completion_blocked_hallucination','suspected_hallucinated_references')),
    payload    TEXT CHECK (payload IS NULL OR json_valid(payload)),
    created_at REAL NOT NULL
) STRICT;

CREATE INDEX task_events_by_task ON task_events (task_id, id);
-- a card's warning is its newest hallucination event unless a later `completed` superseded it
CREATE INDEX task_events_handoffs ON task_events (task_id, id)
    WHERE kind IN ('completed', 'completion_blocked_hallucination', 'suspected_hallucinated_references');

CREATE TABLE notify_subs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    platform     TEXT NOT NULL CHECK (length(platform) > 0),
    chat_id      TEXT NOT NULL CHECK (length(chat_id) > 0),
    thread_id    TEXT NOT NULL DEFAULT '',
    user_id      TEXT,
    created_at   REAL NOT NULL,
    UNIQUE (task_id, platform, chat_id, thread_id)
) STRICT;

-- Live column counts, kept by triggers, so the board's counts cost O(1) at any size.
CREATE TABLE task_counts (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO task_counts (status, n)
    SELECT value, 0 FROM json_each('["triage","todo","ready","running","blocked","done","archived"]');

CREATE TRIGGER task_counts_on_insert AFTER INSERT ON tasks BEGIN
    UPDATE task_counts SET n = n + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER task_counts_on_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER task_counts_on_move AFTER UPDATE OF status ON tasks WHEN OLD.status <> NEW.status BEGIN
    UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
    UPDATE task_counts SET n = n + 1 WHERE status = NEW.status;
END;

-- one row per (subscription, event) delivered, so a notification is sent once
CREATE TABLE notify_deliveries (
    sub_id       INTEGER NOT NULL REFERENCES notify_subs (id) ON DELETE CASCADE,
    event_id     INTEGER NOT NULL,
    delivered_at REAL NOT NULL,
    ok           INTEGER NOT NULL,
    PRIMARY KEY (sub_id, event_id)
) STRICT, WITHOUT ROWID;

-- the single dispatcher leader lease (River's leader table)
CREATE TABLE dispatcher_lease (
    name          TEXT PRIMARY KEY CHECK (name = 'dispatcher'),
    holder        TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    acquired_at   REAL NOT NULL,
    expires_at    REAL NOT NULL,
    last_tick_at  REAL,
    live_workers  INTEGER NOT NULL DEFAULT 0,
    max_workers   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- observers bump this to wake the leader (a nudge)
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT
) STRICT;
