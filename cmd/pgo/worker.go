package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/worker"
)

var workerCmd = &command{
	name:    "worker",
	summary: "Run background jobs (asynq) and relay the transactional outbox into the queue.",
	run:     runWorker,
}

func runWorker(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(fs, "takes no arguments")
	}
	// The export and rewrap tasks need the vault: a keyset that does not open
	// stops the worker at start with one line, instead of failing every task.
	a, err := openApp(ctx, e, "worker", e.stderr, needDB|needVault|needSigner|needLists)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, log := a.Config, a.Log
	if err := a.DB.MigrationsCurrent(ctx); err != nil {
		return fmt.Errorf("%w (run 'pgo migrate')", err)
	}
	a.warnSuperuser()
	a.warnRedisDurability(ctx)
	maintain, err := a.auditMaintenance(e)
	if err != nil {
		return err
	}
	stalled, err := a.stalledWork()
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Options{
		RedisURL:          cfg.RedisURL,
		DB:                a.DB,
		Concurrency:       cfg.WorkerConcurrency,
		FetchConcurrency:  cfg.WorkerFetchConcurrency,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		OutboxPoll:        cfg.OutboxPoll,
		RetryDelay:        cfg.WorkerRetryDelay,
		TaskCheckInterval: cfg.WorkerTaskCheckInterval,
		Log:               log,
		Periodic:          []worker.Periodic{maintain, worker.OutboxPrune(a.DB, cfg.OutboxRetention, time.Hour, nil), a.exportCleanup(), stalled},
	})
	if err != nil {
		return err
	}
	a.registerTasks(w)
	stopOps, err := a.serveWorkerOps(ctx, e)
	if err != nil {
		return err
	}
	defer stopOps()
	defer a.startAuditLinker(ctx)() // issue 16: links this process's audit appends
	log.Info("worker started", "concurrency", cfg.WorkerConcurrency, "fetch_concurrency", cfg.WorkerFetchConcurrency,
		"task_check_interval", cfg.WorkerTaskCheckInterval.String())
	fmt.Fprintln(e.stdout, "worker running")
	err = w.Run(ctx)
	// A last checkpoint at shutdown, so that records written since the last
	// round are pinned outside the database too.
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ferr := maintain.Run(fctx); ferr != nil {
		log.Warn("audit checkpoint at shutdown failed", "error", ferr.Error())
	}
	log.Info("worker stopped")
	return err
}

// serveWorkerOps starts pgo worker's operations listener on PGO_WORKER_OPS_ADDR
// when it is set: /healthz, /readyz (PostgreSQL, Redis, migrations), /metrics and
// /debug/pprof, as pgo serve's PGO_OPS_ADDR, so that a worker (where the renders
// run) can be watched and profiled too. A port that cannot be bound stops the
// worker at start. The returned function shuts the listener down and waits for
// it.
func (a *App) serveWorkerOps(ctx context.Context, e *env) (wait func(), err error) {
	addr := a.Config.WorkerOpsAddr
	if addr == "" {
		return func() {}, nil
	}
	rc, err := openRedis(ctx, a.Config.RedisURL, a.Log)
	if err != nil {
		return nil, err
	}
	a.onClose(func() { rc.Close() })
	srv, err := server.New(server.Deps{
		Config: a.Config,
		Logger: a.Log,
		Checkers: []server.Checker{
			server.CheckFunc("postgres", a.DB.Ping),
			server.CheckFunc("redis", func(ctx context.Context) error { return rc.Ping(ctx).Err() }),
			server.CheckFunc("migrations", a.DB.MigrationsCurrent),
		},
	})
	if err != nil {
		return nil, &exitError{code: 2, msg: "pgo worker: " + err.Error()}
	}
	srv.Registry().MustRegister(server.DBRoundTrips(a.DB.RoundTrips))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("PGO_WORKER_OPS_ADDR: %w", err)
	}
	a.Log.Info("operations listener (/readyz, /metrics, /debug/pprof)", "addr", ln.Addr().String())
	fmt.Fprintf(e.stdout, "operations on http://%s\n", ln.Addr())
	octx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeOps(octx, ln); err != nil {
			a.Log.Warn("worker operations listener stopped", "error", err.Error())
		}
	}()
	return func() { cancel(); <-done }, nil
}

// auditMaintenance keeps the audit log's month partitions ahead and signs its chain
// head every PGO_AUDIT_CHECKPOINT_INTERVAL (issue 4), writing each checkpoint to
// PGO_AUDIT_CHECKPOINT_SINK too (issue 15). Without PGO_SIGNING_KEY it still
// creates partitions, and says once that checkpoints are off.
func (a *App) auditMaintenance(e *env) (worker.Periodic, error) {
	db, key := a.DB, a.Signer
	if key == nil {
		a.Log.Warn("audit checkpoints are off: no signing key", "setting", "PGO_SIGNING_KEY")
	}
	var sink audit.CheckpointSink
	switch p := a.Config.Audit.CheckpointSink; p {
	case "":
		if key != nil {
			a.Log.Warn("audit checkpoints stay in the database only: a database superuser could remove them with the records",
				"setting", "PGO_AUDIT_CHECKPOINT_SINK")
		}
	case "stdout":
		sink = audit.NewLineSink(e.stdout)
	default:
		s, c, err := audit.OpenFileSink(p)
		if err != nil {
			return worker.Periodic{}, &exitError{code: 2, msg: "pgo: configuration: PGO_AUDIT_CHECKPOINT_SINK: " + err.Error()}
		}
		sink = s
		a.onClose(func() { c.Close() })
	}
	m := &auditdb.Maintenance{DB: db, Signer: key, Sink: sink}
	return worker.Periodic{
		Name:  "audit-maintenance",
		Every: a.Config.Audit.CheckpointInterval,
		Run: func(ctx context.Context) error {
			if key == nil {
				_, err := auditdb.EnsurePartitions(ctx, db, auditdb.PartitionsAhead)
				return err
			}
			return m.Run(ctx)
		},
	}, nil
}
