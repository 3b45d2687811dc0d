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

-- Login throttling that an attacker cannot turn into a lock-out of the owner
-- (issue 15): wrong passwords slow down the source they come from (an IPv4
-- address or an IPv6 /64), per account, with growing delays; the owner's own
-- source is not affected. The account counts failed attempts since its last
-- login, and a new session carries that number so the owner is told.
create table login_source (
    account_id    uuid not null references accounts (id) on delete cascade,
    source        text not null,
    failures      int not null check (failures > 0),
    blocked_until timestamptz,
    primary key (account_id, source)
);
alter table accounts add column failed_since_login int not null default 0 check (failed_since_login >= 0);
alter table sessions add column failed_before int not null default 0 check (failed_before >= 0);
