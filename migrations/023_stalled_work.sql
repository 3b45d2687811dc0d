-- Work a task drives to its end (an export's render, a transfer's fetch) that
-- no task will drive any more (its worker was killed during the last attempt,
-- so asynq archived the task; or Redis lost it) is found by the worker's
-- stalled-work sweep. These partial indexes hold only the unfinished rows, so
-- the sweep reads a handful of rows whatever the tables' history; the status in
-- the predicate and the creation time as the key leave progress updates HOT.
create index export_job_unfinished on export_job (created_at)
    where status in ('queued', 'rendering');
create index transfer_unfinished on transfer (created_at)
    where status in ('authorized', 'listing', 'downloading', 'verifying', 'stored');
