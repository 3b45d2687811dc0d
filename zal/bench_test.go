package zal

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// big10k builds a ZAL with 10,000 APD providers offering gegevensdienst 51.
func big10k(b *testing.B) []byte {
	b.Helper()
	inst := make([]Instance, 10000)
	for i := range inst {
		name := "pgo" + letters(int64(i))
		inst[i] = Instance{Name: name, BaseURL: "https://" + name + ".example.nl"}
	}
	out, err := Generate(GenerateInput{Instances: inst, Volgnummer: 1})
	if err != nil {
		b.Fatal(err)
	}
	return out[KindZAL]
}

// BenchmarkParseZAL10k reports the time to parse, validate and index a ZAL with
// 10,000 providers.
func BenchmarkParseZAL10k(b *testing.B) {
	data := big10k(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data, ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/parse")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/parse")
	b.ReportMetric(float64(len(data))/(1<<20), "MiB")
}

// BenchmarkLookup10k reports look-ups per second on the Registry (lock-free
// snapshot load + index) for a ZAL with 10,000 providers, from parallel goroutines.
func BenchmarkLookup10k(b *testing.B) {
	l, err := Parse(big10k(b), ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	r := NewStatic(l)
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("pgo%s@medmij", letters(int64(i*7)))
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := r.Source(names[i%len(names)], Gegevensdienst51); err != nil {
				b.Error(err)
				return
			}
			if _, err := r.Endpoints(names[(i+1)%len(names)], Gegevensdienst51); err != nil {
				b.Error(err)
				return
			}
			i += 2
		}
	})
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkSearch10k reports substring searches per second over 10,000 sources.
func BenchmarkSearch10k(b *testing.B) {
	l, err := Parse(big10k(b), ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	z := l.(*ZAL)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(z.Search(Gegevensdienst51, "pgobc")) == 0 {
			b.Fatal("no hits")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "searches/s")
}

// cpuTime is the CPU time (user + system, all threads, GC included) the process has
// used: on the shared 2-CPU machine wall time per parse mostly measures how busy
// the other tenants are, CPU time per parse what the parser costs.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
