-- Export jobs (issue 7): one job renders one patient's selection of dossier
-- categories as a PDF/A document in the background (task export:render, enqueued
-- through the outbox in the same transaction as the job row and its audit record).
-- The job row holds no health data: status, progress, sizes and hashes only.
create table export_job (
    id             uuid primary key,
    user_id        uuid not null,
    categories     text[] not null check (cardinality(categories) > 0),
    conformance    text not null default '2b' check (conformance in ('2b', '1b')),
    status         text not null default 'queued'
                       check (status in ('queued', 'rendering', 'ready', 'failed')),
    items_done     int not null default 0 check (items_done >= 0),
    items_total    int not null default 0 check (items_total >= 0),
    attempts       int not null default 0 check (attempts >= 0),
    pages          int check (pages > 0),
    size           bigint check (size > 0),
    sha256         bytea check (length(sha256) = 32),
    sha1           bytea check (length(sha1) = 20),
    failure        text,
    request_id     text not null default '',
    correlation_id text not null default '',
    created_at     timestamptz not null default now(),
    started_at     timestamptz,
    updated_at     timestamptz not null default now(),
    finished_at    timestamptz,
    -- a ready job has its facts; a failed one says why
    check (status <> 'ready' or (pages is not null and size is not null and sha256 is not null and sha1 is not null)),
    check (status <> 'failed' or failure is not null)
);
create index export_job_user on export_job (user_id, created_at);

-- The rendered PDF, sealed with the vault (envelope encryption, the job id as
-- associated data). One document per job (primary key), written in the same
-- transaction as the job's move to 'ready', so a crash never leaves half a document.
create table export_document (
    job_id     uuid primary key references export_job (id) on delete cascade,
    sealed     bytea not null,
    created_at timestamptz not null default now()
);
