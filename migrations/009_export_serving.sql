-- Serving exports on the FHIR endpoint of gegevensdienst 51 (issue 11).
--
-- The sealed document is a vault stream (1 MiB authenticated segments). The Binary
-- endpoint reads it in slices with substring(); with storage EXTERNAL (out of line,
-- never compressed: ciphertext does not compress anyway) PostgreSQL fetches only the
-- TOAST chunks of each slice, so a download never holds the whole document in memory.
alter table export_document alter column sealed set storage external;

-- When the export may be deleted: serve_until is the latest expiry of a token that
-- fetched it (the grant cannot outlive its last token: MedMij consent is one-time,
-- without refresh tokens); grant_ended_at is set when the grant ends earlier
-- (revoked, withdrawn). deleted_at: the document was deleted after PGO_EXPORT_GRACE
-- (the job row stays, without health data, for the audit trail).
alter table export_job
    add column serve_until    timestamptz,
    add column grant_ended_at timestamptz,
    add column deleted_at     timestamptz;
create index export_job_deletable on export_job (coalesce(grant_ended_at, serve_until))
    where deleted_at is null and status = 'ready';
