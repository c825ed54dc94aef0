-- Work for machines, run by the netboot environment at their next boot.
-- host_id names a row of the registry's `hosts` table (same database).
CREATE TABLE tasks (
    id             INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL CHECK (kind IN ('capture', 'restore')),
    host_id        INTEGER NOT NULL,
    image          TEXT    NOT NULL,
    hooks          TEXT    NOT NULL,   -- JSON array of hooks
    options        TEXT    NOT NULL,   -- JSON object of task options
    not_before     INTEGER,            -- Unix seconds (--at)
    window         TEXT,               -- "22:00-06:00", local time
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL,
    error          TEXT,
    token_hash     TEXT,
    token_expires  INTEGER,
    woken_at       INTEGER,
    phase          TEXT,
    bytes_done     INTEGER,
    bytes_total    INTEGER,
    rate           REAL,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER
);
CREATE INDEX tasks_host ON tasks (host_id, state);
CREATE INDEX tasks_state ON tasks (state);
CREATE UNIQUE INDEX tasks_token ON tasks (token_hash);

-- Each task's history: boots, phases, progress samples, hook output, outcome.
CREATE TABLE task_log (
    id           INTEGER PRIMARY KEY,
    task_id      INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    phase        TEXT    NOT NULL,
    bytes_done   INTEGER,
    bytes_total  INTEGER,
    rate         REAL,
    message      TEXT    NOT NULL
);
CREATE INDEX task_log_task ON task_log (task_id, id);
