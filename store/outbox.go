package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// OutboxChannel is the NOTIFY channel the relay listens on.
const OutboxChannel = "pgo_outbox"

// Task is a job to run after the surrounding transaction commits. Its outbox id
// becomes the asynq TaskID, so a double enqueue runs it once.
type Task struct {
	Type     string
	Payload  []byte
	Queue    string        // "" means "default"
	MaxRetry int           // 0 means asynq's default (25)
	Timeout  time.Duration // per attempt; 0 means the handler's own default
}

// Enqueue writes t into the outbox inside the caller's transaction and wakes the
// relay when that transaction commits. A rolled-back transaction enqueues nothing.
func Enqueue(ctx context.Context, tx pgx.Tx, t Task) (uuid.UUID, error) {
	id, args := enqueueArgs(t)
	if _, err := tx.Exec(ctx, enqueueSQL, args...); err != nil {
		return uuid.Nil, Error(err)
	}
	return id, nil
}

// QueueEnqueue is Enqueue as one statement of a batch (see DB.OneTrip), whose
// result the caller reads with Exec.
func QueueEnqueue(b *pgx.Batch, t Task) uuid.UUID {
	id, args := enqueueArgs(t)
	b.Queue(enqueueSQL, args...)
	return id
}

// enqueueSQL writes the row and the wake-up in one statement (one round trip);
// NOTIFY is delivered only on commit, which is exactly when the row becomes
// visible.
const enqueueSQL = `with o as (insert into outbox (id, task_type, payload, queue, max_retry, timeout_s)
	values ($1, $2, $3, $4, $5, $6) returning 1)
	select pg_notify($7, '') from o`

func enqueueArgs(t Task) (uuid.UUID, []any) {
	id := uuid.New()
	queue := t.Queue
	if queue == "" {
		queue = "default"
	}
	maxRetry := t.MaxRetry
	if maxRetry == 0 {
		maxRetry = 25
	}
	return id, []any{id, t.Type, t.Payload, queue, maxRetry, int(t.Timeout / time.Second), OutboxChannel}
}

// OutboxRow is an unsent outbox entry as the relay reads it.
type OutboxRow struct {
	ID      uuid.UUID
	Task    Task
	Created time.Time
}

// ClaimOutbox locks up to limit unsent rows (FOR UPDATE SKIP LOCKED, so several
// relays share the work) and hands them to deliver; rows deliver returns as sent
// are marked in the same transaction. If the process dies before commit, the locks
// go and the rows are delivered again: deliver must be idempotent per id.
func (db *DB) ClaimOutbox(ctx context.Context, limit int, deliver func([]OutboxRow) []uuid.UUID) (int, error) {
	// Two round trips (issue 16; four before, three when empty): begin and the
	// claim in one batch, the marks and commit in the other.
	n := 0
	err := db.InBatches(ctx, func(t *BatchTx) error {
		b := &pgx.Batch{}
		b.Queue(`select id, task_type, payload, queue, max_retry, timeout_s, created_at
			from outbox where sent_at is null order by created_at, id limit $1
			for update skip locked`, limit)
		var batch []OutboxRow
		err := t.Send(ctx, b, func(res pgx.BatchResults) error {
			rows, err := res.Query()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var r OutboxRow
				var timeout int
				if err := rows.Scan(&r.ID, &r.Task.Type, &r.Task.Payload, &r.Task.Queue, &r.Task.MaxRetry, &timeout, &r.Created); err != nil {
					return err
				}
				r.Task.Timeout = time.Duration(timeout) * time.Second
				batch = append(batch, r)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		var sent []uuid.UUID
		if len(batch) > 0 {
			sent = deliver(batch)
		}
		if len(sent) == 0 {
			return t.Commit(ctx, nil, nil)
		}
		b = &pgx.Batch{}
		b.Queue(`update outbox set sent_at = now() where id = any($1)`, sent)
		err = t.Commit(ctx, b, func(res pgx.BatchResults) error {
			_, err := res.Exec()
			return err
		})
		if err == nil {
			n = len(sent)
		}
		return err
	})
	return n, Error(err)
}

// PruneOutbox deletes rows sent before the cut-off.
func (db *DB) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `delete from outbox where sent_at < $1`, before)
	return tag.RowsAffected(), Error(err)
}

// OutboxTask is the newest outbox row of a task, as the stalled-work sweep reads
// it: its id (the asynq TaskID), its queue, and whether the relay has sent it.
type OutboxTask struct {
	ID    uuid.UUID
	Queue string
	Sent  bool
}

// OutboxTasks returns, for each payload of taskType that has an outbox row, the
// newest such row, keyed by the payload's bytes. A payload names one piece of
// work (an export job, a transfer); a transfer retried has a row per try.
func (db *DB) OutboxTasks(ctx context.Context, taskType string, payloads [][]byte) (map[string]OutboxTask, error) {
	rows, err := db.Pool.Query(ctx, `select distinct on (payload) payload, id, queue, sent_at is not null
		from outbox where task_type = $1 and payload = any($2) order by payload, created_at desc, id desc`, taskType, payloads)
	if err != nil {
		return nil, Error(err)
	}
	defer rows.Close()
	out := map[string]OutboxTask{}
	for rows.Next() {
		var p []byte
		var t OutboxTask
		if err := rows.Scan(&p, &t.ID, &t.Queue, &t.Sent); err != nil {
			return nil, Error(err)
		}
		out[string(p)] = t
	}
	return out, Error(rows.Err())
}

// ResendOutbox marks a sent row unsent again and wakes the relay, which then
// enqueues it once more under the same TaskID: for a task the queue lost (Redis
// restarted without its data). It reports whether the row was sent before.
func (db *DB) ResendOutbox(ctx context.Context, id uuid.UUID) (bool, error) {
	tag, err := db.Pool.Exec(ctx, `with u as (update outbox set sent_at = null where id = $1 and sent_at is not null returning 1)
		select pg_notify($2, '') from u`, id, OutboxChannel)
	return tag.RowsAffected() == 1, Error(err)
}
