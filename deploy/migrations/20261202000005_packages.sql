-- Deployment packages: a name, the manifest's root hash and figures, the
-- command it runs, and the manifest (JSON). The chunks live in the image
-- store, held in chunk_holds under "package NAME@ROOT".
CREATE TABLE packages (
    name        TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
    root        TEXT    NOT NULL,
    files       INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    run         TEXT,
    created_at  INTEGER NOT NULL,
    entity_id   INTEGER NOT NULL DEFAULT 1,
    manifest    BLOB    NOT NULL
);
