-- The entity an image belongs to, and the one an upload will give it.
ALTER TABLE images ADD COLUMN entity_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE uploads ADD COLUMN entity_id INTEGER NOT NULL DEFAULT 1;
