package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRequestIDs(t *testing.T) {
	s, _ := newTestServer(t, nil)
	var seen reqctx.IDs
	s.group(KindOps).GET("/test/ids", func(c echo.Context) error {
		seen = reqctx.FromContext(c.Request().Context())
		return c.NoContent(http.StatusNoContent)
	})
	long := strings.Repeat("a", 129)
	tests := []struct {
		name          string
		in            map[string]string
		wantReq       string // "" means: a fresh UUIDv4
		wantCorr      string
		malformedSent []string
	}{
		{"none", nil, "", "", nil},
		{"medmij kept", map[string]string{"MedMij-Request-ID": "0b6c1a3e-1c1d-4c1e-9a1b-2b3c4d5e6f70", "X-Correlation-ID": "flow-1"},
			"0b6c1a3e-1c1d-4c1e-9a1b-2b3c4d5e6f70", "flow-1", nil},
		{"rivo nanoid kept", map[string]string{"X-Request-Id": "V1StGXR8_Z5j", "X-Correlation-Id": "abc.DEF:1-2_3"},
			"V1StGXR8_Z5j", "abc.DEF:1-2_3", nil},
		{"medmij wins over x-request-id", map[string]string{"MedMij-Request-ID": "m1", "X-Request-Id": "x1"}, "m1", "", nil},
		{"malformed medmij falls to x-request-id", map[string]string{"MedMij-Request-ID": "bad id", "X-Request-Id": "x1"}, "x1", "", nil},
		{"malformed replaced", map[string]string{"X-Request-Id": "<script>", "X-Correlation-ID": "a\"b"}, "", "", []string{"<script>", "a\"b"}},
		{"too long replaced", map[string]string{"X-Request-Id": long, "X-Correlation-ID": long}, "", "", []string{long}},
		{"128 kept", map[string]string{"X-Request-Id": long[:128]}, long[:128], "", nil},
		{"non-ascii replaced", map[string]string{"X-Request-Id": "idé"}, "", "", []string{"idé"}},
		{"a BSN as id replaced", map[string]string{"X-Request-Id": "123456782", "X-Correlation-ID": "bsn-111222333"}, "", "", []string{"123456782", "111222333"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/test/ids", nil)
			for k, v := range tt.in {
				req.Header.Set(k, v)
			}
			w := do(s, req)
			h := w.Result().Header
			rid, xrid, corr := hget(h, "MedMij-Request-ID"), hget(h, "X-Request-Id"), hget(h, "X-Correlation-ID")
			if rid != xrid {
				t.Errorf("MedMij-Request-ID %q != X-Request-Id %q", rid, xrid)
			}
			check := func(what, got, want string) {
				if want == "" && !uuidV4.MatchString(got) {
					t.Errorf("%s = %q, want a fresh UUIDv4", what, got)
				}
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			check("request id", rid, tt.wantReq)
			check("correlation id", corr, tt.wantCorr)
			if seen.Request != rid || seen.Correlation != corr {
				t.Errorf("context ids %+v differ from response %q/%q", seen, rid, corr)
			}
			// The MedMij spelling is sent as documented.
			exact := false
			for k := range w.Header() {
				exact = exact || k == reqctx.HeaderMedMijRequestID
			}
			if !exact {
				t.Errorf("response lacks the exact header name MedMij-Request-ID: %v", w.Header())
			}
		})
	}
}

// hget reads a header case-insensitively, as a client's parser does; the
// recorder keeps the non-canonical spellings we send.
func hget(h http.Header, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func TestIDsOnEveryLogLine(t *testing.T) {
	s, logs := newTestServer(t, nil)
	s.group(KindOps).GET("/test/log", func(c echo.Context) error {
		s.log.InfoContext(c.Request().Context(), "handler says hi")
		return c.NoContent(http.StatusNoContent)
	})
	req := httptest.NewRequest(http.MethodGet, "/test/log", nil)
	req.Header.Set("X-Request-Id", "req-42")
	req.Header.Set("X-Correlation-ID", "corr-42")
	do(s, req)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want handler and access log lines, got %q", logs.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, `"request_id":"req-42"`) || !strings.Contains(l, `"correlation_id":"corr-42"`) {
			t.Errorf("log line without ids: %s", l)
		}
	}
	if !strings.Contains(logs.String(), `"route":"/test/log"`) {
		t.Errorf("access log lacks the route template: %s", logs.String())
	}
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	s, _ := newTestServer(t, nil)
	s.group(KindBrowser).GET("/test/panic", func(echo.Context) error { panic("boom") })
	want := map[string]string{
		"Content-Security-Policy":   "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "no-referrer",
		"X-Frame-Options":           "DENY",
	}
	for _, tc := range []struct {
		method, path string
		status       int
		cache        string
	}{
		{"GET", "/", 200, "no-store"},
		{"GET", "/healthz", 200, "no-store"},
		{"GET", "/nope", 404, "no-store"},
		{"POST", "/healthz", 405, "no-store"},
		{"GET", "/test/panic", 500, "no-store"},
		{"GET", "/peer/ping", 401, "no-store"},
		{"GET", "/static/pgo.css", 200, "public, max-age=86400"},
		{"GET", "/static/", 404, "no-store"},
		{"GET", "/static/missing.css", 404, "no-store"},
	} {
		w := do(s, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, w.Code, tc.status)
		}
		for k, v := range want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, k, got, v)
			}
		}
		if got := w.Header().Get("Cache-Control"); got != tc.cache {
			t.Errorf("%s %s: Cache-Control = %q, want %q", tc.method, tc.path, got, tc.cache)
		}
	}
}

func TestPanicGives500WithRequestIDAndNoStack(t *testing.T) {
	s, logs := newTestServer(t, nil)
	s.group(KindBrowser).GET("/test/panic", func(echo.Context) error { panic("secret panic value") })
	s.group(KindPeer).GET("/test/peer-panic", func(echo.Context) error { panic("secret panic value") })
	s.group(KindOps).GET("/test/ops-panic", func(echo.Context) error { panic("secret panic value") })
	for _, path := range []string{"/test/panic", "/test/ops-panic"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Request-Id", "panic-req-1")
		w := do(s, req)
		b := body(t, w)
		if w.Code != http.StatusInternalServerError {
			t.Fatalf("%s: status %d, want 500", path, w.Code)
		}
		if !strings.Contains(b, "panic-req-1") {
			t.Errorf("%s: body lacks the request id: %s", path, b)
		}
		for _, leak := range []string{"secret panic value", "goroutine", ".go:", "runtime/debug"} {
			if strings.Contains(b, leak) {
				t.Errorf("%s: body leaks %q: %s", path, leak, b)
			}
		}
	}
	if !strings.Contains(logs.String(), "secret panic value") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("panic value and stack should be in the log: %s", logs.String())
	}
}

func TestBodyLimit(t *testing.T) {
	s, _ := newTestServer(t, nil) // limit 1024
	s.group(KindOps).POST("/test/echo", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, "read "+string(rune('0'+len(b)/1000)))
	})
	tests := []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"at limit", 1024, false, 200},
		{"over limit by header", 1025, false, 413},
		{"over limit chunked", 5000, true, 413},
		{"under limit chunked", 10, true, 200},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodPost, "/test/echo", strings.NewReader(strings.Repeat("x", tt.size)))
		if tt.chunked {
			req.ContentLength = -1
		}
		w := do(s, req)
		if w.Code != tt.want {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, w.Code, tt.want, body(t, w))
		}
		if tt.want == 413 && w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: content type %q", tt.name, w.Header().Get("Content-Type"))
		}
	}
}

func TestLogsLeaveOutSecrets(t *testing.T) {
	s, logs := newTestServer(t, nil)
	s.group(KindBrowser).POST("/test/login", func(c echo.Context) error {
		if c.FormValue("password") == "" {
			t.Error("handler did not get the form")
		}
		return c.Redirect(http.StatusSeeOther, "/")
	})
	s.group(KindBrowser).GET("/test/callback", func(c echo.Context) error {
		return c.String(http.StatusOK, "ok")
	})
	secrets := []string{"Bearer-tok-9f8e7d", "auth-code-5a4b3c", "hunter2-pw-7781", "session-cookie-0c0c", "state-xyz-123"}
	form := url.Values{"username": {"alice"}, "password": {secrets[2]}}
	req := httptest.NewRequest(http.MethodPost, "/test/login?code="+secrets[1], strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", secrets[0])
	req.AddCookie(&http.Cookie{Name: "pgo_session", Value: secrets[3]})
	if w := do(s, req); w.Code != http.StatusSeeOther {
		t.Fatalf("login: status %d", w.Code)
	}
	req = httptest.NewRequest(http.MethodGet, "/test/callback?code="+secrets[1]+"&state="+secrets[4], nil)
	req.Header.Set("Authorization", "Bearer "+secrets[0])
	req.Header.Set("Cookie", "pgo_session="+secrets[3])
	do(s, req)
	// An error path too: unknown route with the same secrets.
	req = httptest.NewRequest(http.MethodGet, "/nope?code="+secrets[1], nil)
	req.Header.Set("Authorization", secrets[0])
	do(s, req)
	out := logs.String()
	if !strings.Contains(out, `"route":"/test/login"`) || !strings.Contains(out, `"status":303`) {
		t.Fatalf("access log missing: %s", out)
	}
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("log contains secret %q:\n%s", sec, out)
		}
	}
}

func TestMetricsByRouteTemplate(t *testing.T) {
	s, _ := newTestServer(t, nil)
	s.group(KindOps).GET("/test/item/:id", func(c echo.Context) error { return c.NoContent(204) })
	do(s, httptest.NewRequest(http.MethodGet, "/test/item/123", nil))
	do(s, httptest.NewRequest(http.MethodGet, "/random/scanner/path", nil))
	w := do(s, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b := body(t, w)
	for _, want := range []string{
		`pgo_http_requests_total{method="GET",route="/test/item/:id",status="204"} 1`,
		`pgo_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`pgo_http_request_duration_seconds_bucket{method="GET",route="/test/item/:id",status="204"`,
		`go_goroutines`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(b, "/test/item/123") || strings.Contains(b, "/random/scanner") {
		t.Error("/metrics uses raw paths as labels")
	}
}

func TestRemoteIPInLog(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}
	for _, tc := range []struct {
		name, plain, remote, xff, want string
	}{
		{"direct ignores X-Forwarded-For", "", "192.0.2.10:5555", "203.0.113.7", `"remote_ip":"192.0.2.10"`},
		{"behind a listed proxy uses X-Forwarded-For", "127.0.0.1:8080", "10.0.0.2:5555", "203.0.113.7", `"remote_ip":"203.0.113.7"`},
		{"a proxy's own chain entry is skipped", "127.0.0.1:8080", "10.0.0.2:5555", "203.0.113.7, 10.0.0.2", `"remote_ip":"203.0.113.7"`},
		{"untrusted proxy address ignored", "127.0.0.1:8080", "198.51.100.1:5555", "203.0.113.7", `"remote_ip":"198.51.100.1"`},
		// issue 15, finding 3: a network neighbour that is not the listed proxy
		// cannot forge its address (and so dodge the throttle, or write another
		// IP into the audit log).
		{"private neighbour not listed", "127.0.0.1:8080", "10.0.0.3:5555", "203.0.113.7", `"remote_ip":"10.0.0.3"`},
		{"loopback neighbour not listed", "127.0.0.1:8080", "127.0.0.1:5555", "203.0.113.7", `"remote_ip":"127.0.0.1"`},
	} {
		s, logs := newTestServer(t, func(c *config.Config) { c.PlainAddr, c.TrustedProxies = tc.plain, proxy })
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.RemoteAddr = tc.remote
		req.Header.Set("X-Forwarded-For", tc.xff)
		do(s, req)
		if !strings.Contains(logs.String(), tc.want) {
			t.Errorf("%s: log %s lacks %s", tc.name, logs.String(), tc.want)
		}
	}
}
