-- Audit append without a shared lock (issue 16). Until now every append locked the
-- one row of audit_chain_head until its transaction committed, so all auditing
-- transactions queued behind one another. From here on a record is inserted
-- unlinked: it gets its seq from a sequence (the order of appending, with gaps
-- where a transaction rolled back) and its own keyed MAC over its content (mac),
-- so it is tamper-evident at once. A linker (auditdb.Linker, one at a time: it
-- holds the head row) then gives committed records their chain position (link),
-- prev_hash and hash, in one transaction of its own, and moves the head.
--
-- Records written before this migration (format 1) keep their meaning: linked on
-- append, chain position = seq, mac null. Their chain position is therefore
-- coalesce(link, seq); nothing is rewritten.

create sequence audit_log_seq as bigint;
select setval('audit_log_seq', s, true)
from (select greatest((select max(seq) from audit_log), (select seq from audit_chain_head)) as s) m
where s > 0;

alter table audit_log
    alter column prev_hash drop not null,
    alter column hash drop not null,
    add column link bigint check (link > 0),
    add column mac bytea check (length(mac) = 32);

-- Format 1: linked, no mac, no link column. Format 2: a mac, and the three link
-- fields either all null (not linked yet) or all set.
alter table audit_log add constraint audit_log_format check (
    (mac is null and link is null and prev_hash is not null and hash is not null)
    or (mac is not null and (link is null) = (prev_hash is null) and (link is null) = (hash is null)));

-- The linker's work list, and the chain walk of verification.
create index audit_log_unlinked on audit_log (seq) where hash is null;
create index audit_log_chain on audit_log ((coalesce(link, seq)), seq) where hash is not null;

-- The row rules are trigger WHEN conditions: evaluated without calling a
-- function, which is called only to refuse (so appending and linking do not pay
-- for a PL/pgSQL call per row).
--
-- A new record must come unlinked, with its own MAC: only the linker places it.
-- (This replaces the check that a record follows the head on insert.)
create or replace function audit_link_check() returns trigger
language plpgsql as $$
begin
    raise exception 'audit record seq % must be appended unlinked, with its own MAC', new.seq
        using errcode = 'integrity_constraint_violation';
end $$;

drop trigger audit_log_link on audit_log;
create trigger audit_log_link before insert on audit_log
    for each row
    when (new.mac is null or new.link is not null or new.prev_hash is not null or new.hash is not null)
    execute function audit_link_check();

-- The log stays append-only with one exception, the linker's UPDATE of an
-- unlinked record: its link fields go from null to values, every other column
-- stays as it was (listed here: a later migration that adds a column must add it
-- to this list). A linked record is never changed again; DELETE is refused as
-- before. Whether the new links follow the chain head is checked once per
-- statement, over all rows it linked (audit_link_follows), so that the linker
-- can link a batch in one statement.
create function audit_refuse_update() returns trigger
language plpgsql as $$
begin
    if old.hash is not null or old.mac is null then
        raise exception 'audit record seq % is already linked: it cannot be changed', old.seq
            using errcode = 'insufficient_privilege';
    end if;
    raise exception 'audit record seq %: only linking (setting link, prev_hash and hash) is allowed', old.seq
        using errcode = 'insufficient_privilege';
end $$;

drop trigger audit_log_append_only on audit_log;
create trigger audit_log_append_only before update on audit_log
    for each row
    when (old.hash is not null or old.mac is null
          or new.link is null or new.prev_hash is null or new.hash is null
          or (new.id, new.seq, new.recorded, new.event_time, new.action, new.outcome, new.reason,
              new.person_id, new.actor_type, new.actor_id, new.role, new.object_type, new.object_id,
              new.object_hashes, new.source_ip, new.user_agent, new.request_id, new.correlation_id,
              new.details, new.mac_key, new.mac)
             is distinct from
             (old.id, old.seq, old.recorded, old.event_time, old.action, old.outcome, old.reason,
              old.person_id, old.actor_type, old.actor_id, old.role, old.object_type, old.object_id,
              old.object_hashes, old.source_ip, old.user_agent, old.request_id, old.correlation_id,
              old.details, old.mac_key, old.mac))
    execute function audit_refuse_update();
create trigger audit_log_no_delete before delete on audit_log
    for each row execute function audit_reject_change();

-- audit_link_follows checks, after each UPDATE statement, that the records it
-- linked continue the chain head exactly: in link order, positions head + 1,
-- head + 2, ... without a gap, each prev_hash the hash before it (the first: the
-- head's), and moves the head to the last one. It locks the head row, so two
-- linkers can never both follow the same head (the second fails). The app role
-- can update only through audit_log (it has no rights on the partitions).
create function audit_link_follows() returns trigger
language plpgsql as $$
declare
    h    audit_chain_head;
    bad  bigint;
    last record;
begin
    select * into h from audit_chain_head for update;
    select count(*) filter (where link <> h.seq + n or prev_hash <> coalesce(before, h.hash))
    into bad
    from (select link, prev_hash, row_number() over w as n, lag(hash) over w as before
          from linked window w as (order by link)) x;
    if bad > 0 then
        raise exception 'audit records linked after the chain head (seq %) do not follow it exactly', h.seq
            using errcode = 'integrity_constraint_violation';
    end if;
    select link, hash, recorded into last from linked order by link desc limit 1;
    if found then
        update audit_chain_head set seq = last.link, hash = last.hash, recorded = last.recorded;
    end if;
    return null;
end $$;

create trigger audit_log_link_follows after update on audit_log
    referencing new table as linked
    for each statement execute function audit_link_follows();
