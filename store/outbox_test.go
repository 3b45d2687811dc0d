package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// Enqueue is one round trip: the outbox row and the relay's wake-up, which
// arrives when the transaction commits and never for one rolled back.
func TestEnqueueOneRoundTripNotifiesOnCommit(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	listen, err := pgx.Connect(ctx, db.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer listen.Close(ctx)
	if _, err := listen.Exec(ctx, "listen "+store.OutboxChannel); err != nil {
		t.Fatal(err)
	}
	// The channel is the database's: other tests' processes notify on it too,
	// so only notifications from the enqueuing backend count.
	wait := func(pid uint32) bool {
		for {
			wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			n, err := listen.WaitForNotification(wctx)
			cancel()
			if err != nil {
				return false
			}
			if n.PID == pid {
				return true
			}
		}
	}
	rollback := errors.New("roll back")
	for _, commit := range []bool{false, true} {
		var pid uint32
		err := db.WithTx(ctx, func(tx pgx.Tx) error {
			pid = tx.Conn().PgConn().PID()
			before := db.RoundTrips()
			if _, err := store.Enqueue(ctx, tx, store.Task{Type: "test:noop", Payload: []byte(`{}`)}); err != nil {
				return err
			}
			if n := db.RoundTrips() - before; n != 1 {
				t.Errorf("Enqueue: %d round trips; want 1", n)
			}
			if !commit {
				return rollback
			}
			return nil
		})
		if commit && err != nil || !commit && !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if got := wait(pid); got != commit {
			t.Errorf("committed %v: notified %v", commit, got)
		}
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `select count(*) from outbox`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("outbox rows: %d (%v); want 1", n, err)
	}
}

// A relay round is two round trips, with rows to deliver or without: the claim
// with begin, then the marks with commit. Rows deliver does not return stay
// unsent.
func TestClaimOutboxRoundTrips(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	claim := func(deliver func([]store.OutboxRow) []uuid.UUID) int {
		t.Helper()
		before := db.RoundTrips()
		n, err := db.ClaimOutbox(ctx, 10, deliver)
		if err != nil {
			t.Fatal(err)
		}
		if trips := db.RoundTrips() - before; trips != 2 {
			t.Errorf("claim: %d round trips; want 2", trips)
		}
		return n
	}
	all := func(rows []store.OutboxRow) []uuid.UUID {
		var ids []uuid.UUID
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if n := claim(all); n != 0 {
		t.Fatalf("empty outbox: %d delivered", n)
	}
	if err := db.WithTx(ctx, func(tx pgx.Tx) error {
		for range 3 {
			if _, err := store.Enqueue(ctx, tx, store.Task{Type: "test:noop", Payload: []byte(`{}`)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := claim(func(rows []store.OutboxRow) []uuid.UUID { return all(rows)[:2] }); n != 2 {
		t.Fatalf("delivered %d; want 2", n)
	}
	if n := claim(all); n != 1 {
		t.Fatalf("the one left: %d delivered; want 1", n)
	}
	if n := claim(all); n != 0 {
		t.Fatalf("after all were sent: %d delivered", n)
	}
}
