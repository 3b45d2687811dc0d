-- Transfers (issue 12, target role of gegevensdienst 51): one row per attempt of a
-- patient to fetch their dossier from another PGO. The row is the state machine
--   created -> authorizing -> authorized -> listing -> downloading -> verifying
--   -> stored -> done, or failed (reason, whether a retry helps)
-- and every transition is one compare-and-set in one transaction with its audit
-- record (and, after the token, the outbox row of the fetch task). The row holds
-- no health data; the OAuth state only as a SHA-256, the PKCE verifier and the
-- access token only sealed with the vault (transfer id as associated data).
create table transfer (
    id              uuid primary key,
    user_id         uuid not null,
    source          text not null,            -- Zorgaanbiedernaam, e.g. noord@medmij
    source_display  text not null,
    authorize_uri   text not null,            -- from the ZAL only
    token_uri       text not null,
    resource_uri    text not null,
    issuer          text not null,            -- expected iss (RFC 9207): origin of authorize_uri
    status          text not null default 'created'
                        check (status in ('created', 'authorizing', 'authorized', 'listing', 'downloading',
                                          'verifying', 'stored', 'done', 'failed')),
    state_hash      bytea unique check (length(state_hash) = 32),
    session_hash    bytea check (length(session_hash) = 32),
    verifier_sealed bytea,
    token_sealed    bytea,
    token_expires   timestamptz,
    docs_done       int not null default 0 check (docs_done >= 0),
    docs_total      int not null default 0 check (docs_total >= 0),
    bytes_done      bigint not null default 0 check (bytes_done >= 0),
    bytes_total     bigint not null default 0 check (bytes_total >= 0),
    attempts        int not null default 0 check (attempts >= 0),
    failure         text check (failure ~ '^[a-z_]{1,40}$'),
    failure_detail  text,
    retry           text not null default '' check (retry in ('', 'same', 'consent')),
    correlation_id  uuid not null unique,
    request_id      text not null default '',
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    finished_at     timestamptz,
    check (status <> 'failed' or failure is not null)
);
create index transfer_user on transfer (user_id, created_at desc);

-- A received document in the patient's dossier: the PDF sealed with the vault
-- (stream format, the document id as associated data) and its provenance. Written in
-- the transaction that moves its transfer to 'stored', so a transfer stores all of
-- its documents or none; (transfer_id, remote_id) makes a re-run store nothing twice.
create table transfer_document (
    id             uuid primary key,
    transfer_id    uuid not null references transfer (id),
    user_id        uuid not null,
    remote_id      text not null,             -- the source's DocumentReference id
    source         text not null,
    source_display text not null,
    title          text not null default '',
    content_type   text not null default 'application/pdf',
    size           bigint not null check (size > 0),
    sha1           bytea not null check (length(sha1) = 20),
    sha256         bytea not null check (length(sha256) = 32),
    correlation_id uuid not null,
    received_at    timestamptz not null default now(),
    sealed         bytea not null,
    unique (transfer_id, remote_id)
);
create index transfer_document_user on transfer_document (user_id, received_at desc);
