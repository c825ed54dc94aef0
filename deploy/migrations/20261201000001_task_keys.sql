-- Tasks declare what they point at. A task belongs to a registered host
-- (removing a host takes its finished history with it, and is refused while
-- it has an unfinished task); a restore points at its image when it exists
-- (a replaced image keeps its row, so the task follows it; deleting an
-- image is refused while an unfinished task needs it, and leaves finished
-- tasks with the name only). Task ids are never reused.
-- Runs after the catalog's and the registry's migrations (same database).
CREATE TABLE tasks_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT    NOT NULL CHECK (kind IN ('capture', 'restore')),
    host_id        INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    image          TEXT    NOT NULL,
    image_id       INTEGER REFERENCES images (id) ON DELETE SET NULL,
    hooks          TEXT    NOT NULL,
    options        TEXT    NOT NULL,
    not_before     INTEGER,
    window         TEXT,
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
    finished_at    INTEGER,
    CHECK (image_id IS NULL OR kind = 'restore')
);
-- Tasks whose host was removed before this migration are dropped: they
-- could only ever have run on whichever machine got the id next.
INSERT INTO tasks_new (id, kind, host_id, image, image_id, hooks, options, not_before, window, state, attempts, max_attempts,
                       error, token_hash, token_expires, woken_at, phase, bytes_done, bytes_total, rate, created_at, started_at, finished_at)
SELECT t.id, t.kind, t.host_id, t.image, CASE WHEN t.kind = 'restore' THEN (SELECT i.id FROM images i WHERE i.name = t.image) END,
       t.hooks, t.options, t.not_before, t.window, t.state, t.attempts, t.max_attempts,
       t.error, t.token_hash, t.token_expires, t.woken_at, t.phase, t.bytes_done, t.bytes_total, t.rate, t.created_at, t.started_at, t.finished_at
FROM tasks t WHERE t.host_id IN (SELECT id FROM hosts);

CREATE TABLE task_log_new (
    id           INTEGER PRIMARY KEY,
    task_id      INTEGER NOT NULL REFERENCES tasks_new (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    phase        TEXT    NOT NULL,
    bytes_done   INTEGER,
    bytes_total  INTEGER,
    rate         REAL,
    message      TEXT    NOT NULL
);
INSERT INTO task_log_new SELECT * FROM task_log WHERE task_id IN (SELECT id FROM tasks_new);

-- The log first, so dropping the old tasks cascades into nothing.
DROP TABLE task_log;
DROP TABLE tasks;
-- Renaming rewrites task_log_new's reference to the new name.
ALTER TABLE tasks_new RENAME TO tasks;
ALTER TABLE task_log_new RENAME TO task_log;
CREATE INDEX tasks_host ON tasks (host_id, state);
CREATE INDEX tasks_state ON tasks (state);
CREATE INDEX tasks_image ON tasks (image_id);
CREATE UNIQUE INDEX tasks_token ON tasks (token_hash);
CREATE INDEX task_log_task ON task_log (task_id, id);

CREATE TRIGGER hosts_keep_unfinished_tasks BEFORE DELETE ON hosts
WHEN EXISTS (SELECT 1 FROM tasks WHERE host_id = OLD.id AND state IN ('pending', 'running'))
BEGIN
    SELECT RAISE(ABORT, 'parc: the host has an unfinished task');
END;

CREATE TRIGGER images_keep_unfinished_tasks BEFORE DELETE ON images
WHEN EXISTS (SELECT 1 FROM tasks WHERE image_id = OLD.id AND state IN ('pending', 'running'))
BEGIN
    SELECT RAISE(ABORT, 'parc: an unfinished task needs the image');
END;
