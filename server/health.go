package server

import (
	"context"
	"errors"
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
// A check whose error says NotConfigured() (no MedMij lists, say) does not fail
// readiness but is reported as "not configured", never as "ok" (issue 13).
func (s *Server) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	states := s.runChecks(ctx)
	var failed []string
	for name, st := range states {
		if st == stateFailed {
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return pgo.Errorf(pgo.EUNAVAILABLE, "not ready: %s", strings.Join(failed, ", "))
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": states})
}

// The states a check ends in on /readyz.
const (
	stateOK            = "ok"
	stateNotConfigured = "not configured"
	stateFailed        = "failed"
)

// runChecks returns each checker's state by name.
func (s *Server) runChecks(ctx context.Context) map[string]string {
	var mu sync.Mutex
	states := map[string]string{}
	var wg sync.WaitGroup
	for _, ch := range s.checkers {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			st := stateOK
			var nc interface{ NotConfigured() bool }
			if err := ch.Check(cctx); errors.As(err, &nc) && nc.NotConfigured() {
				st = stateNotConfigured
			} else if err != nil {
				s.log.WarnContext(ctx, "readiness check failed", "check", ch.Name(), "error", err.Error())
				st = stateFailed
			}
			mu.Lock()
			states[ch.Name()] = st
			mu.Unlock()
		})
	}
	wg.Wait()
	return states
}
