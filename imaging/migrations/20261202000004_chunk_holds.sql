-- Chunks held by something other than an image (a deployment package), so
-- that garbage collection keeps them and a check names who needs them:
-- one row per holder and chunk. Holding before the holder's own record is
-- written, and releasing after it is gone, errs on keeping.
CREATE TABLE chunk_holds (
    holder TEXT NOT NULL,
    chunk  TEXT NOT NULL,
    PRIMARY KEY (holder, chunk)
) WITHOUT ROWID;
