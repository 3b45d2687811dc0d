-- Consent and the authorization server of the source role (issue 10). A grant is
-- one patient's one-time consent for one transfer to one client PGO; the codes and
-- access tokens issued under it are stored only as SHA-256 hashes (the signature
-- column), never in the clear.
create table consent_grant (
    id             uuid primary key,
    account_id     uuid not null,
    client_id      text not null,
    client_name    text not null,
    scope          text not null,
    categories     text[] not null default '{}',
    state          text not null check (state in ('active', 'used', 'withdrawn', 'refused', 'revoked')),
    export_job_id  uuid,
    request_id     text not null default '',
    correlation_id text not null default '',
    source_ip      text not null default '',
    created_at     timestamptz not null,
    expires_at     timestamptz not null,
    ended_at       timestamptz,
    -- an allowed grant names what it shares and the export that renders it
    check (state = 'refused' or (cardinality(categories) > 0 and export_job_id is not null)),
    check ((state = 'active') = (ended_at is null))
);
create index consent_grant_account on consent_grant (account_id, created_at desc);

-- A single-use authorization code (RFC 6749 §4.1.2): the hash of the code, the
-- authorization request it answers (fosite's request as JSON: form, scopes,
-- session; no secret) and when it was redeemed. used_at moves from null exactly
-- once (compare-and-set), which is what makes redemption atomic.
create table oauth_code (
    signature  bytea primary key check (length(signature) = 32),
    request_id text not null,
    grant_id   uuid not null references consent_grant (id),
    request    jsonb not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz
);
create index oauth_code_request on oauth_code (request_id);

-- The PKCE challenge of a code (RFC 7636 §4.4), keyed by the code's hash. Kept
-- until the code expires: deleting it after a failed verification would let a
-- second attempt without a verifier pass as "no PKCE" (see consent/fosite.go).
create table oauth_pkce (
    signature  bytea primary key references oauth_code (signature) on delete cascade,
    request    jsonb not null
);

-- Access tokens (RFC 9068 JWTs): the hash of the token, its jti, the request and
-- grant it came from and the certificate it is bound to (RFC 8705 x5t#S256).
create table oauth_token (
    signature  bytea primary key check (length(signature) = 32),
    id         uuid not null unique,
    request_id text not null,
    grant_id   uuid not null references consent_grant (id),
    client_id  text not null,
    thumbprint text not null,
    request    jsonb not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    revoked_at timestamptz
);
create index oauth_token_request on oauth_token (request_id);
create index oauth_token_grant on oauth_token (grant_id);
