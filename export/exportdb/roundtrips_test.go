package exportdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/export"
)

// A render's writes cost one round trip each (issue 16): the start, the
// finish with its document, audit record and notification, and a download's
// record. A finish that comes second writes nothing.
func TestRenderRoundTrips(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	job := f.request(t)
	trips := func(what string, want uint64, fn func() error) {
		t.Helper()
		before := f.db.RoundTrips()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n := f.db.RoundTrips() - before; n != want {
			t.Errorf("%s: %d round trips; want %d", what, n, want)
		}
	}
	ev := func(a audit.Action) audit.Event {
		return audit.Event{Action: a, Outcome: audit.Success, ActorType: audit.ActorSystem, ActorID: "test",
			ObjectType: "export_job", ObjectID: job.ID}
	}
	trips("start", 1, func() error {
		j, err := f.store.Start(ctx, job.ID)
		if err == nil && (j.Status != export.StatusRendering || j.Attempts != 1) {
			t.Errorf("started job: %s, %d attempts", j.Status, j.Attempts)
		}
		return err
	})
	res := export.Result{Pages: 1, Size: 3}
	trips("finish", 1, func() error {
		won, err := f.store.Finish(ctx, job.ID, res, []byte{1, 2, 3}, ev(audit.ActDocumentRendered))
		if err == nil && !won {
			t.Error("finish: not won")
		}
		return err
	})
	// Second finish and a late failure: refused by the check, a rollback more.
	trips("second finish", 2, func() error {
		won, err := f.store.Finish(ctx, job.ID, res, []byte{4, 5, 6}, ev(audit.ActDocumentRendered))
		if won {
			t.Error("second finish won")
		}
		return err
	})
	trips("late failure", 2, func() error {
		won, err := f.store.Fail(ctx, job.ID, "late", ev(audit.ActExportFailed))
		if won {
			t.Error("late failure won")
		}
		return err
	})
	if d, a, x := f.documents(t, job.ID), f.audits(t, "document_rendered", job.ID), f.audits(t, "export_failed", job.ID); d != 1 || a != 1 || x != 0 {
		t.Errorf("%d documents, %d document_rendered, %d export_failed records; want 1, 1, 0", d, a, x)
	}
	if j := f.job(t, job.ID); j.Status != export.StatusReady {
		t.Errorf("status %s; want ready", j.Status)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	trips("download record", 1, func() error {
		return f.store.RecordServed(ctx, ev(audit.ActDocumentFetched), job.ID, until)
	})
	if n := f.count(t, `select count(*) from export_job where id = $1 and serve_until = $2`, job.ID, until); n != 1 {
		t.Error("serve_until not moved")
	}
}
