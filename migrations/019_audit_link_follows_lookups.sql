-- The linker's chain check looks each linked record up by index, whatever the
-- planner believes of the tables' sizes (issue 16). audit_link_follows (migration
-- 016) deletes the linked records from the work list (audit_pending) after
-- checking that each is in audit_log with its own MAC and was not linked before.
-- PL/pgSQL keeps a statement's plan for the backend's life, and a plan made while
-- the tables looked small (a new database, or no ANALYZE since: autovacuum off)
-- can scan a whole table on every linker round: auto_explain during `pgo bench
-- token` (8,000 tokens, ~72,000 records) showed a hash over all of audit_log, the
-- round's INSERT into audit_link taking 28 ms (p50) and up to 190 ms, a cost that
-- grows with the log; with other sizes the plan scanned all of audit_pending,
-- which holds every record ever linked as a dead row until it is vacuumed. Now
-- the two EXISTS subqueries stay correlated look-ups (OFFSET 0 keeps them from
-- being turned into joins), and the function plans without hash and merge joins,
-- so the delete is a nested loop over the linked records with index look-ups in
-- audit_pending, audit_log and audit_link: work per round in proportion to the
-- records it links (at most a linker batch). The function is otherwise as
-- migration 016 made it.
create or replace function audit_link_follows() returns trigger
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
          and exists (select from audit_log a where a.seq = l.seq and a.recorded = l.recorded and a.mac is not null offset 0)
          and not exists (select from audit_link o where o.seq = l.seq and o.link <> l.link offset 0)
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
    alter function audit_link_follows() set enable_hashjoin = off;
    alter function audit_link_follows() set enable_mergejoin = off;
end $$;

