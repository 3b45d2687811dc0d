package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
)

// TaskRetention keeps a finished task's id in Redis this long, so that a relay that
// died after enqueueing but before marking its outbox row sent gets
// asynq.ErrTaskIDConflict on the second try instead of running the job twice.
const TaskRetention = 7 * 24 * time.Hour

// Relay moves committed outbox rows into asynq (DESIGN.md, reliability rule): the
// outbox row id becomes the asynq TaskID, so delivery is at-least-once on the
// PostgreSQL side and exactly-once on the asynq side. It wakes on LISTEN/NOTIFY and
// polls as a fallback; several relays may run at once (FOR UPDATE SKIP LOCKED).
type Relay struct {
	DB     *store.DB
	Client *asynq.Client
	Poll   time.Duration
	Batch  int
	Log    *slog.Logger

	// afterEnqueue runs after each successful enqueue and before the rows are
	// marked sent; tests use it to kill the process at the worst moment.
	afterEnqueue func(id uuid.UUID)
}

// Run relays until ctx ends. Connection failures are logged and retried.
func (r *Relay) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := r.listen(ctx)
		if ctx.Err() != nil {
			break
		}
		r.log().Warn("outbox relay: listener failed; retrying", "err", err)
		sleep(ctx, r.poll())
	}
	return nil
}

func (r *Relay) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, r.DB.URL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "listen "+store.OutboxChannel); err != nil {
		return err
	}
	for {
		// Drain until empty, then wait for a NOTIFY or the poll interval.
		for {
			n, err := r.Drain(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.log().Warn("outbox relay: drain failed", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		wctx, cancel := context.WithTimeout(ctx, r.poll())
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

// Drain delivers one batch of unsent rows and returns how many were marked sent.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	batch := r.Batch
	if batch <= 0 {
		batch = 100
	}
	var failed error
	n, err := r.DB.ClaimOutbox(ctx, batch, func(rows []store.OutboxRow) []uuid.UUID {
		sent := make([]uuid.UUID, 0, len(rows))
		for _, row := range rows {
			if err := r.deliver(ctx, row); err != nil {
				failed = err
				continue
			}
			sent = append(sent, row.ID)
			if r.afterEnqueue != nil {
				r.afterEnqueue(row.ID)
			}
		}
		return sent
	})
	if err == nil {
		err = failed
	}
	return n, err
}

func (r *Relay) deliver(ctx context.Context, row store.OutboxRow) error {
	opts := []asynq.Option{
		asynq.TaskID(row.ID.String()),
		asynq.Queue(row.Task.Queue),
		asynq.MaxRetry(row.Task.MaxRetry),
		asynq.Retention(TaskRetention),
	}
	if row.Task.Timeout > 0 {
		opts = append(opts, asynq.Timeout(row.Task.Timeout))
	}
	_, err := r.Client.EnqueueContext(ctx, asynq.NewTask(row.Task.Type, row.Task.Payload), opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		// Already delivered by an earlier attempt that died before marking the row.
		r.log().Info("outbox relay: task already in queue", "outbox_id", row.ID, "type", row.Task.Type)
		return nil
	}
	if err != nil {
		return err
	}
	r.log().Debug("outbox relay: enqueued", "outbox_id", row.ID, "type", row.Task.Type)
	return nil
}

func (r *Relay) poll() time.Duration {
	if r.Poll <= 0 {
		return 5 * time.Second
	}
	return r.Poll
}

func (r *Relay) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
