-- Host ids are never reused: a machine registered after another was
-- removed must not inherit what was ordered for it. The highest id ever
-- given outlives deletions (what AUTOINCREMENT's sqlite_sequence does,
-- without rebuilding `hosts` and every table that refers to it); inserts
-- take the next one.
CREATE TABLE host_id_high (high INTEGER NOT NULL);
INSERT INTO host_id_high (high) SELECT COALESCE(MAX(id), 0) FROM hosts;
CREATE TRIGGER hosts_id_high AFTER INSERT ON hosts
BEGIN
    UPDATE host_id_high SET high = MAX(high, NEW.id);
END;
