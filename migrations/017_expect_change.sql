-- A compare-and-set transition in one round trip (issue 16). A state change
-- such as the target's transfer moving from downloading to verifying was an
-- UPDATE whose row count came back to Go, which then sent the audit record, the
-- notification and the commit, each a round trip. The update now ends with this
-- check, which raises when it changed no row (the state had moved on: the
-- compare-and-set was lost): the error aborts the transaction on the server, so
-- begin, the update, the audit record, the notification and commit travel in
-- one batch, and a lost transition writes nothing.
create function pgo_expect_change(changed bigint) returns boolean
language plpgsql as $$
begin
    if changed = 0 then
        raise exception 'no row was in the expected state' using errcode = 'PGO03';
    end if;
    return true;
end
$$;
