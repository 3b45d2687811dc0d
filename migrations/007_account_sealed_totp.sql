-- TOTP seeds sealed with the vault (issue 6). RFC 6238 is symmetric, so a readable
-- seed mints codes: a database dump alone must not give the second factor away.
-- The seeds are vault ciphertexts bound to the account and the field (object ids
-- "account/<id>/totp" and "account/<id>/totp-pending", see account.TOTPObjectID).
--
-- Migrations run without the keyset, so they cannot seal the seeds that migration 004
-- kept in the clear. `pgo serve` and every `pgo user` command seal such rows first
-- thing (accountdb.Store.SealClearSeeds) and empty totp_secret/totp_pending; the check
-- below (NOT VALID: it holds for every row written from now on, old rows are only
-- rewritten by that sealing step) makes sure nothing writes a seed in the clear again.
alter table accounts
    add column totp_sealed bytea,
    add column totp_pending_sealed bytea;

alter table accounts
    add constraint accounts_totp_not_clear check (totp_secret is null and totp_pending is null) not valid;
