-- `content` hashes what an image restores to (layout and extents), without
-- the capture's time, host and source, so re-capturing an unchanged disk
-- gives the same value. Rows from before are filled in by parc at open.
ALTER TABLE images ADD COLUMN content TEXT;

-- An open upload reserves its image name: at most one per name. `origin`
-- says who captures (host and source); a re-run from the same origin takes
-- the name over, anyone else is refused until the upload ends or goes stale.
CREATE TABLE uploads_v2 (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    replace     INTEGER NOT NULL,
    origin      TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('open', 'committed', 'aborted', 'expired'))
);
INSERT INTO uploads_v2 (id, name, replace, started_at, last_seen, state)
    SELECT id, name, replace, started_at, last_seen, state FROM uploads;
-- Before names were reserved, one name could have several open uploads:
-- the latest keeps it.
UPDATE uploads_v2 SET state = 'aborted'
    WHERE state = 'open'
      AND rowid NOT IN (SELECT MAX(rowid) FROM uploads_v2 WHERE state = 'open' GROUP BY name);
DROP TABLE uploads;
ALTER TABLE uploads_v2 RENAME TO uploads;
CREATE INDEX uploads_open ON uploads (state, last_seen);
CREATE UNIQUE INDEX uploads_one_open_per_name ON uploads (name) WHERE state = 'open';
