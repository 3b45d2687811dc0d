package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func writeFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o600) }

func TestReadyz(t *testing.T) {
	ok := CheckFunc("postgres", func(context.Context) error { return nil })
	slow := CheckFunc("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	tests := []struct {
		name       string
		checkers   []Checker
		wantStatus int
		wantFailed string
	}{
		{"none", nil, 200, ""},
		{"all pass", []Checker{ok, CheckFunc("redis", func(context.Context) error { return nil })}, 200, ""},
		{"redis fails", []Checker{ok, failingChecker{"redis"}}, 503, "not ready: redis"},
		{"two fail, sorted", []Checker{failingChecker{"redis"}, ok, failingChecker{"migrations"}}, 503, "not ready: migrations, redis"},
		{"hanging check times out", []Checker{ok, slow}, 503, "not ready: slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := newTestServer(t, nil, tt.checkers...)
			start := time.Now()
			w := do(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if d := time.Since(start); d > checkTimeout+time.Second {
				t.Errorf("readyz took %s", d)
			}
			b := body(t, w)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, b)
			}
			if tt.wantStatus == 503 {
				var p problem
				if err := json.Unmarshal([]byte(b), &p); err != nil || p.Detail != tt.wantFailed {
					t.Errorf("detail %q, want %q (%v)", p.Detail, tt.wantFailed, err)
				}
				if strings.Contains(b, "secret-detail") {
					t.Errorf("readyz leaks the check's error: %s", b)
				}
				if strings.Contains(tt.wantFailed, "redis") && !strings.Contains(logs.String(), "secret-detail") {
					t.Errorf("the check's error belongs in the log: %s", logs.String())
				}
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	s, _ := newTestServer(t, nil, failingChecker{"postgres"})
	w := do(s, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != 200 || !strings.Contains(body(t, w), `"up"`) {
		t.Fatalf("healthz must not depend on checkers: %d", w.Code)
	}
}

// /metrics and /readyz live on the operations listener only (issue 15, finding
// 6: they told anyone on the patient-facing port the Go version, per-route
// counts and which dependency is down); the public port keeps a bare /healthz.
func TestOpsEndpointsOnlyOnTheOpsListener(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for _, path := range []string{"/metrics", "/readyz"} {
		pub := httptest.NewRecorder()
		s.Handler().ServeHTTP(pub, httptest.NewRequest(http.MethodGet, path, nil))
		if pub.Code != http.StatusNotFound {
			t.Errorf("public %s: %d; want 404", path, pub.Code)
		}
		ops := httptest.NewRecorder()
		s.OpsHandler().ServeHTTP(ops, httptest.NewRequest(http.MethodGet, path, nil))
		if ops.Code != http.StatusOK {
			t.Errorf("operations %s: %d; want 200", path, ops.Code)
		}
	}
	pub := httptest.NewRecorder()
	s.Handler().ServeHTTP(pub, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if pub.Code != http.StatusOK || strings.TrimSpace(pub.Body.String()) != `{"status":"up"}` {
		t.Errorf("public /healthz: %d %s", pub.Code, pub.Body)
	}
}
