package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgo worker warns at start when the queue's Redis does not log its writes
// (appendonly no), saying whether snapshots keep anything, and stays quiet with
// the append-only file on (the way the fault tests and docker-compose run it).
func TestWorkerWarnsOfVolatileRedis(t *testing.T) {
	for _, c := range []struct {
		name    string
		persist []string
		warning string // "" for none
	}{
		{"append-only file", []string{"--save", "", "--appendonly", "yes"}, ""},
		{"memory only", []string{"--save", "", "--appendonly", "no"}, "in memory only (appendonly no, no snapshots)"},
		{"snapshots only", []string{"--save", "3600 1", "--appendonly", "no"}, "in snapshots only (appendonly no)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			vars := exportVars(t)
			vars["PGO_REDIS_URL"] = startRedisWith(t, c.persist...).URL()
			w := startPGO(t, vars, "worker running", "worker")
			if code := w.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
				t.Errorf("exit %d", code)
			}
			log := w.Stderr.String()
			if c.warning == "" && strings.Contains(log, "appendonly") {
				t.Errorf("warned with the append-only file on:\n%s", log)
			}
			if c.warning != "" && !strings.Contains(log, c.warning) {
				t.Errorf("no warning %q:\n%s", c.warning, log)
			}
		})
	}
}
