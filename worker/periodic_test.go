package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// TestPeriodicRunsOnceAcrossWorkers: three workers run the same periodic job; the
// advisory lock lets one run it at a time, and a failing round does not stop it.
func TestPeriodicRunsOnceAcrossWorkers(t *testing.T) {
	db := storetest.DB(t)
	var running, maxRunning, runs atomic.Int32
	job := Periodic{Name: t.Name(), Every: 20 * time.Millisecond, Run: func(ctx context.Context) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		if runs.Add(1)%2 == 0 {
			return errors.New("round failed")
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); runPeriodic(ctx, db.Pool, job, log) }()
	}
	deadline := time.Now().Add(20 * time.Second)
	for runs.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if runs.Load() < 6 {
		t.Fatalf("only %d runs", runs.Load())
	}
	if maxRunning.Load() != 1 {
		t.Fatalf("%d runs overlapped; want one at a time", maxRunning.Load())
	}
}
