package auditdb

import (
	"context"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store"
)

// startLinker runs a Linker (as pgo serve and pgo worker do) and the lag probe
// for a benchmark; the returned stop ends both and returns the largest lag seen.
func startLinker(b *testing.B, db *store.DB) func() time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&Linker{DB: db, Interval: time.Second}).Run(ctx)
	}()
	stopProbe := make(chan struct{})
	lag := make(chan time.Duration, 1)
	go func() { lag <- lagProbe(db, stopProbe) }()
	return func() time.Duration {
		close(stopProbe)
		worst := <-lag
		cancel()
		<-done
		return worst
	}
}
