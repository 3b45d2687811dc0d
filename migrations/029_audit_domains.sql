-- audit_log's column rules leave the table's CHECK constraints (issue 16).
-- PostgreSQL reads a table's CHECK constraints from their stored node text and
-- plans them again at the start of every INSERT statement, for the partition the
-- row goes to (ExecConstraints: stringToNode, then ExecPrepareExpr): perf during
-- BenchmarkAppend (16 writers) put that at 6 % of all CPU, the largest single
-- cost of an append after the commit's WAL flush.
--
-- The five rules on columns without an index become domains: a domain's
-- constraints are read and planned once per connection (the type cache) and
-- only evaluated per row. The two on indexed columns (seq > 0, actor_id not
-- empty) join the insert trigger's WHEN condition, which PostgreSQL reads per
-- statement anyway: changing an indexed column's type rebuilds its index, and
-- seq is in every index of the log. Every rule holds as before, for every role,
-- and a value that breaks one is refused with check_violation (23514) naming the
-- rule: the domain's constraint, or the former table constraint's name for the
-- two the trigger raises.
--
-- Nothing is rewritten: a column changes to a domain in place only while the
-- domain has no constraint, so each domain gets its constraint after the column
-- uses it; adding it reads the rows that are there (a scan of the log per
-- domain; every row passed the same rule as a table constraint). The migration
-- holds an exclusive lock on the log until it commits, which stops appends and
-- reads meanwhile: 1.0 s for a log of a million records here (0.15 s for
-- 100,000), where a rewrite would also rebuild every index. The view
-- audit_record and the trigger audit_log_link read these columns, so they are
-- made again.

drop view audit_record;
drop trigger audit_log_link on audit_log;

create domain audit_outcome as text;
create domain audit_actor_type as text;
create domain audit_role as text;
create domain audit_mac_key as bigint;
create domain audit_mac as bytea;

alter table audit_log
    alter column outcome type audit_outcome,
    alter column actor_type type audit_actor_type,
    alter column role type audit_role,
    alter column mac_key type audit_mac_key,
    alter column mac type audit_mac;

alter domain audit_outcome add constraint audit_outcome_check check (value in ('success', 'failure'));
alter domain audit_actor_type add constraint audit_actor_type_check
    check (value in ('user', 'peer', 'auditor', 'system'));
alter domain audit_role add constraint audit_role_check check (value in ('', 'source', 'target'));
alter domain audit_mac_key add constraint audit_mac_key_check check (value >= 0 and value < 4294967296);
alter domain audit_mac add constraint audit_mac_check check (length(value) = 32);

alter table audit_log
    drop constraint audit_log_seq_check,
    drop constraint audit_log_outcome_check,
    drop constraint audit_log_actor_type_check,
    drop constraint audit_log_actor_id_check,
    drop constraint audit_log_role_check,
    drop constraint audit_log_mac_key_check,
    drop constraint audit_log_mac_check;

-- The insert trigger: called only when a new row breaks a rule (its WHEN
-- condition), to refuse it. Records are never updated (audit_log_append_only),
-- so a rule on new rows is a rule on every row written from here on.
create or replace function audit_link_check() returns trigger
language plpgsql as $$
begin
    if new.seq <= 0 then
        raise exception 'audit record seq % must be greater than 0', new.seq
            using errcode = 'check_violation', constraint = 'audit_log_seq_check', table = 'audit_log', column = 'seq';
    end if;
    if new.actor_id = '' then
        raise exception 'audit record seq % must name its actor (actor_id)', new.seq
            using errcode = 'check_violation', constraint = 'audit_log_actor_id_check', table = 'audit_log', column = 'actor_id';
    end if;
    raise exception 'audit record seq % must be appended unlinked, with its own MAC', new.seq
        using errcode = 'integrity_constraint_violation';
end $$;

create trigger audit_log_link before insert on audit_log
    for each row
    when (new.mac is null or new.link is not null or new.prev_hash is not null or new.hash is not null
          or new.seq <= 0 or new.actor_id = '')
    execute function audit_link_check();

create view audit_record as
select a.id, a.seq, a.recorded, a.event_time, a.action, a.outcome, a.reason, a.person_id,
       a.actor_type, a.actor_id, a.role, a.object_type, a.object_id, a.object_hashes, a.source_ip,
       a.user_agent, a.request_id, a.correlation_id, a.details, a.mac_key, l.prev_hash, l.hash,
       a.mac, case when a.mac is not null then l.link end as link
from audit_log a
left join lateral (select link, prev_hash, hash from audit_link l
                   where l.seq = a.seq and l.recorded = a.recorded offset 0) l on true;
