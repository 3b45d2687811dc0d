package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// TestBenchSoak is the short soak of issue 17: 10 patients loop through login,
// consent and transfer for 30 s (three 10 s intervals). The command's own exit
// status and JSON are the verdict: no errors, transfers done in every
// interval, and every process's goroutines (where exported), fds and RSS flat
// between the first and the last interval within the command's tolerance.
func TestBenchSoak(t *testing.T) {
	prefix := fmt.Sprintf("pgo_soaktest_%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { dropBenchDatabases(t, prefix) })
	args := []string{"bench", "soak", "--patients", "10", "--duration", "30s", "--interval", "10s", "--json",
		"--dir", filepath.Join(t.TempDir(), "bench"), "--db-prefix", prefix, "--postgres", storetest.BaseURL(),
		"--noord-redis", storetest.Redis(t), "--zuid-redis", storetest.Redis(t)}
	code, stdout, stderr := runPGO(t, nil, args...)
	if code != 0 {
		t.Fatalf("pgo %v: exit %d\n%s\n%s", args, code, stdout, stderr)
	}
	var rep soakReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if rep.Errors != 0 || !rep.Flat || rep.Patients != 10 || len(rep.Intervals) != 3 || rep.Logins < 10 {
		t.Errorf("soak: %d errors, flat %v, %d patients, %d intervals, %d logins; want 0, true, 10, 3, >= 10:\n%s",
			rep.Errors, rep.Flat, rep.Patients, len(rep.Intervals), rep.Logins, stdout)
	}
	for _, w := range rep.Intervals {
		if w.Transfers == 0 || len(w.Procs) != 5 || len(w.DBConns) != 2 {
			t.Errorf("interval %d: %d transfers, %d processes sampled, %d databases; want > 0, 5, 2", w.Interval, w.Transfers, len(w.Procs), len(w.DBConns))
		}
	}
	judged := map[string]bool{}
	for _, v := range rep.Verdict {
		judged[v.Process+" "+v.Metric] = v.First > 0 && v.Last > 0
	}
	for _, want := range []string{"PGO Noord serve goroutines", "PGO Zuid serve goroutines", "PGO Noord worker open_fds",
		"PGO Zuid worker rss_mb", "pgo bench (patients) goroutines", "database noord db_connections"} {
		if !judged[want] {
			t.Errorf("no verdict with figures for %s: %v", want, judged)
		}
	}
	if !strings.Contains(stderr, "interval 3 (") {
		t.Errorf("no line for the last interval on stderr:\n%s", stderr)
	}
}
