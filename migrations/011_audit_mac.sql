-- Keyed audit chain (issue 15): each record names the keyset key whose chain key
-- (derived from the keyset, never stored here) links it with HMAC-SHA256. 0 marks
-- a record linked with plain SHA-256 (written before this migration, or by a
-- process without a keyset).
alter table audit_log add column mac_key bigint not null default 0 check (mac_key >= 0 and mac_key < 4294967296);
