-- What the hosts screen searches, kept on each host row so that a search
-- at 100,000 hosts reads two columns instead of parsing JSON and probing
-- the MAC table per row: find_text holds hostname, IP, UUID and serial
-- number, lower case, one per line; find_macs the MACs as bare hex,
-- space-separated. Triggers keep them, whoever writes.
ALTER TABLE hosts ADD COLUMN find_text TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN find_macs TEXT NOT NULL DEFAULT '';

CREATE TRIGGER hosts_find_insert AFTER INSERT ON hosts
BEGIN
    UPDATE hosts SET find_text = lower(COALESCE(NEW.hostname, '')) || char(10) || COALESCE(NEW.ip, '') || char(10)
        || lower(COALESCE(NEW.uuid, '')) || char(10) || lower(COALESCE(json_extract(NEW.hardware, '$.dmi.product_serial'), ''))
    WHERE id = NEW.id;
END;

CREATE TRIGGER hosts_find_update AFTER UPDATE OF hostname, ip, uuid, hardware ON hosts
BEGIN
    UPDATE hosts SET find_text = lower(COALESCE(NEW.hostname, '')) || char(10) || COALESCE(NEW.ip, '') || char(10)
        || lower(COALESCE(NEW.uuid, '')) || char(10) || lower(COALESCE(json_extract(NEW.hardware, '$.dmi.product_serial'), ''))
    WHERE id = NEW.id;
END;

CREATE TRIGGER host_macs_find_insert AFTER INSERT ON host_macs
BEGIN
    UPDATE hosts SET find_macs = (SELECT COALESCE(group_concat(replace(mac, ':', ''), ' '), '') FROM host_macs WHERE host_id = NEW.host_id)
    WHERE id = NEW.host_id;
END;

CREATE TRIGGER host_macs_find_delete AFTER DELETE ON host_macs
BEGIN
    UPDATE hosts SET find_macs = (SELECT COALESCE(group_concat(replace(mac, ':', ''), ' '), '') FROM host_macs WHERE host_id = OLD.host_id)
    WHERE id = OLD.host_id;
END;

UPDATE hosts SET
    find_text = lower(COALESCE(hostname, '')) || char(10) || COALESCE(ip, '') || char(10)
        || lower(COALESCE(uuid, '')) || char(10) || lower(COALESCE(json_extract(hardware, '$.dmi.product_serial'), '')),
    find_macs = (SELECT COALESCE(group_concat(replace(m.mac, ':', ''), ' '), '') FROM host_macs m WHERE m.host_id = hosts.id);
