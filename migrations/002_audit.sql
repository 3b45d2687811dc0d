-- NEN 7513 audit log (issue 4). Records form one SHA-256 hash chain per instance:
-- each row stores the hash of its canonical encoding (computed in Go, package audit)
-- and the hash of the row before it. Appends serialize on the one row of
-- audit_chain_head (locked FOR UPDATE until the appending transaction commits).

-- The chain head: the sequence number, hash and recorded time of the newest record.
-- Seq 0 with an all-zero hash is the genesis. Verification compares the newest
-- record with this row, so deleting records at the end of the chain is detected.
create table audit_chain_head (
    id        boolean primary key default true check (id),
    seq       bigint not null check (seq >= 0),
    hash      bytea not null check (length(hash) = 32),
    recorded  timestamptz not null
) with (fillfactor = 50);
insert into audit_chain_head (seq, hash, recorded)
values (0, decode(repeat('00', 32), 'hex'), '2000-01-01T00:00:00Z');

-- The records, partitioned by month of `recorded` (the store's clock, never
-- decreasing along the chain), so that one month holds one contiguous stretch of the
-- chain and retention can drop whole months (NFR032).
create table audit_log (
    id             uuid not null,
    seq            bigint not null check (seq > 0),
    recorded       timestamptz not null,
    event_time     timestamptz not null,
    action         text not null,
    outcome        text not null check (outcome in ('success', 'failure')),
    reason         text not null default '',
    person_id      text not null default '',
    actor_type     text not null check (actor_type in ('user', 'peer', 'auditor', 'system')),
    actor_id       text not null check (actor_id <> ''),
    role           text not null default '' check (role in ('', 'source', 'target')),
    object_type    text not null default '',
    object_id      text not null default '',
    object_hashes  jsonb,
    source_ip      text not null default '',
    user_agent     text not null default '',
    request_id     text not null default '',
    correlation_id text not null default '',
    details        jsonb,
    prev_hash      bytea not null check (length(prev_hash) = 32),
    hash           bytea not null check (length(hash) = 32),
    primary key (seq, recorded)
) partition by range (recorded);

create index audit_log_person on audit_log (person_id, seq) where person_id <> '';
create index audit_log_actor on audit_log (actor_id, seq);
create index audit_log_correlation on audit_log (correlation_id, seq) where correlation_id <> '';
create index audit_log_action on audit_log (action, seq);

-- audit_partition_name is the name of the month partition that holds ts (UTC months).
create function audit_partition_name(ts timestamptz) returns text
language sql immutable as $$
    select 'audit_log_p' || to_char(ts at time zone 'UTC', 'YYYYMM')
$$;

-- audit_ensure_partition creates the month partition for ts when it is missing and
-- returns true when it created one. Append calls it for every record (a catalog
-- look-up, microseconds), so a record never fails for want of a partition; the
-- worker calls it for the coming months so that normally nothing is created on the
-- hot path. There is deliberately no DEFAULT partition: rows in it would block
-- creating their month's partition later and could never be pruned by month.
-- Creating a partition takes an exclusive lock on audit_log, so when it does happen
-- on the hot path (the worker was down for three months) that append, holding the
-- head lock, waits for running readers (a verify) and the appends behind it wait too.
create function audit_ensure_partition(ts timestamptz) returns boolean
language plpgsql as $$
declare
    name  text := audit_partition_name(ts);
    lo    timestamptz := date_trunc('month', ts at time zone 'UTC') at time zone 'UTC';
    hi    timestamptz := (date_trunc('month', ts at time zone 'UTC') + interval '1 month') at time zone 'UTC';
begin
    if to_regclass(quote_ident(name)) is not null then
        return false;
    end if;
    begin
        execute format('create table %I partition of audit_log for values from (%L) to (%L)',
                       name, lo, hi);
        -- Row triggers are cloned onto partitions, statement triggers are not.
        execute format('create trigger audit_log_no_truncate before truncate on %I
                        for each statement execute function audit_reject_change()', name);
    exception when duplicate_table or unique_violation then
        return false; -- created concurrently by another session
    end;
    return true;
end $$;

-- The log is append-only: UPDATE, DELETE and TRUNCATE are rejected (NEN 7513:
-- records must not be changed or removed). Only `pgo audit prune` removes data, by
-- dropping whole partitions past the retention, and it writes a record saying so.
create function audit_reject_change() returns trigger
language plpgsql as $$
begin
    raise exception 'audit log is append-only: % on % is not allowed', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
end $$;

create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function audit_reject_change();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_reject_change();

-- audit_link_check keeps the chain linear at the database level: a new record must
-- follow the current head exactly (seq + 1, prev_hash = head hash, recorded not
-- before the head's). Append holds the head row lock, so this never fails there; it
-- stops any other writer from forking the chain.
create function audit_link_check() returns trigger
language plpgsql as $$
declare
    h audit_chain_head;
begin
    select * into h from audit_chain_head;
    if new.seq <> h.seq + 1 or new.prev_hash <> h.hash or new.recorded < h.recorded then
        raise exception 'audit record seq % does not follow the chain head (seq %)', new.seq, h.seq
            using errcode = 'integrity_constraint_violation';
    end if;
    return new;
end $$;

create trigger audit_log_link before insert on audit_log
    for each row execute function audit_link_check();

-- Signed checkpoints of the chain head (JWS, ES256). The JWS payload is what counts;
-- seq is a copy for look-ups. Append-only like the log.
create table audit_checkpoint (
    seq        bigint primary key,
    created_at timestamptz not null default now(),
    jws        text not null check (jws <> '')
);
create trigger audit_checkpoint_append_only before update or delete on audit_checkpoint
    for each row execute function audit_reject_change();
create trigger audit_checkpoint_no_truncate before truncate on audit_checkpoint
    for each statement execute function audit_reject_change();

-- Partitions for this month and the next two.
select audit_ensure_partition(now() + n * interval '1 month') from generate_series(0, 2) n;
