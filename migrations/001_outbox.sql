-- The transactional outbox: a job that must follow a database change is written
-- here in the same transaction, and the relay in `pgo worker` moves it into asynq
-- with the row id as the asynq TaskID (DESIGN.md, reliability rule).
create table outbox (
    id          uuid primary key,
    task_type   text not null check (task_type <> ''),
    payload     bytea not null,
    queue       text not null default 'default',
    max_retry   int not null default 25 check (max_retry >= 0),
    timeout_s   int not null default 0 check (timeout_s >= 0),
    created_at  timestamptz not null default now(),
    sent_at     timestamptz
);
create index outbox_unsent on outbox (created_at) where sent_at is null;
