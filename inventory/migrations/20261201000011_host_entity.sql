-- The entity a host belongs to (the access tables' tree; 1 is the root).
-- No foreign key: the access tables are made after these.
ALTER TABLE hosts ADD COLUMN entity_id INTEGER NOT NULL DEFAULT 1;
