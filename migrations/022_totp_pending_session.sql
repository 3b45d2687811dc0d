-- A new authenticator being set up belongs to the session that proved the
-- current one (its code or a recovery code) and lives 10 minutes
-- (account.enrolWindow): another logged-in session of the account (a shared,
-- unlocked computer) may not read or confirm the new seed, nor may the same
-- session hours later (review finding; ASVS 5.0 V6.4.3, V7.5.1).
-- totp_pending_session is the SHA-256 of that session's id, as in sessions.id_hash;
-- totp_pending_at is when the enrolment began. A pending seed from before this
-- migration has neither and is discarded at its next use.
alter table accounts
    add column totp_pending_session bytea,
    add column totp_pending_at timestamptz;
