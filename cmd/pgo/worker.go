package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/worker"
)

func init() {
	register(&command{
		name:    "worker",
		summary: "Run background jobs (asynq) and relay the transactional outbox into the queue.",
		run:     runWorker,
	})
}

func runWorker(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(fs, "takes no arguments")
	}
	cfg, err := loadConfig(e)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.LogLevel)
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer db.Close()
	if err := db.MigrationsCurrent(ctx); err != nil {
		return fmt.Errorf("%w (run 'pgo migrate')", err)
	}
	w, err := worker.New(worker.Options{
		RedisURL:        cfg.RedisURL,
		DB:              db,
		Concurrency:     cfg.WorkerConcurrency,
		ShutdownTimeout: cfg.ShutdownTimeout,
		OutboxPoll:      cfg.OutboxPoll,
		Log:             log,
	})
	if err != nil {
		return err
	}
	registerTasks(w, cfg, db)
	log.Info("worker started", "concurrency", cfg.WorkerConcurrency)
	fmt.Fprintln(e.stdout, "worker running")
	err = w.Run(ctx)
	log.Info("worker stopped")
	return err
}
