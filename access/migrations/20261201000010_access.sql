-- Accounts, roles on an entity tree, API tokens and the audit log.

-- The entity tree (e.g. Ministry / Site A / Lab 3). Entity 1 is the root,
-- which every other hangs under; objects belong to one entity.
CREATE TABLE entities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id  INTEGER REFERENCES entities (id) ON DELETE RESTRICT,
    name       TEXT    NOT NULL,
    CHECK ((id = 1) = (parent_id IS NULL))
);
CREATE UNIQUE INDEX entities_name_per_parent ON entities (coalesce(parent_id, 0), name COLLATE NOCASE);
INSERT INTO entities (id, parent_id, name) VALUES (1, NULL, '');

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    -- argon2id PHC string; NULL: no password login (tokens only).
    password_hash  TEXT,
    created_at     INTEGER NOT NULL
);

-- A role is a set of permissions (space-separated names, e.g. `image.read`).
CREATE TABLE roles (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    builtin      INTEGER NOT NULL DEFAULT 0,
    permissions  TEXT    NOT NULL
);
INSERT INTO roles (name, builtin, permissions) VALUES
    ('admin', 1, 'image.read image.capture image.delete host.read host.edit host.wake task.read task.create task.cancel user.admin audit.read'),
    ('technician', 1, 'image.read host.read host.wake task.read task.create task.cancel'),
    ('viewer', 1, 'image.read host.read task.read');

-- A role granted to a user on an entity holds there and everywhere below.
CREATE TABLE grants (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    INTEGER NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
    entity_id  INTEGER NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id, entity_id)
);

-- API tokens: only the BLAKE3 hash of the secret is kept.
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    last_used   INTEGER,
    revoked_at  INTEGER
);

-- Every mutating request and every denial. Append-only: the triggers
-- refuse any change, whoever asks.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    auth        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    permission  TEXT,
    entity      TEXT,
    object      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
