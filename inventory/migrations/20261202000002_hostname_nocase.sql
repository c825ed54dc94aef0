-- Hostnames are one name whatever their case (as in DNS), and every
-- lookup compares them NOCASE: without an index in that collation each
-- lookup scanned the table, and importing 100,000 hosts took minutes.
CREATE UNIQUE INDEX hosts_hostname_nocase ON hosts (hostname COLLATE NOCASE);
