-- Machines parc knows. A host is created by an administrator (`parc host add`,
-- CSV import) or by the boot services the first time its firmware asks.
CREATE TABLE hosts (
    id          INTEGER PRIMARY KEY,
    hostname    TEXT    UNIQUE,
    uuid        TEXT,
    arch        TEXT,
    state       TEXT    NOT NULL CHECK (state IN ('new', 'ready', 'retired')),
    ip          TEXT,
    secureon    TEXT,
    first_seen  INTEGER,
    last_seen   INTEGER,
    created_at  INTEGER NOT NULL
);

-- A host has one or more network cards; a MAC belongs to one host.
CREATE TABLE host_macs (
    mac      TEXT    PRIMARY KEY,
    host_id  INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE
);
CREATE INDEX host_macs_host ON host_macs (host_id);

-- Static groups, by name.
CREATE TABLE host_groups (
    host_id  INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name     TEXT    NOT NULL,
    PRIMARY KEY (host_id, name)
);
CREATE INDEX host_groups_name ON host_groups (name);

-- What happened to a host: boots served, check-ins, edits. Bounded per host
-- by the code that writes it.
CREATE TABLE host_events (
    id       INTEGER PRIMARY KEY,
    host_id  INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    detail   TEXT    NOT NULL
);
CREATE INDEX host_events_host ON host_events (host_id, id);
