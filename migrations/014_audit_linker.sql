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

-- A new record must come unlinked, with its own MAC: only the linker places it.
-- (This replaces the check that a record follows the head on insert.)
create or replace function audit_link_check() returns trigger
language plpgsql as $$
begin
    if new.mac is null or new.link is not null or new.prev_hash is not null or new.hash is not null then
        raise exception 'audit record seq % must be appended unlinked, with its own MAC', new.seq
            using errcode = 'integrity_constraint_violation';
    end if;
    return new;
end $$;

-- audit_append_only keeps the log append-only with one exception, the linker's
-- UPDATE: the link fields of an unlinked record go from null to values that follow
-- the chain head exactly (link = head + 1, prev_hash = head hash), every other
-- column stays as it was, and the head moves to the record in the same statement
-- (so the head always names the newest linked record). A linked record is never
-- changed again; DELETE is refused as before.
create function audit_append_only() returns trigger
language plpgsql as $$
declare
    h audit_chain_head;
begin
    if tg_op <> 'UPDATE' then
        raise exception 'audit log is append-only: % on % is not allowed', tg_op, tg_table_name
            using errcode = 'insufficient_privilege';
    end if;
    if old.hash is not null or old.mac is null then
        raise exception 'audit record seq % is already linked: it cannot be changed', old.seq
            using errcode = 'insufficient_privilege';
    end if;
    if new.link is null or new.prev_hash is null or new.hash is null
        or (to_jsonb(new) - '{link,prev_hash,hash}'::text[]) <> (to_jsonb(old) - '{link,prev_hash,hash}'::text[]) then
        raise exception 'audit record seq %: only linking (setting link, prev_hash and hash) is allowed', old.seq
            using errcode = 'insufficient_privilege';
    end if;
    select * into h from audit_chain_head for update;
    if new.link <> h.seq + 1 or new.prev_hash <> h.hash then
        raise exception 'audit record seq % linked at % does not follow the chain head (%)', old.seq, new.link, h.seq
            using errcode = 'integrity_constraint_violation';
    end if;
    update audit_chain_head set seq = new.link, hash = new.hash, recorded = new.recorded;
    return new;
end $$;

drop trigger audit_log_append_only on audit_log;
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function audit_append_only();
