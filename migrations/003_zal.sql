-- The last good copy of each MedMij list (ZAL, OCL, GNL, Whitelist), so that a
-- restart without network still has lists (issue 5). One row per list; the raw XML
-- is validated again when it is read back.
create table medmij_list (
    kind           text primary key check (kind in ('zal', 'ocl', 'gnl', 'whitelist')),
    volgnummer     bigint not null check (volgnummer > 0),
    raw            bytea not null check (octet_length(raw) > 0),
    sha256         text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    etag           text not null default '',
    last_modified  text not null default '',
    origin         text not null default '',
    fetched_at     timestamptz not null,
    stored_at      timestamptz not null default now()
);
