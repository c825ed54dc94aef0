-- The hardware inventory the netboot environment reports (JSON), and when.
ALTER TABLE hosts ADD COLUMN hardware TEXT;
ALTER TABLE hosts ADD COLUMN hardware_at INTEGER;
