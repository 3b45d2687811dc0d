package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// BenchmarkMiddlewareChain measures what every request pays for the shared
// middleware (ids, headers, access log, metrics, recovery, body limit) on a
// trivial route, and an HTML error page render.
func BenchmarkMiddlewareChain(b *testing.B) {
	log, _ := reqctx.NewLogger(io.Discard, "info")
	s, err := New(Deps{Config: config.MustDefault(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, path, accept string }{
		{"healthz", "/healthz", ""},
		{"error page", "/no/such/page", "text/html"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			req.Header.Set("Accept", bc.accept)
			b.ReportAllocs()
			for b.Loop() {
				s.Handler().ServeHTTP(httptest.NewRecorder(), req)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/req")
		})
	}
}
