// Package worker runs background jobs: the asynq server and mux, the outbox relay,
// and the task types of the domains. Each task type has a constant, a payload struct
// and a NewXTask / HandleXTask pair in the domain's file here; permanent failures
// wrap asynq.SkipRetry.
package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/pgo-koppelvlak/pgo/store"
)

// Options configure a Worker.
type Options struct {
	RedisURL    string
	DB          *store.DB
	Concurrency int // slots for the CPU-bound queues (renders, rewraps)
	// FetchConcurrency is the number of slots of the QueueFetch queue; zero means
	// DefaultFetchConcurrency. A transfer fetch spends its time waiting on the
	// network and on the source's render, so it gets slots of its own instead of
	// queueing behind renders and other fetches (issue 16).
	FetchConcurrency int
	ShutdownTimeout  time.Duration
	OutboxPoll       time.Duration
	// TaskCheckInterval is how long asynq sleeps (jittered between half and one
	// and a half times it) when every queue is empty before it looks again; zero
	// means DefaultTaskCheckInterval. asynq's own default of 1 s was, on average,
	// about half a second added to every hop of a transfer (issue 16).
	TaskCheckInterval time.Duration
	// RetryDelay, when set, makes the n-th retry of a failed task wait n times
	// it; zero keeps asynq's default (n^4 + 15 s plus jitter).
	RetryDelay time.Duration
	Log        *slog.Logger
	Periodic   []Periodic // maintenance run by one worker of the fleet at a time
}

// DefaultTaskCheckInterval keeps an idle worker's queue check to about 20 rounds
// of small Redis calls a second per asynq server while a new task waits at most
// 75 ms (the sleep is jittered to 25-75 ms; about 30 ms on average) to be picked
// up; measured before/after with pgo bench transfer (BENCHMARKS.md rounds 1 and
// 14). pgo worker takes it from PGO_WORKER_TASK_CHECK_INTERVAL.
const DefaultTaskCheckInterval = 50 * time.Millisecond

// QueueFetch is the asynq queue of the I/O-bound tasks (transfer fetches), served
// by a second asynq server with FetchConcurrency slots. The outbox row names the
// queue, so the relay's TaskID (unique per queue in asynq) keeps a task in one
// queue whatever happens.
const QueueFetch = "fetch"

// DefaultFetchConcurrency is PGO_WORKER_FETCH_CONCURRENCY's default: 16 transfers
// may wait on their sources at once per worker process. A fetch holds its
// document in memory while it verifies it (at most PGO_MAX_DOCUMENT_BYTES).
const DefaultFetchConcurrency = 16

// cpuQueues are the queues of the main server, with their priorities. "critical"
// also drains fetch tasks enqueued there by an older version.
var cpuQueues = map[string]int{"critical": 6, "default": 3, "low": 1}

// Worker is the asynq servers plus the outbox relay.
type Worker struct {
	opts   Options
	redis  asynq.RedisConnOpt
	mux    *asynq.ServeMux
	client *asynq.Client
}

// New builds a worker; register handlers with Handle before Run.
func New(o Options) (*Worker, error) {
	ro, err := asynq.ParseRedisURI(o.RedisURL)
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.TaskCheckInterval <= 0 {
		o.TaskCheckInterval = DefaultTaskCheckInterval
	}
	if o.FetchConcurrency <= 0 {
		o.FetchConcurrency = DefaultFetchConcurrency
	}
	return &Worker{opts: o, redis: ro, mux: asynq.NewServeMux(), client: asynq.NewClient(ro)}, nil
}

// Handle registers the handler for a task type.
func (w *Worker) Handle(taskType string, h asynq.Handler) { w.mux.Handle(taskType, h) }

// Run processes tasks and relays the outbox until ctx ends, then shuts down
// gracefully: no new tasks are fetched and running ones get ShutdownTimeout to end
// (unfinished ones go back to the queue and run again: handlers are idempotent).
// Two asynq servers share the mux: one for the CPU-bound queues with Concurrency
// slots, one for QueueFetch with FetchConcurrency slots; both stop together.
func (w *Worker) Run(ctx context.Context) error {
	defer w.client.Close()
	cpu := w.server(w.opts.Concurrency, cpuQueues)
	if err := cpu.Start(w.mux); err != nil {
		return err
	}
	fetch := w.server(w.opts.FetchConcurrency, map[string]int{QueueFetch: 1})
	if err := fetch.Start(w.mux); err != nil {
		cpu.Shutdown()
		return err
	}
	relay := &Relay{DB: w.opts.DB, Client: w.client, Poll: w.opts.OutboxPoll, Log: w.opts.Log}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return relay.Run(gctx) })
	for _, p := range w.opts.Periodic {
		g.Go(func() error { runPeriodic(gctx, w.opts.DB.Pool, p, w.opts.Log); return nil })
	}
	<-gctx.Done()
	var stop sync.WaitGroup // in parallel: the whole shutdown stays within ShutdownTimeout
	stop.Go(cpu.Shutdown)
	stop.Go(fetch.Shutdown)
	stop.Wait()
	return g.Wait()
}

func (w *Worker) server(concurrency int, queues map[string]int) *asynq.Server {
	return asynq.NewServer(w.redis, asynq.Config{
		Concurrency:       concurrency,
		ShutdownTimeout:   w.opts.ShutdownTimeout,
		TaskCheckInterval: w.opts.TaskCheckInterval,
		Logger:            asynqLogger{w.opts.Log},
		Queues:            queues,
		RetryDelayFunc:    w.retryDelay(),
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			id, _ := asynq.GetTaskID(ctx)
			w.opts.Log.Warn("task failed", "type", t.Type(), "task_id", id, "err", err)
		}),
	})
}

// retryDelay is asynq's default unless Options.RetryDelay is set.
func (w *Worker) retryDelay() asynq.RetryDelayFunc {
	d := w.opts.RetryDelay
	if d <= 0 {
		return asynq.DefaultRetryDelayFunc
	}
	return func(n int, _ error, _ *asynq.Task) time.Duration { return time.Duration(n+1) * d }
}

// asynqLogger routes asynq's own log lines through slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug("asynq", "msg", args) }
func (a asynqLogger) Info(args ...any)  { a.l.Info("asynq", "msg", args) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn("asynq", "msg", args) }
func (a asynqLogger) Error(args ...any) { a.l.Error("asynq", "msg", args) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error("asynq fatal", "msg", args) }
