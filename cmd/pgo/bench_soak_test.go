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
// consent and transfer for 30 s (three 10 s intervals, after 10 s of warm-up
// in which the first logins and renders grow the heaps to their working size). The command's own exit
// status and JSON are the verdict: no errors, transfers done in every
// interval, and every process's goroutines (where exported), fds and RSS flat
// between the first and the last interval within the command's tolerance.
func TestBenchSoak(t *testing.T) {
	prefix := fmt.Sprintf("pgo_soaktest_%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { dropDemoDatabases(t, prefix) })
	args := []string{"bench", "soak", "--patients", "10", "--warmup", "10s", "--duration", "30s", "--interval", "10s", "--json",
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
	// Every patient's last round ends after the duration (it would start
	// another otherwise) and counts in the last interval; without errors that
	// is a transfer per patient there, whatever the machine's load.
	if last := rep.Intervals[len(rep.Intervals)-1]; last.Transfers < 10 || rep.Transfers < 10 {
		t.Errorf("%d transfers, %d in the last interval; want >= 10 in each", rep.Transfers, last.Transfers)
	}
	for _, w := range rep.Intervals {
		if len(w.Procs) != 5 || len(w.DBConns) != 2 {
			t.Errorf("interval %d: %d processes sampled, %d databases; want 5, 2", w.Interval, len(w.Procs), len(w.DBConns))
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

// TestSoakVerdict: growth beyond the tolerance (and its slack) between the
// first and the last interval fails the verdict; staying within passes; a
// run without samples is not called flat.
func TestSoakVerdict(t *testing.T) {
	win := func(goroutines, fds int, rss float64, conns int) soakWindow {
		return soakWindow{Procs: []procSample{{Name: "PGO Noord serve", Goroutines: goroutines, FDs: fds, RSSMB: rss},
			{Name: "PGO Noord worker", Goroutines: -1, FDs: fds, RSSMB: rss}}, DBConns: map[string]int{"noord": conns}}
	}
	cases := []struct {
		name        string
		first, last soakWindow
		flat        bool
		grew        string // the metric that grew
	}{
		{"same", win(30, 20, 100, 10), win(30, 20, 100, 10), true, ""},
		{"within tolerance", win(30, 20, 100, 10), win(57, 41, 149, 16), true, ""},
		{"goroutines grew", win(30, 20, 100, 10), win(58, 20, 100, 10), false, "goroutines"},
		{"fds grew", win(30, 20, 100, 10), win(30, 42, 100, 10), false, "open_fds"},
		{"rss grew", win(30, 20, 100, 10), win(30, 20, 150, 10), false, "rss_mb"},
		{"connections grew", win(30, 20, 100, 10), win(30, 20, 100, 17), false, "db_connections"},
		{"no samples", soakWindow{}, soakWindow{}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &soak{o: soakOptions{patients: 1, duration: 2 * time.Minute, interval: time.Minute, tolerance: 25},
				windows: []soakWindow{c.first, c.last}}
			rep := s.report()
			if rep.Flat != c.flat {
				t.Fatalf("flat %v, want %v: %+v", rep.Flat, c.flat, rep.Verdict)
			}
			for _, v := range rep.Verdict {
				if v.Flat == (v.Metric == c.grew) {
					t.Errorf("%s %s: flat %v (%v -> %v, limit %v); want only %q grown", v.Process, v.Metric, v.Flat, v.First, v.Last, v.Limit, c.grew)
				}
				if v.Process == "PGO Noord worker" && v.Metric == "goroutines" {
					t.Error("judged the worker's goroutines, which it does not export")
				}
			}
		})
	}
}

// TestSoakFlags: the soak refuses settings it cannot give a verdict for.
func TestSoakFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--patients", "0"},
		{"--duration", "1m", "--interval", "1m"},
		{"--interval", "1s", "--duration", "10s"},
		{"--tolerance", "-1"},
		{"--warmup", "-1s"},
		{"--duration", "25h"},
	} {
		code, _, stderr := runPGO(t, nil, append([]string{"bench", "soak"}, args...)...)
		if code != 2 || !strings.Contains(stderr, "--") {
			t.Errorf("pgo bench soak %v: exit %d, want 2 with the flag named:\n%s", args, code, stderr)
		}
	}
}
