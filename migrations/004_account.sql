-- Accounts, two-factor login and server-side sessions (issue 6).
-- Secrets are never stored in the clear: passwords as argon2id PHC strings, recovery
-- codes and session ids as SHA-256 hashes. The TOTP seed must be readable to verify a
-- code (RFC 6238 is symmetric), so it is kept as is; protect the database accordingly.
create table accounts (
    id             uuid primary key,
    name           text not null unique check (name <> '' and length(name) <= 200),
    role           text not null check (role in ('patient', 'auditor')),
    password_hash  text,
    totp_secret    bytea,
    totp_last_step bigint not null default 0,
    totp_pending   bytea, -- a new seed shown on the enrolment page, until confirmed with a code
    oidc_issuer    text,
    oidc_subject   text,
    failures       int not null default 0 check (failures >= 0),
    locked_until   timestamptz,
    disabled       boolean not null default false,
    created_at     timestamptz not null default now(),
    unique (oidc_issuer, oidc_subject),
    check ((oidc_issuer is null) = (oidc_subject is null)),
    check (password_hash is not null or oidc_subject is not null)
);

create table recovery_codes (
    account_id uuid not null references accounts (id) on delete cascade,
    code_hash  bytea not null,
    used_at    timestamptz,
    primary key (account_id, code_hash)
);

-- stage: 'anon' (a visitor, for CSRF on the login form), 'mfa' (password accepted,
-- second factor pending) or 'full' (logged in with two factors or via OIDC).
create table sessions (
    id_hash     bytea primary key,
    account_id  uuid references accounts (id) on delete cascade,
    stage       text not null check (stage in ('anon', 'mfa', 'full')),
    role        text,
    created_at  timestamptz not null,
    last_seen   timestamptz not null,
    expires_at  timestamptz not null,
    check ((stage = 'anon') = (account_id is null))
);
create index sessions_account on sessions (account_id);
create index sessions_expires on sessions (expires_at);

-- Fixed-window counters shared by all instances (per-IP login throttling).
create table login_rate (
    key          text not null,
    window_start timestamptz not null,
    hits         int not null,
    primary key (key, window_start)
);

-- Pending OpenID Connect logins: state -> nonce + PKCE verifier, bound to the
-- browser session that started it, used once.
create table oidc_requests (
    state_hash   bytea primary key,
    session_hash bytea not null,
    nonce        text not null,
    verifier     text not null,
    created_at   timestamptz not null
);
