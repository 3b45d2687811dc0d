package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pgo-koppelvlak/pgo/store"
)

// TypeKeysRewrap moves every object sealed under an older key-encryption key to the
// primary key after `pgo keys rotate` (package vault, "Re-encryption after a
// rotation"). It is idempotent: a rerun finds fewer (or no) old objects.
const TypeKeysRewrap = "keys:rewrap"

// Rewrap task limits: one attempt walks every table in batches; an hour covers
// millions of rows, and three retries a passing outage (a rerun starts over and
// skips what has moved).
const (
	RewrapTimeout  = time.Hour
	RewrapMaxRetry = 3
)

// RewrapPayload is the payload of TypeKeysRewrap.
type RewrapPayload struct {
	Batch int `json:"batch,omitempty"` // rows per batch; 0 means 200
}

// NewRewrapTask is the outbox task that re-encrypts old objects.
func NewRewrapTask(batch int) store.Task {
	b, _ := json.Marshal(RewrapPayload{Batch: batch})
	return store.Task{Type: TypeKeysRewrap, Payload: b, Queue: "low", MaxRetry: RewrapMaxRetry, Timeout: RewrapTimeout}
}

// RewrapBatch is what one batch did (see dossierdb.RewrapResult).
type RewrapBatch struct {
	Next                 string // cursor for the next batch; "" when the table is done
	Moved, Raced, Failed int
}

// RewrapTarget is one table of sealed objects: Batch moves up to limit rows with ids
// after the cursor.
type RewrapTarget struct {
	Name  string
	Batch func(ctx context.Context, after string, limit int) (RewrapBatch, error)
}

// RewrapTotal counts what a re-encryption did per table.
type RewrapTotal struct {
	Name                 string
	Moved, Raced, Failed int
}

// Rewrap walks every target in batches of batch rows until it is done, and reports
// per table. A row that did not open is counted in Failed and left as it is (it
// stays readable by whichever key wrapped it, if any).
func Rewrap(ctx context.Context, targets []RewrapTarget, batch int, log *slog.Logger) ([]RewrapTotal, error) {
	if batch <= 0 {
		batch = 200
	}
	out := make([]RewrapTotal, 0, len(targets))
	for _, t := range targets {
		tot := RewrapTotal{Name: t.Name}
		after := ""
		for {
			b, err := t.Batch(ctx, after, batch)
			if err != nil {
				return out, fmt.Errorf("rewrap %s: %w", t.Name, err)
			}
			tot.Moved, tot.Raced, tot.Failed = tot.Moved+b.Moved, tot.Raced+b.Raced, tot.Failed+b.Failed
			if b.Next == "" {
				break
			}
			after = b.Next
		}
		if log != nil {
			log.Info("rewrap done", "table", t.Name, "moved", tot.Moved, "raced", tot.Raced, "failed", tot.Failed)
		}
		out = append(out, tot)
	}
	return out, nil
}

// HandleRewrapTask returns the handler of TypeKeysRewrap over targets. Rows that do
// not open are logged (ids only), not retried: a rerun would fail on them again.
func HandleRewrapTask(targets []RewrapTarget, log *slog.Logger) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var p RewrapPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("%s: payload is not JSON: %v: %w", TypeKeysRewrap, err, asynq.SkipRetry)
		}
		if p.Batch < 0 {
			return fmt.Errorf("%s: batch %d is negative: %w", TypeKeysRewrap, p.Batch, asynq.SkipRetry)
		}
		_, err := Rewrap(ctx, targets, p.Batch, log)
		return err
	}
}
