-- Audit records are never updated (issue 16). Since migration 014 the linker gave
-- each committed record its chain position by an UPDATE of audit_log. Such an
-- update writes the whole row again and, because the link columns are indexed
-- (the partial indexes audit_log_unlinked and audit_log_chain), every one of its
-- seven index entries too: BenchmarkAppend measured the linker at a third of the
-- appending throughput. From here on the link of a record is a row of its own in
-- audit_link, which is insert-only like audit_log, and the linker's work list is
-- audit_pending (one small row per record not linked yet).
--
-- A record's chain position, prev_hash and hash are now read from audit_link. The
-- link columns of audit_log stay for the records linked before this migration
-- (nothing in audit_log is rewritten); their values are copied to audit_link
-- below, so that audit_link holds the whole chain.

-- The links, partitioned by the month of their record's `recorded`, so that a
-- month of records and its links are dropped together (`pgo audit prune`).
-- No unique key: one across partitions would have to hold `recorded`, and
-- audit_link_follows already refuses a position that does not follow the head;
-- verification walks (link, seq), so a duplicated position would be seen.
create table audit_link (
    link      bigint not null check (link > 0),
    seq       bigint not null check (seq > 0),
    recorded  timestamptz not null,
    prev_hash bytea not null check (length(prev_hash) = 32),
    hash      bytea not null check (length(hash) = 32)
) partition by range (recorded);
create index audit_link_pos on audit_link (link, seq);
create index audit_link_seq on audit_link (seq);

-- The records not linked yet, oldest first for the linker. Append inserts the
-- record and this row in one statement; the linker never deletes here itself:
-- audit_link_follows removes the rows of the records it linked, with its owner's
-- rights, so the application role cannot take a record off the work list.
create table audit_pending (
    seq      bigint primary key,
    recorded timestamptz not null
);

create function audit_link_partition_name(ts timestamptz) returns text
language sql immutable as $$
    select 'audit_link_p' || to_char(ts at time zone 'UTC', 'YYYYMM')
$$;

-- audit_ensure_partition now makes the month of audit_log and of audit_link.
create or replace function audit_ensure_partition(ts timestamptz) returns boolean
language plpgsql security definer as $$
declare
    lo    timestamptz := date_trunc('month', ts at time zone 'UTC') at time zone 'UTC';
    hi    timestamptz := (date_trunc('month', ts at time zone 'UTC') + interval '1 month') at time zone 'UTC';
    made  boolean := false;
    t     record;
begin
    for t in select * from (values ('audit_log', audit_partition_name(ts)),
                                   ('audit_link', audit_link_partition_name(ts))) v(parent, name) loop
        if to_regclass(quote_ident(t.name)) is not null then
            continue;
        end if;
        begin
            execute format('create table %I partition of %I for values from (%L) to (%L)',
                           t.name, t.parent, lo, hi);
            -- Row triggers are cloned onto partitions, statement triggers are not.
            execute format('create trigger %I before truncate on %I
                            for each statement execute function audit_reject_change()',
                           t.parent || '_no_truncate', t.name);
            made := true;
        exception when duplicate_table or unique_violation then
            null; -- created concurrently by another session
        end;
    end loop;
    return made;
end $$;
do $$
begin
    execute format('alter function audit_ensure_partition(timestamptz) set search_path = %I, pg_temp', current_schema());
end $$;

-- The link partitions of the months that exist already, then the links of the
-- records linked so far (a format 1 record's position is its seq).
do $$
declare
    p record;
begin
    for p in select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
             where i.inhparent = 'audit_log'::regclass loop
        perform audit_ensure_partition(to_date(substr(p.relname, 12), 'YYYYMM')::timestamp at time zone 'UTC');
    end loop;
end $$;
insert into audit_link (link, seq, recorded, prev_hash, hash)
select coalesce(link, seq), seq, recorded, prev_hash, hash from audit_log where hash is not null;
insert into audit_pending (seq, recorded)
select seq, recorded from audit_log where hash is null;

-- A record with its link, as the auditor's queries read it: the link fields of a
-- record not linked yet are null, and a format 1 record (no mac) has no link
-- column of its own (its position is its seq). The link is looked up per record
-- (LATERAL, kept from being flattened by OFFSET 0): the queries read a page or a
-- batch of records by an index on audit_log, and a merge or hash join would read
-- audit_link from its start for every page.
create view audit_record as
select a.id, a.seq, a.recorded, a.event_time, a.action, a.outcome, a.reason, a.person_id,
       a.actor_type, a.actor_id, a.role, a.object_type, a.object_id, a.object_hashes, a.source_ip,
       a.user_agent, a.request_id, a.correlation_id, a.details, a.mac_key, l.prev_hash, l.hash,
       a.mac, case when a.mac is not null then l.link end as link
from audit_log a
left join lateral (select link, prev_hash, hash from audit_link l
                   where l.seq = a.seq and l.recorded = a.recorded offset 0) l on true;

-- audit_log is now append-only without exception: no UPDATE at all.
drop trigger audit_log_link_follows on audit_log;
drop function audit_link_follows();
drop trigger audit_log_append_only on audit_log;
drop function audit_refuse_update();
create trigger audit_log_append_only before update on audit_log
    for each row execute function audit_reject_change();
drop index audit_log_unlinked;
drop index audit_log_chain;

-- audit_link is append-only too; a truncate of a partition is refused by the
-- trigger audit_ensure_partition puts on each.
create trigger audit_link_append_only before update or delete on audit_link
    for each row execute function audit_reject_change();
create trigger audit_link_no_truncate before truncate on audit_link
    for each statement execute function audit_reject_change();

-- audit_link_follows checks, after each INSERT statement into audit_link, that
-- the links it added continue the chain head exactly (positions head + 1, head +
-- 2, ... without a gap, each prev_hash the hash before it, the first the head's),
-- and that each belongs to a record that is on the work list (appended with its
-- own MAC, not linked before); it takes those records off the list and moves the
-- head to the last link. It locks the head row, so two linkers can never both
-- follow the same head. It runs with its owner's rights: the application role
-- may not delete from audit_pending.
create function audit_link_follows() returns trigger
language plpgsql security definer as $$
declare
    h     audit_chain_head;
    bad   bigint;
    n     bigint;
    gone  bigint;
    last  record;
begin
    select * into h from audit_chain_head for update;
    select count(*) filter (where link <> h.seq + k or prev_hash <> coalesce(before, h.hash)), count(*)
    into bad, n
    from (select link, prev_hash, row_number() over w as k, lag(hash) over w as before
          from linked window w as (order by link)) x;
    if bad > 0 then
        raise exception 'audit records linked after the chain head (seq %) do not follow it exactly', h.seq
            using errcode = 'integrity_constraint_violation';
    end if;
    with d as (
        delete from audit_pending p using linked l
        where p.seq = l.seq and p.recorded = l.recorded
          and exists (select from audit_log a where a.seq = l.seq and a.recorded = l.recorded and a.mac is not null)
          and not exists (select from audit_link o where o.seq = l.seq and o.link <> l.link)
        returning p.seq)
    select count(*) into gone from d;
    if gone <> n then
        raise exception 'audit link: % of the % records linked after seq % are not waiting to be linked', n - gone, n, h.seq
            using errcode = 'integrity_constraint_violation';
    end if;
    select link, hash, recorded into last from linked order by link desc limit 1;
    if found then
        update audit_chain_head set seq = last.link, hash = last.hash, recorded = last.recorded;
    end if;
    return null;
end $$;
do $$
begin
    execute format('alter function audit_link_follows() set search_path = %I, pg_temp', current_schema());
end $$;

create trigger audit_link_follows after insert on audit_link
    referencing new table as linked
    for each statement execute function audit_link_follows();
