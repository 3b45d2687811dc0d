package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/pgo-koppelvlak/pgo/store"
)

// Stalled is one kind of work that a task drives to its end: an export's render
// (TypeExportRender), a transfer's fetch (TypeTransferFetch). A handler ends the
// work on its task's last attempt, but when the worker is killed during that
// attempt (OOM, SIGKILL, a lost machine) asynq's recoverer archives the task once
// its lease expires and no handler runs again: the export would stay queued or
// rendering, the transfer listing or downloading, for ever. The stalled-work
// sweep finds such work and ends it.
type Stalled struct {
	Type string // the task type
	// Task is the task of id as its outbox row holds it (NewRenderTask,
	// NewFetchTask): its payload finds the row, the row's id is the TaskID.
	Task func(id string) store.Task
	// Unfinished lists up to limit pieces of work not final and unchanged since
	// quietSince (exportdb.Store.Unfinished, transferdb.Store.Unfinished).
	Unfinished func(ctx context.Context, quietSince time.Time, limit int) ([]string, error)
	// GiveUp ends the work (export.Jobs.GiveUp, transfer.Service.GiveUp); a
	// piece that became final meanwhile is left as it is.
	GiveUp func(ctx context.Context, id string) error
}

// OutboxTasks finds the tasks of work in the outbox and sends a lost one again
// (store.DB).
type OutboxTasks interface {
	OutboxTasks(ctx context.Context, taskType string, payloads [][]byte) (map[string]store.OutboxTask, error)
	ResendOutbox(ctx context.Context, id uuid.UUID) (bool, error)
}

// TaskStates tells a task's state in the queue (*asynq.Inspector).
type TaskStates interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

// Stalled-work sweep defaults: every minute, work unchanged for two minutes
// (a task's lease is 30 s and asynq's recoverer looks every minute), at most
// 100 pieces per kind per round.
const (
	StalledEvery = time.Minute
	StalledQuiet = 2 * time.Minute
	stalledBatch = 100
)

// StalledSweep is the periodic job that ends work no task drives any more. For
// each piece of unfinished work unchanged for quiet, it reads the newest outbox
// row of its task and asks the queue for the task's state:
//   - row not sent yet: the relay owes it, nothing to do;
//   - pending, active, scheduled, retry: a task still drives it;
//   - archived (the retries ran out, the last attempt's worker died) or completed
//     (the handler returned and left it unfinished), or no row at all: GiveUp;
//   - not in the queue (Redis lost it): the row is sent again under the same
//     TaskID, so the work runs instead of being lost.
//
// Each decision is logged with the task type and the work's id (UUIDs only).
func StalledSweep(o OutboxTasks, ts TaskStates, kinds []Stalled, quiet, every time.Duration, log *slog.Logger, now func() time.Time) Periodic {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return Periodic{Name: "stalled-work", Every: every, Run: func(ctx context.Context) error {
		var errs []error
		for _, k := range kinds {
			if err := sweepKind(ctx, o, ts, k, now().Add(-quiet), log); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k.Type, err))
			}
		}
		return errors.Join(errs...)
	}}
}

func sweepKind(ctx context.Context, o OutboxTasks, ts TaskStates, k Stalled, quietSince time.Time, log *slog.Logger) error {
	ids, err := k.Unfinished(ctx, quietSince, stalledBatch)
	if err != nil || len(ids) == 0 {
		return err
	}
	payloads := make([][]byte, len(ids))
	for i, id := range ids {
		payloads[i] = k.Task(id).Payload
	}
	rows, err := o.OutboxTasks(ctx, k.Type, payloads)
	if err != nil {
		return err
	}
	var errs []error
	for i, id := range ids {
		row, ok := rows[string(payloads[i])]
		if ok && !row.Sent {
			continue
		}
		state := "no_task_row"
		if ok {
			info, err := ts.GetTaskInfo(row.Queue, row.ID.String())
			switch {
			case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
				if _, err := o.ResendOutbox(ctx, row.ID); err != nil {
					errs = append(errs, err)
					continue
				}
				log.Warn("stalled work: its task is not in the queue; sent again", "type", k.Type, "id", id, "task_id", row.ID)
				continue
			case err != nil:
				return err // the queue cannot be asked: next round
			case info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted:
				continue
			}
			state = info.State.String()
		}
		if err := k.GiveUp(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Warn("stalled work: no task drives it any more; given up", "type", k.Type, "id", id, "task", state)
	}
	return errors.Join(errs...)
}

// NewInspector opens the queue's inspector on redisURL for StalledSweep; the
// caller closes it.
func NewInspector(redisURL string) (*asynq.Inspector, error) {
	ro, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return nil, err
	}
	return asynq.NewInspector(ro), nil
}
