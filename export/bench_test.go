package export

import (
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export/pdfa"
)

// BenchmarkRender reports, per dossier size: ms per document (layout +
// PDF/A post-processing), the two phases separately, pages/s, bytes, and the peak
// live heap seen while rendering (sampled every 2 ms).
func BenchmarkRender(b *testing.B) {
	for _, size := range []struct {
		name  string
		items int
	}{{"standard", 300}, {"large", 10000}} {
		b.Run(size.name, func(b *testing.B) {
			in := Input{Summary: synthSummary(size.items, 42, dossier.CatEncounters), Source: "PGO Noord", GeneratedAt: genTime}
			g, err := loadGlyphs()
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			peak, stop := watchHeap()
			var layoutT, convertT time.Duration
			var pages, bytes int
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				raw, err := layout(in, g)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				out, n, err := pdfa.Convert(raw, meta(in), in.Conformance)
				if err != nil {
					b.Fatal(err)
				}
				layoutT += t1.Sub(t0)
				convertT += time.Since(t1)
				pages, bytes = n, len(out)
				_, _ = io.Discard.Write(out)
			}
			b.StopTimer()
			stop()
			total := layoutT + convertT
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/doc")
			b.ReportMetric(float64(layoutT.Milliseconds())/float64(b.N), "layout-ms/doc")
			b.ReportMetric(float64(convertT.Milliseconds())/float64(b.N), "pdfa-ms/doc")
			b.ReportMetric(float64(pages)*float64(b.N)/total.Seconds(), "pages/s")
			b.ReportMetric(float64(pages), "pages")
			b.ReportMetric(float64(bytes)/1e6, "MB/doc")
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
		})
	}
}

// watchHeap samples the live heap until stop is called; peak returns the maximum.
func watchHeap() (peak func() uint64, stop func()) {
	var max atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > max.Load() {
				max.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return max.Load, func() { close(done); wg.Wait() }
}
