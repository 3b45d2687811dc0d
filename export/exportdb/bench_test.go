package exportdb_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/dossier"
)

// heapPeak samples the live heap (runtime/metrics, no stop-the-world) every
// millisecond until stop is called and returns the highest value seen.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// BenchmarkRenderAndStore is the whole task for a generated dossier: request (job,
// audit, outbox in one tx), load and decrypt the selection, render PDF/A, seal the
// document and store it with status ready and its audit record. Targets (issue 7):
// standard under 300 ms, large under 10 s with a peak heap under 500 MB.
func BenchmarkRenderAndStore(b *testing.B) {
	for _, size := range []dossier.Size{dossier.SizeStandard, dossier.SizeLarge} {
		b.Run(string(size), func(b *testing.B) {
			f := newFixture(b)
			f.importGenerated(b, size, 7)
			ctx := context.Background()
			runtime.GC()
			stop := heapPeak()
			pages, n := 0, 0
			for b.Loop() {
				job := f.request(b)
				if err := f.jobs.Render(ctx, job.ID); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				j := f.job(b, job.ID)
				pages += j.Pages
				n++
				b.StartTimer()
			}
			peak := stop()
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(n), "ms/render+store")
			b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
			b.ReportMetric(float64(pages/n), "pages")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
