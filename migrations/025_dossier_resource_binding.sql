-- A dossier row is bound to its account. Until now a row's ciphertext carried
-- only the row id as associated data (the vault object id), so someone with the
-- service's own database connection could move a patient's rows to another
-- account (update user_id) and the service opened them there. New rows are
-- sealed with "dossier/<user id>/<row id>" (dossier.AccountObjectID) and say so
-- with sealed_binding 'account'; rows stored before keep 'legacy', the bare row
-- id (the values of transfer's bindings, migration 026), until `pgo
-- keys rewrap` (or the worker's keys:rewrap task) re-seals them (target
-- dossier_resource_binding). The default is 'legacy' so that a process of the previous
-- release, still running during a rolling upgrade, writes rows that say what
-- they carry. The partial index lets the re-seal find the rows left without
-- reading the table.
alter table dossier_resource
    add column sealed_binding text not null default 'legacy' check (sealed_binding in ('legacy', 'account'));
create index dossier_resource_row_bound on dossier_resource (id) where sealed_binding = 'legacy';
