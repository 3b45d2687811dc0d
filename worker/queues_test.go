package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// gate is a task handler that reports when a task starts and then holds it until
// released, counting the tasks it finished.
type gate struct {
	started  chan string
	release  chan struct{}
	finished atomic.Int32
}

func newGate() *gate {
	return &gate{started: make(chan string, 8), release: make(chan struct{})}
}

func (g *gate) ProcessTask(ctx context.Context, t *asynq.Task) error {
	id, _ := asynq.GetTaskID(ctx)
	g.started <- id
	<-g.release
	g.finished.Add(1)
	return nil
}

// wait returns the id of the next task that starts, failing after a minute (a
// guard against a hang, not a measurement).
func (g *gate) wait(t *testing.T, what string) string {
	t.Helper()
	select {
	case id := <-g.started:
		return id
	case <-time.After(time.Minute):
		t.Fatalf("%s never started", what)
		return ""
	}
}

// queuesFixture runs a worker with one CPU slot and one fetch slot whose render
// and fetch handlers are gates, fed through the real outbox and relay.
type queuesFixture struct {
	db      *store.DB
	render  *gate
	fetch   *gate
	inspect *asynq.Inspector
	done    chan error
	cancel  context.CancelFunc
}

func newQueuesFixture(t *testing.T) *queuesFixture {
	t.Helper()
	redisURL := storetest.Redis(t)
	f := &queuesFixture{db: storetest.DB(t), render: newGate(), fetch: newGate(), done: make(chan error, 1)}
	w, err := worker.New(worker.Options{RedisURL: redisURL, DB: f.db, Concurrency: 1, FetchConcurrency: 1,
		ShutdownTimeout: 30 * time.Second, OutboxPoll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle(worker.TypeExportRender, f.render)
	w.Handle(worker.TypeTransferFetch, f.fetch)
	ro, _ := asynq.ParseRedisURI(redisURL)
	f.inspect = asynq.NewInspector(ro)
	t.Cleanup(func() { f.inspect.Close() })
	var ctx context.Context
	ctx, f.cancel = context.WithCancel(context.Background())
	go func() { f.done <- w.Run(ctx) }()
	t.Cleanup(func() {
		f.cancel()
		f.open()
		<-f.done
	})
	return f
}

// open releases every held task (once).
func (f *queuesFixture) open() {
	for _, g := range []*gate{f.render, f.fetch} {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
	}
}

func (f *queuesFixture) enqueue(t *testing.T, task store.Task) string {
	t.Helper()
	var id uuid.UUID
	err := f.db.WithTx(context.Background(), func(tx pgx.Tx) (err error) {
		id, err = store.Enqueue(context.Background(), tx, task)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// TestFetchRunsWhileRenderSlotsAreBusy: with every CPU slot held by a render and
// a second render waiting for one, a transfer fetch still starts at once on its
// own queue (before issue 16 it waited behind the renders).
func TestFetchRunsWhileRenderSlotsAreBusy(t *testing.T) {
	f := newQueuesFixture(t)
	first := f.enqueue(t, worker.NewRenderTask(uuid.NewString()))
	if got := f.render.wait(t, "the first render"); got != first {
		t.Fatalf("render task %s started, want %s", got, first)
	}
	f.enqueue(t, worker.NewRenderTask(uuid.NewString())) // waits for the only CPU slot
	fetch := f.enqueue(t, worker.NewFetchTask(uuid.NewString()))
	if got := f.fetch.wait(t, "the fetch"); got != fetch {
		t.Fatalf("fetch task %s started, want %s", got, fetch)
	}
	info, err := f.inspect.GetTaskInfo(worker.QueueFetch, fetch)
	if err != nil || info.Queue != worker.QueueFetch {
		t.Fatalf("fetch task not in queue %q: %+v, %v", worker.QueueFetch, info, err)
	}
	select {
	case id := <-f.render.started:
		t.Fatalf("second render %s started while the only CPU slot was held", id)
	default:
	}
	if n := f.render.finished.Load(); n != 0 {
		t.Fatalf("%d renders finished while held", n)
	}
}

// TestShutdownDrainsBothServers: a render and a fetch that are running when the
// worker is stopped both run to their end before Run returns, and are done in
// asynq (not handed back to run again).
func TestShutdownDrainsBothServers(t *testing.T) {
	f := newQueuesFixture(t)
	render := f.enqueue(t, worker.NewRenderTask(uuid.NewString()))
	fetch := f.enqueue(t, worker.NewFetchTask(uuid.NewString()))
	f.render.wait(t, "the render")
	f.fetch.wait(t, "the fetch")
	f.cancel()
	f.open()
	if err := <-f.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.done <- nil // for the cleanup
	if r, fe := f.render.finished.Load(), f.fetch.finished.Load(); r != 1 || fe != 1 {
		t.Fatalf("finished renders %d, fetches %d; want 1 and 1", r, fe)
	}
	for queue, id := range map[string]string{"default": render, worker.QueueFetch: fetch} {
		info, err := f.inspect.GetTaskInfo(queue, id)
		if err != nil {
			t.Fatalf("%s task %s: %v", queue, id, err)
		}
		if info.State != asynq.TaskStateCompleted {
			t.Errorf("%s task %s is %s after shutdown, want completed", queue, id, info.State)
		}
	}
}
