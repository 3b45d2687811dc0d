-- A grant is found by its export job through an index (issue 16). Creating an
-- export (the consent decision) sets the export's serve_until from the grants
-- that name it, and consent_grant had no index on export_job_id: every consent
-- decision read every grant ever made. auto_explain during `pgo bench token`
-- (8,000 consents) showed that statement at 4.4 ms (p50), up to 38 ms, and
-- growing with the table.
create index consent_grant_export_job on consent_grant (export_job_id) where export_job_id is not null;
