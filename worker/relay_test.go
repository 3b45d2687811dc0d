package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

type fixture struct {
	db        *store.DB
	redisURL  string
	client    *asynq.Client
	inspector *asynq.Inspector
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{db: storetest.DB(t), redisURL: storetest.Redis(t)}
	ro, err := asynq.ParseRedisURI(f.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	f.client = asynq.NewClient(ro)
	f.inspector = asynq.NewInspector(ro)
	t.Cleanup(func() { f.client.Close(); f.inspector.Close() })
	return f
}

func (f *fixture) enqueue(t *testing.T, n int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	err := f.db.WithTx(context.Background(), func(tx pgx.Tx) error {
		for i := 0; i < n; i++ {
			id, err := store.Enqueue(context.Background(), tx, store.Task{Type: "test:noop", Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// queued returns the task ids asynq holds in the default queue.
func (f *fixture) queued(t *testing.T) map[string]int {
	t.Helper()
	got := map[string]int{}
	for page := 1; ; page++ {
		tasks, err := f.inspector.ListPendingTasks("default", asynq.PageSize(500), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range tasks {
			got[ti.ID]++
		}
		if len(tasks) < 500 {
			return got
		}
	}
}

func (f *fixture) unsent(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), `select count(*) from outbox where sent_at is null`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOutboxRolledBackEnqueuesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	err := f.db.WithTx(ctx, func(tx pgx.Tx) error {
		if _, err := store.Enqueue(ctx, tx, store.Task{Type: "test:noop", Payload: []byte("{}")}); err != nil {
			return err
		}
		return fmt.Errorf("business rule failed")
	})
	if err == nil {
		t.Fatal("want the transaction's error")
	}
	relay := &Relay{DB: f.db, Client: f.client}
	n, err := relay.Drain(ctx)
	if err != nil || n != 0 {
		t.Fatalf("Drain = %d, %v; want 0, nil", n, err)
	}
	if q := f.queued(t); len(q) != 0 {
		t.Fatalf("asynq holds %d tasks after a rollback; want 0", len(q))
	}
}

func TestOutboxCommittedDeliveredOnceWithTaskID(t *testing.T) {
	f := newFixture(t)
	ids := f.enqueue(t, 3)
	relay := &Relay{DB: f.db, Client: f.client}
	for i := 0; i < 2; i++ { // a second drain finds nothing to do
		if _, err := relay.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	q := f.queued(t)
	if len(q) != 3 {
		t.Fatalf("asynq holds %d tasks; want 3", len(q))
	}
	for _, id := range ids {
		if q[id.String()] != 1 {
			t.Errorf("task %s queued %d times; want once with the outbox id as TaskID", id, q[id.String()])
		}
	}
	if n := f.unsent(t); n != 0 {
		t.Errorf("%d rows still unsent", n)
	}
}

// TestRelayKilledBetweenEnqueueAndMark kills a real relay process right after it has
// put a task into asynq and before its transaction marks the row sent. The next
// relay must deliver the row without creating a second task.
func TestRelayKilledBetweenEnqueueAndMark(t *testing.T) {
	f := newFixture(t)
	ids := f.enqueue(t, 1)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashingRelay$")
	app := "pgo_crash_relay_" + uuid.NewString()[:8]
	cmd.Env = append(os.Environ(), "PGO_CRASH_RELAY=1", "PGO_CRASH_DB="+f.db.URL()+"&application_name="+app, "PGO_CRASH_REDIS="+f.redisURL)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("crashing relay: want exit 3, got %v\n%s", err, out)
	}
	if n := f.unsent(t); n != 1 {
		t.Fatalf("after the crash %d rows unsent; want 1 (the mark was never committed)", n)
	}
	if q := f.queued(t); q[ids[0].String()] != 1 {
		t.Fatalf("after the crash the task is queued %d times; want 1", q[ids[0].String()])
	}
	// The crashed process's backend still holds the row lock until PostgreSQL
	// reads the closed socket and rolls its transaction back; until then the
	// next relay skips the locked row (SKIP LOCKED), as it should. Wait for
	// that backend to end (a loaded machine took longer than the Drain).
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := f.db.Pool.QueryRow(context.Background(), `select count(*) from pg_stat_activity where application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the crashed relay's backend is still there after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	relay := &Relay{DB: f.db, Client: f.client}
	if n, err := relay.Drain(context.Background()); err != nil || n != 1 {
		t.Fatalf("Drain after crash = %d, %v; want 1, nil", n, err)
	}
	if q := f.queued(t); len(q) != 1 || q[ids[0].String()] != 1 {
		t.Fatalf("after recovery asynq holds %v; want exactly the one task", q)
	}
	if n := f.unsent(t); n != 0 {
		t.Fatalf("after recovery %d rows unsent; want 0", n)
	}
}

// TestHelperCrashingRelay is not a test: the test above runs it in a child process.
func TestHelperCrashingRelay(t *testing.T) {
	if os.Getenv("PGO_CRASH_RELAY") != "1" {
		t.Log("child process helper for TestRelayKilledBetweenEnqueueAndMark; nothing to do in the parent")
		return
	}
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv("PGO_CRASH_DB"))
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := asynq.ParseRedisURI(os.Getenv("PGO_CRASH_REDIS"))
	relay := &Relay{DB: db, Client: asynq.NewClient(ro), afterEnqueue: func(uuid.UUID) { os.Exit(3) }}
	_, _ = relay.Drain(ctx)
	t.Fatal("relay did not reach the crash point")
}

func TestTwoRelaysDeliverEachRowOnce(t *testing.T) {
	f := newFixture(t)
	ids := f.enqueue(t, 300)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		relay := &Relay{DB: f.db, Client: f.client, Poll: 50 * time.Millisecond, Batch: 20}
		go func() { defer wg.Done(); _ = relay.Run(ctx) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for f.unsent(t) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	q := f.queued(t)
	if len(q) != len(ids) {
		t.Fatalf("asynq holds %d tasks; want %d", len(q), len(ids))
	}
	for _, id := range ids {
		if q[id.String()] != 1 {
			t.Fatalf("task %s queued %d times", id, q[id.String()])
		}
	}
}

// TestRelayWakesOnNotify shows the LISTEN/NOTIFY path: with a poll interval far
// longer than the test, a committed row still reaches asynq promptly.
func TestRelayWakesOnNotify(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relay := &Relay{DB: f.db, Client: f.client, Poll: time.Hour}
	done := make(chan struct{})
	go func() { _ = relay.Run(ctx); close(done) }()
	time.Sleep(300 * time.Millisecond) // let it LISTEN and drain the empty outbox
	ids := f.enqueue(t, 1)
	deadline := time.Now().Add(20 * time.Second)
	for f.queued(t)[ids[0].String()] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the relay did not wake on NOTIFY")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
