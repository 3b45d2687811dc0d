package server

import (
	"net/http"
	"net/http/pprof"

	"github.com/labstack/echo/v4"
)

// pprofRoutes puts Go's profiler (net/http/pprof) on the operations listener
// only: CPU, heap, goroutine and block profiles and execution traces of the
// running process, to find where a request's time goes under load (issue 16).
// Profiles name code, not data, but they cost CPU and reveal the build, so they
// are never on the patient-facing port; PGO_OPS_ADDR is loopback by default.
// We do not import net/http/pprof for its side effect on http.DefaultServeMux:
// nothing here serves that mux, and the handlers are registered explicitly.
func (s *Server) pprofRoutes(g *RouteGroup) {
	named := map[string]http.HandlerFunc{
		"cmdline": pprof.Cmdline, "profile": pprof.Profile, "symbol": pprof.Symbol, "trace": pprof.Trace,
	}
	h := func(c echo.Context) error {
		f, ok := named[c.Param("*")]
		if !ok {
			f = pprof.Index // the index page and every named profile (heap, goroutine, ...)
		}
		f(c.Response(), c.Request())
		return nil
	}
	g.GET("/debug/pprof/*", h)
	g.POST("/debug/pprof/symbol", h)
}
