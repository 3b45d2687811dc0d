package main

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// pgo worker with PGO_WORKER_OPS_ADDR serves /healthz, /readyz (with its
// dependencies), /metrics (Go runtime and process) and /debug/pprof on that
// address, plain HTTP; without the setting it listens nowhere; a port that is
// taken stops it at start, naming the setting.
func TestWorkerOperationsListener(t *testing.T) {
	vars := exportVars(t)
	vars["PGO_REDIS_URL"] = storetest.Redis(t)

	plain := startPGO(t, vars, "worker running", "worker")
	if strings.Contains(plain.Stdout.String(), "operations on") {
		t.Errorf("a worker without PGO_WORKER_OPS_ADDR listens:\n%s", plain.Stdout)
	}
	plain.Signal(t, syscall.SIGTERM, 30*time.Second)

	vars["PGO_WORKER_OPS_ADDR"] = "127.0.0.1:0"
	w := startPGO(t, vars, "worker running", "worker")
	ops := w.OpsURL(t)
	c := &http.Client{Timeout: 10 * time.Second}
	if resp, body := get(t, c, ops+"/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
	resp, body := get(t, c, ops+"/readyz", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "postgres") || !strings.Contains(body, "redis") || !strings.Contains(body, "migrations") {
		t.Errorf("/readyz: %d %s", resp.StatusCode, body)
	}
	if _, body := get(t, c, ops+"/metrics", nil); !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_cpu_seconds_total") ||
		!strings.Contains(body, `pgo_http_requests_total{method="GET",route="/healthz",status="200"}`) {
		t.Errorf("/metrics lacks the runtime, process or request figures:\n%.1500s", body)
	}
	if _, body := get(t, c, ops+"/metrics", nil); metricValue(body, "pgo_db_round_trips_total") <= 0 {
		t.Errorf("/metrics: pgo_db_round_trips_total is not a positive count:\n%.1500s", body)
	}
	if resp, body := get(t, c, ops+"/debug/pprof/", nil); resp.StatusCode != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d %.300s", resp.StatusCode, body)
	}
	if code := w.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("worker exit %d after SIGTERM\n%s", code, w.Stderr)
	}
	addr := strings.TrimPrefix(ops, "http://")
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still listens after the worker stopped", addr)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	vars["PGO_WORKER_OPS_ADDR"] = taken.Addr().String()
	code, _, stderr := runPGO(t, vars, "worker")
	if code == 0 || !strings.Contains(stderr, "PGO_WORKER_OPS_ADDR") {
		t.Errorf("worker on a taken port: exit %d\n%s", code, stderr)
	}
}

// metricValue is the value of the unlabelled metric name in a /metrics body
// (Prometheus text), -1 when it is not there.
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
