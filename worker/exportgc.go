package worker

import (
	"context"
	"time"
)

// ExportDeleter deletes rendered exports whose grant ended before cutoff
// (exportdb.Store).
type ExportDeleter interface {
	DeleteExpired(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// ExportCleanup is the periodic job that deletes rendered exports PGO_EXPORT_GRACE
// after their grant ended (issue 11: the target had its one-time transfer; nothing of
// it may linger). Each deletion is audited (export_deleted) in its own transaction
// with the deletion; batches of 50 keep transactions short.
func ExportCleanup(d ExportDeleter, grace, every time.Duration, now func() time.Time) Periodic {
	if now == nil {
		now = time.Now
	}
	return Periodic{Name: "export-cleanup", Every: every, Run: func(ctx context.Context) error {
		cutoff := now().Add(-grace)
		for {
			n, err := d.DeleteExpired(ctx, cutoff, 50)
			if err != nil || n < 50 {
				return err
			}
		}
	}}
}
