package worker

import (
	"context"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Periodic is maintenance that runs every Every in one worker of the fleet at a
// time (for example the audit log's partitions and signed checkpoint, NEN 7513).
type Periodic struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) error
}

// runPeriodic runs p now and then every p.Every until ctx ends. Each run holds a
// PostgreSQL advisory lock named after the job, so with several workers one runs it
// and the others skip that round; a failed run is logged and tried next round.
func runPeriodic(ctx context.Context, pool *pgxpool.Pool, p Periodic, log *slog.Logger) {
	key := lockKey(p.Name)
	for {
		runOnce(ctx, pool, key, p, log)
		t := time.NewTimer(p.Every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func runOnce(ctx context.Context, pool *pgxpool.Pool, key int64, p Periodic, log *slog.Logger) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("periodic job: no database connection", "job", p.Name, "err", err)
		}
		return
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "select pg_try_advisory_lock($1)", key).Scan(&got); err != nil || !got {
		return
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", key)
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		if ctx.Err() == nil {
			log.Warn("periodic job failed", "job", p.Name, "err", err)
		}
		return
	}
	log.Debug("periodic job done", "job", p.Name, "took", time.Since(start))
}

func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("pgo-periodic:" + name))
	return int64(h.Sum64())
}
