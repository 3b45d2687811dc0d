package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/vault"
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
	// The export and rewrap tasks need the vault: a keyset that does not open
	// stops the worker at start with one line, instead of failing every task.
	o, err := openSealed(ctx, e, "worker")
	if err != nil {
		return err
	}
	defer o.Close()
	cfg, v, db := o.cfg, o.vault, o.db
	log := newLogger(e.stderr, cfg.LogLevel)
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
		Periodic:        []worker.Periodic{auditMaintenance(cfg, db, log)},
	})
	if err != nil {
		return err
	}
	registerTasks(w, cfg, db, v, log)
	log.Info("worker started", "concurrency", cfg.WorkerConcurrency)
	fmt.Fprintln(e.stdout, "worker running")
	err = w.Run(ctx)
	log.Info("worker stopped")
	return err
}

// auditMaintenance keeps the audit log's month partitions ahead and signs its chain
// head every PGO_AUDIT_CHECKPOINT_INTERVAL (issue 4). Without PGO_SIGNING_KEY it
// still creates partitions, and says once that checkpoints are off.
func auditMaintenance(cfg *config.Config, db *store.DB, log *slog.Logger) worker.Periodic {
	key, err := vault.LoadSigningKey(cfg.Vault.SigningKey)
	if err != nil {
		log.Warn("audit checkpoints are off: "+err.Error(), "setting", "PGO_SIGNING_KEY")
	}
	return worker.Periodic{
		Name:  "audit-maintenance",
		Every: cfg.Audit.CheckpointInterval,
		Run: func(ctx context.Context) error {
			if key == nil {
				_, err := auditdb.EnsurePartitions(ctx, db, auditdb.PartitionsAhead)
				return err
			}
			return auditdb.Maintain(ctx, db, key)
		},
	}
}
