package server

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
)

// Checker is one readiness check behind /readyz: a dependency without which this
// instance should not get traffic (PostgreSQL, Redis, migrations, MedMij lists).
type Checker interface {
	Name() string
	Check(ctx context.Context) error
}

// CheckFunc adapts a function to a Checker.
func CheckFunc(name string, fn func(ctx context.Context) error) Checker {
	return checkFunc{name, fn}
}

type checkFunc struct {
	name string
	fn   func(context.Context) error
}

func (c checkFunc) Name() string                    { return c.name }
func (c checkFunc) Check(ctx context.Context) error { return c.fn(ctx) }

// checkTimeout bounds each readiness check, so a hanging dependency makes /readyz
// fail fast rather than hang the load balancer's probe.
const checkTimeout = 2 * time.Second

// healthz answers 200 while the process is up (liveness): it checks nothing else,
// so a database outage never makes an orchestrator restart healthy processes.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "up"})
}

// readyz runs every checker in parallel and answers 200 when all pass, or 503 as
// problem+json naming the failing dependencies. Failure details go to the log.
func (s *Server) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	failed := s.runChecks(ctx)
	if len(failed) > 0 {
		return pgo.Errorf(pgo.EUNAVAILABLE, "not ready: %s", strings.Join(failed, ", "))
	}
	names := make([]string, len(s.checkers))
	for i, ch := range s.checkers {
		names[i] = ch.Name()
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": names})
}

// runChecks returns the sorted names of the checkers that failed.
func (s *Server) runChecks(ctx context.Context) []string {
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	for _, ch := range s.checkers {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			if err := ch.Check(cctx); err != nil {
				s.log.WarnContext(ctx, "readiness check failed", "check", ch.Name(), "error", err.Error())
				mu.Lock()
				failed = append(failed, ch.Name())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Strings(failed)
	return failed
}
