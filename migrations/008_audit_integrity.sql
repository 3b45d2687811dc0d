-- Keyed audit chain (issue 15): each record names the keyset key whose chain key
-- (derived from the keyset, never stored here) links it with HMAC-SHA256. 0 marks
-- a record linked with plain SHA-256 (written before this migration, or by a
-- process without a keyset).
alter table audit_log add column mac_key bigint not null default 0 check (mac_key >= 0 and mac_key < 4294967296);

-- The service connects as an application role that owns nothing (issue 15; `pgo
-- migrate` creates it and grants it what it needs, store/roles.go). New month
-- partitions are still created on the hot path, so the function that creates them
-- runs with its owner's rights, with a fixed search_path (this schema, then
-- pg_temp) so that a caller cannot slip its own objects in.
alter function audit_ensure_partition(timestamptz) security definer;
do $$
begin
    execute format('alter function audit_ensure_partition(timestamptz) set search_path = %I, pg_temp', current_schema());
end $$;
