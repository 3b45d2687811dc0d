package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// TestBenchCommands runs `pgo bench transfer`, `token` and `download` with small
// counts on two instances of their own (so the commands cannot rot): each must
// exit 0, print JSON that parses, and report zero failures with every stage of
// the transfer found in the audit records. The figures themselves are read from
// a full run (BENCHMARKS.md), never asserted here. The transfer run also sets
// the workers' PGO_WORKER_TASK_CHECK_INTERVAL (--task-check-interval), which
// each worker's start line must show.
func TestBenchCommands(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, out []byte)
		logs  func(t *testing.T, dir string)
	}{
		{"transfer", []string{"transfer", "--count", "3", "--concurrency", "2", "--task-check-interval", "20ms"}, checkTransferJSON, func(t *testing.T, dir string) {
			for _, inst := range []string{"noord", "zuid"} {
				log, err := os.ReadFile(filepath.Join(dir, inst, "worker.log"))
				if err != nil || !strings.Contains(string(log), `"msg":"worker started"`) || !strings.Contains(string(log), `"task_check_interval":"20ms"`) {
					t.Errorf("%s worker.log (%v) lacks a start line with task_check_interval 20ms:\n%.2000s", inst, err, log)
				}
			}
		}},
		{"token", []string{"token", "--count", "20", "--concurrency", "2"}, func(t *testing.T, out []byte) {
			var rep tokenReport
			if err := json.Unmarshal(out, &rep); err != nil || rep.Requests != 19 || rep.Failures != 0 || rep.PerSecond <= 0 || rep.RoundTrips <= 0 {
				t.Errorf("token report %+v (%v):\n%s", rep, err, out)
			}
		}, nil},
		{"download", []string{"download", "--count", "3", "--sizes", "standard,2MB"}, func(t *testing.T, out []byte) {
			var rep downloadReport
			if err := json.Unmarshal(out, &rep); err != nil || rep.Downloads != 6 || rep.Failures != 0 || len(rep.Documents) != 2 {
				t.Fatalf("download report %+v (%v):\n%s", rep, err, out)
			}
			for i, min := range []int64{1000, 2_000_000} {
				d := rep.Documents[i]
				if d.Bytes < min || d.MBps <= 0 || d.RawMBps <= 0 || d.P50MS <= 0 || d.P95MS < d.P50MS || d.HeapPeakMB <= 0 || d.RSSAfterMB <= 0 {
					t.Errorf("document %d: %+v", i, d)
				}
			}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := fmt.Sprintf("pgo_benchtest_%d", time.Now().UnixNano()%1e9)
			t.Cleanup(func() { dropDemoDatabases(t, prefix) })
			dir := filepath.Join(t.TempDir(), "bench")
			args := append([]string{"bench"}, c.args...)
			args = append(args, "--json", "--dir", dir, "--db-prefix", prefix, "--postgres", storetest.BaseURL(),
				"--noord-redis", storetest.Redis(t), "--zuid-redis", storetest.Redis(t))
			code, stdout, stderr := runPGO(t, nil, args...)
			if code != 0 {
				t.Fatalf("pgo %v: exit %d\n%s\n%s", args, code, stdout, stderr)
			}
			c.check(t, []byte(stdout))
			if c.logs != nil {
				c.logs(t, dir)
			}
		})
	}
}

func checkTransferJSON(t *testing.T, out []byte) {
	t.Helper()
	var rep transferReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if rep.Transfers != 3 || rep.Failures != 0 || rep.P50 <= 0 || rep.RenderMS <= 0 || rep.Overhead <= 0 || rep.PerSecond <= 0 {
		t.Errorf("transfer report:\n%s", out)
	}
	for _, k := range []string{"consent", "token", "queue_fetch", "list", "verify_store", "revoke_finish", "render"} {
		if rep.Stages[k] <= 0 {
			t.Errorf("stage %s not found in the audit records: %v", k, rep.Stages)
		}
	}
	if rep.Slowest["e2e"] != rep.Max || rep.Slowest["token"] <= 0 {
		t.Errorf("the slowest transfer's stages (e2e %v, max %v): %v", rep.Slowest["e2e"], rep.Max, rep.Slowest)
	}
	for _, p := range []string{"PGO Noord serve", "PGO Noord worker", "PGO Zuid serve", "PGO Zuid worker"} {
		if rep.RSS[p] <= 0 {
			t.Errorf("no peak RSS of %s: %v", p, rep.RSS)
		}
		if rep.RoundTrips[p] <= 0 { // each process's pgo_db_round_trips_total
			t.Errorf("no PostgreSQL round trips per transfer of %s: %v", p, rep.RoundTrips)
		}
	}
}
