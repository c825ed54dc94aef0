-- Images committed to the catalog. The manifest is stored zstd-compressed;
-- `root` is the BLAKE3 hash of its uncompressed bytes.
CREATE TABLE images (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    root          TEXT    NOT NULL,
    source_size   INTEGER NOT NULL,
    data_bytes    INTEGER NOT NULL,
    chunks        INTEGER NOT NULL,
    unique_chunks INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    manifest      BLOB    NOT NULL
);

-- Captures in flight. Chunks they upload are protected from GC until the
-- upload is committed, aborted or expires.
CREATE TABLE uploads (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    replace     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('open', 'committed', 'aborted'))
);
CREATE INDEX uploads_open ON uploads (state, last_seen);
