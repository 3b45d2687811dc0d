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
	"github.com/pgo-koppelvlak/pgo/internal/cputime"
)

// BenchmarkRender reports, per dossier size: ms per document (layout + PDF/A
// post-processing + completeness proof), the three phases separately, the proof's
// share of the whole in percent, pages/s, bytes, and the peak live heap seen while
// rendering (sampled every 2 ms). "standard" and "large" are synthetic summaries
// (300 and 10,000 items, comparable with the numbers before the proof existed);
// "generated-*" are dossier.Generate's FHIR dossiers (every resource string is
// proven).
func BenchmarkRender(b *testing.B) {
	for _, size := range []struct {
		name string
		in   func(b *testing.B) Input
	}{
		{"standard", synthInput(300)}, {"large", synthInput(10000)},
		{"generated-standard", generatedInput(dossier.SizeStandard)}, {"generated-large", generatedInput(dossier.SizeLarge)},
	} {
		b.Run(size.name, func(b *testing.B) {
			in := size.in(b)
			g, err := loadGlyphs()
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			cpu0 := cputime.Process()
			peak, stop := watchHeap()
			var layoutT, convertT, proofT time.Duration
			var pages, bytes int
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				raw, log, err := layout(in, g)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				out, n, err := pdfa.Convert(raw, meta(in), in.Conformance)
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if _, err := log.check(out, in); err != nil {
					b.Fatal(err)
				}
				layoutT += t1.Sub(t0)
				convertT += t2.Sub(t1)
				proofT += time.Since(t2)
				pages, bytes = n, len(out)
				_, _ = io.Discard.Write(out)
			}
			b.StopTimer()
			cpu := cputime.Process() - cpu0
			stop()
			total := layoutT + convertT + proofT
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(total), "ms/doc")
			b.ReportMetric(ms(cpu), "cpu-ms/doc")
			b.ReportMetric(ms(layoutT), "layout-ms/doc")
			b.ReportMetric(ms(convertT), "pdfa-ms/doc")
			b.ReportMetric(ms(proofT), "proof-ms/doc")
			b.ReportMetric(100*proofT.Seconds()/total.Seconds(), "proof-%")
			b.ReportMetric(float64(pages)*float64(b.N)/total.Seconds(), "pages/s")
			b.ReportMetric(float64(pages), "pages")
			b.ReportMetric(float64(bytes)/1e6, "MB/doc")
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
		})
	}
}

func synthInput(items int) func(*testing.B) Input {
	return func(*testing.B) Input {
		return Input{Summary: synthSummary(items, 42, dossier.CatEncounters), Source: "PGO Noord", GeneratedAt: genTime}
	}
}

func generatedInput(size dossier.Size) func(*testing.B) Input {
	return func(b *testing.B) Input {
		return Input{Summary: generatedSummary(b, size), Source: "PGO Noord", GeneratedAt: genTime}
	}
}

// generatedSummary is the Summary of a generated dossier with every category selected.
func generatedSummary(t testing.TB, size dossier.Size) dossier.Summary {
	t.Helper()
	data, err := dossier.Generate(size, 42)
	if err != nil {
		t.Fatal(err)
	}
	in, err := dossier.ReadInput(data)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := dossier.Preview(in, allCategories())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func allCategories() []dossier.Category {
	var all []dossier.Category
	for _, c := range dossier.Categories {
		all = append(all, c.Key)
	}
	return all
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
