package exportdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/store"
)

// Finish and Fail notify exportdb.Channel with the job id when they make the job
// final; a Fail that loses to the Finish before it notifies nothing.
func TestFinalJobNotifies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "listen "+exportdb.Channel); err != nil {
		t.Fatal(err)
	}
	next := func(d time.Duration) string {
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		n, err := conn.WaitForNotification(wctx)
		if err != nil {
			return ""
		}
		return n.Payload
	}
	ready := storeDoc(t, f, []byte("%PDF-1.7 x"))
	if got := next(10 * time.Second); got != ready.ID {
		t.Fatalf("after Finish: notification %q, want %q", got, ready.ID)
	}
	ev := audit.Event{Action: audit.ActDocumentRendered, Outcome: audit.Failure, Reason: "test", PersonID: f.user,
		ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleSource, ObjectType: "export"}
	if won, err := f.store.Fail(ctx, ready.ID, "too late", ev); err != nil || won {
		t.Fatalf("Fail of a ready job: %v %v", won, err)
	}
	if got := next(300 * time.Millisecond); got != "" {
		t.Fatalf("a Fail that changed nothing notified %q", got)
	}
	failed := f.request(t)
	ev.ObjectID = failed.ID
	if won, err := f.store.Fail(ctx, failed.ID, "render failed", ev); err != nil || !won {
		t.Fatalf("Fail: %v %v", won, err)
	}
	if got := next(10 * time.Second); got != failed.ID {
		t.Fatalf("after Fail: notification %q, want %q", got, failed.ID)
	}
}

// wokenServing is Serving over the fixture's store with c's other settings and a
// Waker: a store.Hub on exportdb.Channel, running until the test ends.
func (f *fixture) wokenServing(t *testing.T, c export.ServingConfig) *export.Serving {
	ctx, cancel := context.WithCancel(context.Background())
	hub := store.NewHub(f.db.URL(), exportdb.Channel, nil)
	ran := make(chan struct{})
	go func() { hub.Run(ctx); close(ran) }()
	t.Cleanup(func() { cancel(); <-ran })
	c.Store, c.Opener, c.Wake = f.store, export.StreamSeal{V: f.vault}, hub
	return export.NewServing(c)
}

// With a Waker (a store.Hub on exportdb.Channel) a held Await returns as soon as
// another process finishes the job, though it would not read the job again for
// an hour on its own.
func TestServingAwaitWoken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	serving := f.wokenServing(t, export.ServingConfig{Poll: time.Hour})

	job := f.request(t)
	if _, err := f.store.Start(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	type result struct {
		job export.Job
		err error
		in  time.Duration
	}
	got := make(chan result, 1)
	go func() {
		start := time.Now()
		j, err := serving.Await(context.Background(), job.ID, 30*time.Second)
		got <- result{j, err, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond) // Await reads the job (rendering) and waits
	other := f.otherProcess(t)
	sealed, err := export.StreamSeal{V: f.vault}.Seal(job.ID, []byte("%PDF-1.7 y"))
	if err != nil {
		t.Fatal(err)
	}
	res := export.Result{Pages: 1, Size: 10}
	ev := audit.Event{Action: audit.ActDocumentRendered, Outcome: audit.Success, PersonID: f.user, ActorType: audit.ActorSystem,
		ActorID: "worker", Role: audit.RoleSource, ObjectType: "export", ObjectID: job.ID}
	if won, err := other.Finish(ctx, job.ID, res, sealed, ev); err != nil || !won {
		t.Fatal(won, err)
	}
	// Unwoken, Await would read the job again only when its 30 s hold ends.
	select {
	case r := <-got:
		if r.err != nil || r.job.Status != export.StatusReady {
			t.Fatalf("Await after %s: %v, status %s; want ready", r.in, r.err, r.job.Status)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Await was not woken by the Finish of another process")
	}
}

// A peer's reads of one rendering job are held at most MaxHolds at a time: a
// read beyond them gets the job as it is at once (the endpoint's 503 or 202 with
// Retry-After), and a held read that ends frees its place.
func TestServingAwaitBoundsHeldReads(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	serving := f.wokenServing(t, export.ServingConfig{MaxHolds: 2})

	job := f.request(t)
	if _, err := f.store.Start(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	type result struct {
		job export.Job
		err error
	}
	await := func(ctx context.Context) chan result {
		got := make(chan result, 1)
		go func() {
			j, err := serving.Await(ctx, job.ID, 30*time.Second)
			got <- result{j, err}
		}()
		return got
	}
	held := func(name string, got chan result) {
		t.Helper()
		select {
		case r := <-got:
			t.Fatalf("%s returned while the job renders: %s, %v; want it held", name, r.job.Status, r.err)
		case <-time.After(300 * time.Millisecond):
		}
	}
	aCtx, aCancel := context.WithCancel(context.Background())
	a, b := await(aCtx), await(context.Background())
	held("first read", a)
	held("second read", b)

	select {
	case r := <-await(context.Background()):
		if r.err != nil || r.job.Status != export.StatusRendering {
			t.Fatalf("third read: %s, %v; want the rendering job at once", r.job.Status, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a third read of the job was held beside two held ones (MaxHolds 2)")
	}

	aCancel()
	if r := <-a; r.err == nil {
		t.Fatalf("first read after its request ended: %s, no error", r.job.Status)
	}
	d := await(context.Background())
	held("a read after one held read ended", d)

	sealed, err := export.StreamSeal{V: f.vault}.Seal(job.ID, []byte("%PDF-1.7 y"))
	if err != nil {
		t.Fatal(err)
	}
	ev := audit.Event{Action: audit.ActDocumentRendered, Outcome: audit.Success, PersonID: f.user, ActorType: audit.ActorSystem,
		ActorID: "worker", Role: audit.RoleSource, ObjectType: "export", ObjectID: job.ID}
	if won, err := f.store.Finish(ctx, job.ID, export.Result{Pages: 1, Size: 10}, sealed, ev); err != nil || !won {
		t.Fatal(won, err)
	}
	for name, got := range map[string]chan result{"second read": b, "fourth read": d} {
		select {
		case r := <-got:
			if r.err != nil || r.job.Status != export.StatusReady {
				t.Fatalf("%s after the render: %s, %v; want ready", name, r.job.Status, r.err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s was not woken by the render's end", name)
		}
	}
}
