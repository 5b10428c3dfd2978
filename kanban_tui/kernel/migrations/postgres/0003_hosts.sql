-- ../0003_hosts.sql on PostgreSQL, plus the live feed: a commit that writes events or a nudge
-- notifies channel `kanban_board` (once per transaction: PostgreSQL folds identical
-- notifications), which dispatchers and boards LISTEN on.
-- See https://www.postgresql.org/docs/15/sql-notify.html

CREATE TABLE dispatchers (
    host_id       TEXT COLLATE "C" PRIMARY KEY CHECK (length(host_id) BETWEEN 1 AND 200),
    holder        TEXT COLLATE "C" NOT NULL,
    pid           BIGINT NOT NULL,
    started_at    DOUBLE PRECISION NOT NULL,
    heartbeat_at  DOUBLE PRECISION NOT NULL,
    lease_expires DOUBLE PRECISION NOT NULL,
    last_tick_at  DOUBLE PRECISION,
    profiles      TEXT COLLATE "C" CHECK (profiles IS NULL OR jsonb_typeof(profiles::jsonb) = 'array'),
    live_workers  BIGINT NOT NULL DEFAULT 0 CHECK (live_workers >= 0),
    max_workers   BIGINT NOT NULL DEFAULT 0 CHECK (max_workers >= 0),
    stopped_at    DOUBLE PRECISION
);

CREATE INDEX task_runs_open_by_host ON task_runs (host_id) WHERE status = 'running';

CREATE FUNCTION kanban_notify_board() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kanban_board', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER task_events_notify AFTER INSERT ON task_events
    FOR EACH STATEMENT EXECUTE FUNCTION kanban_notify_board();
CREATE TRIGGER settings_notify AFTER INSERT OR UPDATE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION kanban_notify_board();
