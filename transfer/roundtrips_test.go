package transfer_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// A whole transfer at the target, from the start to done, costs a fixed number
// of PostgreSQL round trips (issue 16: each transition's audit record and its
// notification travel in one batch, a progress update is one statement), and
// every change still notifies the progress pages.
func TestTransferRoundTrips(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	e.src.Set(transfertest.Faults{Mode: "stu3", AnnounceSize: true, AnnounceHash: true, Digest: true})
	listen, err := pgx.Connect(ctx, e.db.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer listen.Close(ctx)
	if _, err := listen.Exec(ctx, "listen "+transferdb.Channel); err != nil {
		t.Fatal(err)
	}
	before := e.db.RoundTrips()
	tr := e.consent(t)
	if err := e.svc.Fetch(ctx, tr.ID, true); err != nil {
		t.Fatal(err)
	}
	trips := e.db.RoundTrips() - before
	if tr = e.get(t, tr.ID); tr.Status != transfer.StatusDone {
		t.Fatalf("status %s (%s: %s)", tr.Status, tr.Failure, tr.FailureDetail)
	}
	notified := 0
	for {
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		n, err := listen.WaitForNotification(wctx)
		cancel()
		if err != nil {
			break
		}
		if n.Payload == tr.ID {
			notified++
		}
	}
	t.Logf("a transfer: %d round trips, %d notifications", trips, notified)
	// created, authorizing, authorized, listing, downloading (+ progress),
	// verifying, stored, done: at least one notification per state.
	if notified < 8 {
		t.Errorf("%d notifications for the transfer; want at least 8", notified)
	}
	// 60 before the audit record and notification shared a batch and the
	// progress update became one statement (issue 16).
	const want = 45
	if trips != want {
		t.Errorf("a transfer took %d round trips; want %d", trips, want)
	}
}
