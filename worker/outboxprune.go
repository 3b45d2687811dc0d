package worker

import (
	"context"
	"time"
)

// OutboxPruner deletes outbox rows relayed before a time (store.DB).
type OutboxPruner interface {
	PruneOutbox(ctx context.Context, before time.Time) (int64, error)
}

// OutboxPrune is the periodic job that deletes outbox rows relayed more than
// retention ago (PGO_OUTBOX_RETENTION), so the table holds what is waiting and
// a recent history, not every job ever run. Unsent rows are never touched: the
// relay still owes them to the queue.
func OutboxPrune(p OutboxPruner, retention, every time.Duration, now func() time.Time) Periodic {
	if now == nil {
		now = time.Now
	}
	return Periodic{Name: "outbox-prune", Every: every, Run: func(ctx context.Context) error {
		_, err := p.PruneOutbox(ctx, now().Add(-retention))
		return err
	}}
}
