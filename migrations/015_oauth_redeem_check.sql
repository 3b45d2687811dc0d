-- A token request's redemption in one round trip (issue 16). The redemption's
-- statement (consentdb.redeemSQL) used to return its counts to Go, which then
-- chose commit or rollback in a round trip of its own. It now ends with this
-- check, which raises when the code was already used (PGO01) or its grant has
-- ended (PGO02): the error aborts the transaction on the server, so begin, the
-- statement, the audit records and commit can travel in one batch, and a refused
-- redemption writes nothing.
create function oauth_redeem_check(used bigint, stored bigint) returns boolean
language plpgsql as $$
begin
    if used = 0 then
        raise exception 'authorization code already used' using errcode = 'PGO01';
    end if;
    if stored = 0 then
        raise exception 'grant not active' using errcode = 'PGO02';
    end if;
    return true;
end
$$;
