-- The patient's dossier (issue 7): FHIR resources (zib2017/nl-core STU3, zib R4) as
-- imported, one row per resource. The resource JSON is health data and is stored only
-- as ciphertext (vault envelope encryption, the row id as associated data); in the
-- clear are just what the consent screen counts (type, category) and a pseudonymous
-- lookup key for reference checks. user_id has no foreign key to accounts yet
-- (issue 6's table); the dossier area will add one when imports go through accounts.
create table dossier_resource (
    id            uuid primary key,
    seq           bigint generated always as identity, -- import order, for stable summaries
    user_id       uuid not null,
    import_id     uuid not null,
    fhir_version  text not null check (fhir_version in ('stu3', 'r4')),
    resource_type text not null check (resource_type ~ '^[A-Z][A-Za-z]+$'),
    category      text not null check (category in ('patient', 'problems', 'allergies', 'medication',
                      'results', 'immunizations', 'procedures', 'encounters', 'documents', 'other')),
    -- SHA-256 of user id, resource type and FHIR id: lets a later import resolve
    -- "Type/id" against stored resources without storing ids (they can hold names).
    ref_key       bytea not null check (length(ref_key) = 32),
    sealed        bytea not null,
    imported_at   timestamptz not null default now(),
    unique (user_id, ref_key)
);
create index dossier_resource_user_category on dossier_resource (user_id, category);
