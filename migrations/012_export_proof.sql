-- The completeness proof of a rendered document (issue 14, PGOK-FR022): while
-- rendering, the export checks every string it must show against the text of the
-- finished PDF. A ready job records what was proven: items laid out, strings
-- checked and strings missing (always 0: a rendering that would lose a string
-- fails instead of shipping). Null for jobs rendered before the proof existed.
alter table export_job
    add column proof_items   int check (proof_items >= 0),
    add column proof_strings int check (proof_strings >= 0),
    add column proof_missing int check (proof_missing >= 0);
