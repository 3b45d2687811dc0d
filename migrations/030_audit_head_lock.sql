-- The application role no longer needs UPDATE on audit_chain_head. The linker
-- locked the head row with SELECT ... FOR UPDATE, which PostgreSQL allows only to
-- a role that may update the row: so the role could also set the head to any
-- position and hash, which `pgo audit verify` would report as a break but which
-- nothing prevented. Only audit_link_follows (migration 019, with its owner's
-- rights) moves the head. audit_lock_head locks the row for the calling
-- transaction with its owner's rights and returns it; with skip it returns no
-- row when another transaction holds the lock (the linker then lets the other
-- one link). `pgo migrate` grants the role only SELECT on the table now.
create function audit_lock_head(skip boolean) returns table (seq bigint, hash bytea)
language plpgsql security definer as $$
begin
    if skip then
        return query select h.seq, h.hash from audit_chain_head h for update skip locked;
    else
        return query select h.seq, h.hash from audit_chain_head h for update;
    end if;
end $$;
do $$
begin
    execute format('alter function audit_lock_head(boolean) set search_path = %I, pg_temp', current_schema());
end $$;
