package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// A Hub wakes the subscribers of the notified id only, and only after the
// notifying transaction commits; after its connection is killed it wakes every
// subscriber (a notification may have been lost) and delivers again.
func TestHubWakesByPayload(t *testing.T) {
	db := storetest.DB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hub := store.NewHub(db.URL(), "pgo_hub_test", nil)
	a, endA := hub.Subscribe("a")
	defer endA()
	b, endB := hub.Subscribe("b")
	defer endB()
	ran := make(chan struct{})
	go func() { hub.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()

	// Listening wakes everyone once (what changed before the LISTEN).
	wait(t, a, "a, on listening")
	wait(t, b, "b, on listening")

	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `select pg_notify('pgo_hub_test', 'a')`); err != nil {
		t.Fatal(err)
	}
	quiet(t, a, "a, before the commit")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, a, "a, notified")
	quiet(t, b, "b, a notified")

	// Kill the hub's connection: it reconnects and wakes everyone.
	var killed int
	err = db.Pool.QueryRow(ctx, `select count(pg_terminate_backend(pid)) from pg_stat_activity
		where datname = current_database() and query ilike 'listen%pgo_hub_test%'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the hub's backend: %d, %v", killed, err)
	}
	wait(t, b, "b, after the reconnection")
	wait(t, a, "a, after the reconnection")
	if _, err := db.Pool.Exec(ctx, `select pg_notify('pgo_hub_test', 'b')`); err != nil {
		t.Fatal(err)
	}
	wait(t, b, "b, notified after the reconnection")

	// An ended subscription gets nothing (after what was pending: the hub wakes
	// everyone both when its connection fails and when it listens again).
	endA()
	select {
	case <-a:
	default:
	}
	if _, err := db.Pool.Exec(ctx, `select pg_notify('pgo_hub_test', 'a')`); err != nil {
		t.Fatal(err)
	}
	quiet(t, a, "a, unsubscribed")
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no wake-up in 30 s", what)
	}
}

func quiet(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: woken", what)
	case <-time.After(200 * time.Millisecond):
	}
}
