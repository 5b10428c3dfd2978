-- Round 3: several hosts. Each dispatcher registers its host here and holds the row as its host
-- lease (renewed on the database clock); the housekeeping lease stays in dispatcher_lease.
-- `holder` is `machine:pid` of the process holding the lease; `profiles` the JSON array of the
-- profiles the host spawns, NULL when its default_command spawns any assignee.

CREATE TABLE dispatchers (
    host_id       TEXT PRIMARY KEY CHECK (length(host_id) BETWEEN 1 AND 200),
    holder        TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    REAL NOT NULL,
    heartbeat_at  REAL NOT NULL,
    lease_expires REAL NOT NULL,
    last_tick_at  REAL,
    profiles      TEXT CHECK (profiles IS NULL OR (json_valid(profiles) AND json_type(profiles) = 'array')),
    live_workers  INTEGER NOT NULL DEFAULT 0 CHECK (live_workers >= 0),
    max_workers   INTEGER NOT NULL DEFAULT 0 CHECK (max_workers >= 0),
    -- a clean stop: the lease runs on so a restart within it adopts the workers left running
    stopped_at    REAL
) STRICT;

-- a host's open runs: its caps are counted and its losses found through this
CREATE INDEX task_runs_open_by_host ON task_runs (host_id) WHERE status = 'running';
