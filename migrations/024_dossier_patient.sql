-- Whose dossier it is (PGOK-FR022: a dossier holds one person's data). The first
-- import fixes the dossier's patient, from a Patient resource or from the
-- subject/patient references of loose resources; every later import is compared
-- with it, also when the dossier holds no Patient resource. The patient is kept
-- as ref keys, as dossier_resource keeps FHIR ids: HMAC-SHA256 under a key of
-- the keyset (ref_key_id), never the id or the BSN itself. kind 'Patient' keys
-- the Patient's FHIR id (the same key as its dossier_resource row), 'bsn' its
-- BSN.
create table dossier_patient (
    user_id    uuid not null references accounts (id) on delete cascade,
    kind       text not null check (kind in ('Patient', 'bsn')),
    ref_key    bytea not null check (length(ref_key) = 32),
    ref_key_id bigint not null check (ref_key_id between 0 and 4294967295),
    primary key (user_id, kind)
);
