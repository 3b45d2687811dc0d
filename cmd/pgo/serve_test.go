package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestServeEndToEnd boots the real binary and checks what the issue asks of the
// HTTPS server from the outside.
func TestServeEndToEnd(t *testing.T) {
	certs := devCerts(t, "localhost", "pgo-zuid.localhost")
	strangers := devCerts(t, "pgo-evil.localhost")
	p := startPGO(t, serveVars(t, certs), "listening on https://", "serve")
	base := "https://" + p.Addr
	anon := tlsClient(t, certs, "", nil)
	peer := tlsClient(t, certs, "pgo-zuid.localhost", nil)

	t.Run("ids generated", func(t *testing.T) {
		resp, _ := get(t, anon, base+"/healthz", nil)
		rid, corr := resp.Header.Get("MedMij-Request-ID"), resp.Header.Get("X-Correlation-ID")
		if !uuidV4.MatchString(rid) || !uuidV4.MatchString(corr) || resp.Header.Get("X-Request-Id") != rid {
			t.Errorf("ids: MedMij-Request-ID %q, X-Request-Id %q, X-Correlation-ID %q", rid, resp.Header.Get("X-Request-Id"), corr)
		}
	})
	t.Run("ids propagated or replaced", func(t *testing.T) {
		resp, _ := get(t, anon, base+"/healthz", map[string]string{
			"MedMij-Request-ID": "3f1c5a7e-0d3b-4c41-9a51-7f0e2b9c1d22", "X-Correlation-Id": "V1StGXR8_Z5j"})
		if resp.Header.Get("MedMij-Request-ID") != "3f1c5a7e-0d3b-4c41-9a51-7f0e2b9c1d22" ||
			resp.Header.Get("X-Request-Id") != "3f1c5a7e-0d3b-4c41-9a51-7f0e2b9c1d22" ||
			resp.Header.Get("X-Correlation-ID") != "V1StGXR8_Z5j" {
			t.Errorf("valid inbound ids not kept: %v", resp.Header)
		}
		resp, _ = get(t, anon, base+"/healthz", map[string]string{
			"X-Request-Id": "bad id with spaces", "X-Correlation-ID": strings.Repeat("z", 129)})
		if rid := resp.Header.Get("X-Request-Id"); !uuidV4.MatchString(rid) || resp.Header.Get("MedMij-Request-ID") != rid {
			t.Errorf("malformed request id not replaced: %q", rid)
		}
		if corr := resp.Header.Get("X-Correlation-ID"); !uuidV4.MatchString(corr) {
			t.Errorf("malformed correlation id not replaced: %q", corr)
		}
	})
	t.Run("security headers", func(t *testing.T) {
		for _, path := range []string{"/", "/no/such/page", "/healthz", "/peer/ping"} {
			resp, _ := get(t, anon, base+path, map[string]string{"Accept": "text/html"})
			for k, want := range map[string]string{
				"Content-Security-Policy":   "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
				"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
				"X-Content-Type-Options":    "nosniff",
				"Referrer-Policy":           "no-referrer",
				"X-Frame-Options":           "DENY",
				"Cache-Control":             "no-store",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %s = %q, want %q", path, k, got, want)
				}
			}
		}
		resp, _ := get(t, anon, base+"/static/pgo.css", nil)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") == "no-store" {
			t.Errorf("static asset: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	})
	t.Run("tls versions and suites", func(t *testing.T) {
		tests := []struct {
			name   string
			tweak  func(*tls.Config)
			wantOK bool
		}{
			{"TLS 1.1 refused", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }, false},
			{"TLS 1.2 CBC suite refused", func(c *tls.Config) {
				c.MaxVersion = tls.VersionTLS12
				c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
			}, false},
			{"TLS 1.2 AEAD accepted", func(c *tls.Config) {
				c.MaxVersion = tls.VersionTLS12
				c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
			}, true},
			{"TLS 1.3 accepted", func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }, true},
		}
		for _, tt := range tests {
			c := tlsClient(t, certs, "", tt.tweak)
			req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
			resp, err := c.Do(req)
			if tt.wantOK && err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			if !tt.wantOK && err == nil {
				t.Errorf("%s: connected with %x", tt.name, resp.TLS.Version)
			}
			if err == nil {
				resp.Body.Close()
			}
		}
		// A default client negotiates TLS 1.3.
		resp, _ := get(t, anon, base+"/healthz", nil)
		if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("default negotiation: %+v", resp.TLS)
		}
	})
	t.Run("peer route without client certificate", func(t *testing.T) {
		resp, body := get(t, anon, base+"/peer/ping", nil)
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(body, "client certificate") {
			t.Errorf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("peer route with certificate from unknown CA", func(t *testing.T) {
		kp, err := tls.LoadX509KeyPair(filepath.Join(strangers, "pgo-evil.localhost-client.pem"),
			filepath.Join(strangers, "pgo-evil.localhost-client-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		// TLS 1.3: the client learns of the rejection only on its first read or
		// write, as an alert or a reset. TLS 1.2: the handshake itself fails with
		// the server's alert.
		for _, max := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			c := tlsClient(t, certs, "", func(c *tls.Config) { c.Certificates, c.MaxVersion = []tls.Certificate{kp}, max })
			resp, err := c.Get(base + "/peer/ping")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("TLS %x: handshake with a stranger's certificate succeeded: %d", max, resp.StatusCode)
			}
			if max == tls.VersionTLS12 && !strings.Contains(err.Error(), "certificate") {
				t.Errorf("TLS 1.2: error does not say why: %v", err)
			}
		}
		if !strings.Contains(p.Stderr.String(), "TLS handshake error") {
			t.Errorf("server log lacks the failed handshake:\n%s", p.Stderr)
		}
	})
	t.Run("peer route with valid client certificate", func(t *testing.T) {
		resp, body := get(t, peer, base+"/peer/ping", nil)
		var got struct {
			Client     string `json:"client"`
			Thumbprint string `json:"thumbprint"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Client != "pgo-zuid.localhost" || got.Thumbprint == "" {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
		// Browser routes never need one, but accept a connection that has one.
		if resp, _ := get(t, peer, base+"/", nil); resp.StatusCode != 200 {
			t.Errorf("browser route with client cert: %d", resp.StatusCode)
		}
	})
	ops := &http.Client{Timeout: 10 * time.Second}
	t.Run("readyz on the operations listener only", func(t *testing.T) {
		resp, body := get(t, ops, p.OpsURL(t)+"/readyz", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "redis") || !strings.Contains(body, "migrations") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
		if resp, _ := get(t, anon, base+"/readyz", nil); resp.StatusCode != 404 {
			t.Errorf("public /readyz: %d; want 404", resp.StatusCode)
		}
	})
	t.Run("body over the limit", func(t *testing.T) {
		resp, err := anon.Post(base+"/healthz", "application/octet-stream", strings.NewReader(strings.Repeat("x", 4096)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("metrics on the operations listener only", func(t *testing.T) {
		_, body := get(t, ops, p.OpsURL(t)+"/metrics", nil)
		if !strings.Contains(body, `pgo_http_requests_total{method="GET",route="/healthz",status="200"}`) {
			t.Errorf("metrics lack the healthz counter:\n%.2000s", body)
		}
		// Serve's database work is counted (its audit linker's first round at least).
		if v := metricValue(body, "pgo_db_round_trips_total"); v <= 0 {
			t.Errorf("pgo_db_round_trips_total %v; want a positive count", v)
		}
		if resp, _ := get(t, anon, base+"/metrics", nil); resp.StatusCode != 404 {
			t.Errorf("public /metrics: %d; want 404", resp.StatusCode)
		}
	})
	t.Run("SIGTERM exits cleanly", func(t *testing.T) {
		if code := p.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Fatalf("exit code %d\nstderr:\n%s", code, p.Stderr)
		}
		logs := p.Stderr.String()
		if !strings.Contains(logs, `"msg":"shutting down"`) || !strings.Contains(logs, `"msg":"stopped"`) {
			t.Errorf("no graceful shutdown in the log:\n%s", logs)
		}
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("log line is not JSON: %s", line)
			}
		}
	})
}

func TestServeReadyzNamesRedis(t *testing.T) {
	certs := devCerts(t, "localhost")
	vars := serveVars(t, certs)
	vars["PGO_REDIS_URL"] = "redis://" + closedPort(t) + "/0"
	p := startPGO(t, vars, "listening on https://", "serve")
	resp, body := get(t, &http.Client{Timeout: 10 * time.Second}, p.OpsURL(t)+"/readyz", nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "not ready: redis") || strings.Contains(body, "postgres") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "connection refused") {
		t.Errorf("readyz leaks the internal error: %s", body)
	}
}

func TestServePlainListenerRefusesPeerRoutes(t *testing.T) {
	certs := devCerts(t, "localhost")
	vars := serveVars(t, certs)
	vars["PGO_PLAIN_HTTP_ADDR"] = "127.0.0.1:0"
	p := startPGO(t, vars, "listening on http://", "serve")
	addr, _, _ := strings.Cut(p.Addr, " ")
	resp, body := get(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/peer/ping", nil)
	if resp.StatusCode != 401 || !strings.Contains(body, "plain HTTP") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("healthz over plain HTTP: %d", resp.StatusCode)
	}
}

func TestServeRefusesWithoutTLSCert(t *testing.T) {
	code, out, errOut := runPGO(t, map[string]string{"PGO_HTTP_ADDR": "127.0.0.1:0"}, "serve")
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "PGO_TLS_CERT") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestKeysDevCA(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, nil, "", "keys", "dev-ca", "--out", dir, "--host", "pgo-noord.localhost", "--host", "127.0.0.2")
	if code != 0 || !strings.Contains(out, "pgo-noord.localhost") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	ca := readCert(t, filepath.Join(dir, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if !ca.IsCA || !ca.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA %v MaxPathLenZero %v", ca.IsCA, ca.MaxPathLenZero)
	}
	srv := readCert(t, filepath.Join(dir, "pgo-noord.localhost.pem"))
	for _, name := range []string{"pgo-noord.localhost", "127.0.0.1", "::1"} {
		if err := srv.VerifyHostname(name); err != nil {
			t.Errorf("server cert: %v", err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server cert does not chain: %v", err)
	}
	cli := readCert(t, filepath.Join(dir, "pgo-noord.localhost-client.pem"))
	if len(cli.DNSNames) != 1 || cli.DNSNames[0] != "pgo-noord.localhost" {
		t.Errorf("client cert SANs %v", cli.DNSNames)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert not valid for clientAuth: %v", err)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client cert must not be valid for serverAuth")
	}
	if ipCert := readCert(t, filepath.Join(dir, "127.0.0.2.pem")); ipCert.VerifyHostname("127.0.0.2") != nil {
		t.Error("IP host not in server cert")
	}
	for _, f := range []string{"ca-key.pem", "pgo-noord.localhost-key.pem", "pgo-noord.localhost-client-key.pem"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", f, st.Mode().Perm(), err)
		}
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, strings.Replace(f, "-key.pem", ".pem", 1)), filepath.Join(dir, f)); err != nil {
			t.Errorf("%s does not match its certificate: %v", f, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "README")); err != nil || !strings.Contains(string(b), "DEVELOPMENT ONLY") {
		t.Errorf("README: %v", err)
	}
	// A second run adds a host under the same CA.
	if code, _, errOut := runCLI(t, nil, "", "keys", "dev-ca", "--out", dir, "--host", "pgo-zuid.localhost"); code != 0 {
		t.Fatalf("second run: %s", errOut)
	}
	if again := readCert(t, filepath.Join(dir, "ca.pem")); !again.Equal(ca) {
		t.Error("second run replaced the CA")
	}
	if _, err := readCert(t, filepath.Join(dir, "pgo-zuid.localhost-client.pem")).Verify(x509.VerifyOptions{
		Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("added host not under the same CA: %v", err)
	}
}

// A CA whose key (or certificate) went missing is not replaced: every peer trusting
// the old ca.pem would stop trusting hosts issued afterwards, without a word.
func TestKeysDevCARefusesHalfACA(t *testing.T) {
	for _, missing := range []string{"ca-key.pem", "ca.pem"} {
		dir := t.TempDir()
		if code, _, errOut := runCLI(t, nil, "", "keys", "dev-ca", "--out", dir, "--host", "a.localhost"); code != 0 {
			t.Fatalf("first run: %s", errOut)
		}
		kept := map[string][]byte{}
		for _, f := range []string{"ca.pem", "ca-key.pem"} {
			kept[f], _ = os.ReadFile(filepath.Join(dir, f))
		}
		if err := os.Remove(filepath.Join(dir, missing)); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, nil, "", "keys", "dev-ca", "--out", dir, "--host", "b.localhost")
		if code != 1 || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "does not") {
			t.Errorf("%s missing: exit %d, stderr %q; want 1 naming it", missing, code, errOut)
		}
		for f, b := range kept {
			if f == missing {
				continue
			}
			if now, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Equal(now, b) {
				t.Errorf("%s missing: %s was replaced", missing, f)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "b.localhost.pem")); err == nil {
			t.Errorf("%s missing: a host was issued anyway", missing)
		}
	}
}

func TestKeysDevCABadUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"keys", "dev-ca", "--host", "a.localhost"},
		{"keys", "dev-ca", "--out", dir},
		{"keys", "dev-ca", "--out", dir, "--host", "../etc/passwd"},
		{"keys", "dev-ca", "--out", dir, "--host", "-bad.localhost"},
		{"keys", "dev-ca", "--out", dir, "--host", "a..b"},
		{"keys", "dev-ca", "--out", dir, "--host", "ok.localhost", "extra"},
	} {
		code, _, errOut := runCLI(t, nil, "", args...)
		if code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad usage wrote files: %v", entries)
	}
	code, out, _ := runCLI(t, nil, "", "help", "keys")
	_ = out
	if code != 0 {
		t.Errorf("help keys: exit %d", code)
	}
}

// pgo serve is one App, opened once, with every area mounted in one visible
// order: the mounted areas' routes and readiness checks are there, a failing
// dependency shows in /readyz by name, and Close stops what openApp started.
func TestAppMountsEveryArea(t *testing.T) {
	certs := devCerts(t, "localhost")
	vars := serveVars(t, certs)
	e := &env{stderr: io.Discard, getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	ctx := context.Background()
	if code, _, errOut := runCLI(t, vars, "", "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}
	a, err := openApp(ctx, e, "serve", io.Discard, needDB|needVault|needSigner|needRedis|needLists)
	if err != nil {
		t.Fatal(err)
	}
	if a.DB == nil || a.Vault == nil || a.Redis == nil || a.Lists == nil || a.Audit == nil {
		t.Fatalf("App incomplete: %+v", a)
	}
	srv, err := a.newServer()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.mountAreas(ctx, srv); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/login": 200, "/healthz": 200} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d; want %d (area not mounted?)", path, rec.Code, want)
		}
	}
	// The lists area mounted its readiness check.
	rec := httptest.NewRecorder()
	srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if !strings.Contains(rec.Body.String(), `"medmij-lists"`) {
		t.Errorf("/readyz lacks the lists' check: %d %s", rec.Code, rec.Body)
	}
	a.Close()
	if err := a.DB.Ping(ctx); err == nil {
		t.Error("Close left the database pool open")
	}
}

// Every command and subcommand is in the one table, once, and each one's help
// names its own usage (pgo help audit verify, pgo help keys init, pgo help help).
func TestCommandTable(t *testing.T) {
	seen := map[string]bool{}
	var walk func(path string, cs []*command)
	walk = func(path string, cs []*command) {
		for _, c := range cs {
			p := strings.TrimSpace(path + " " + c.name)
			if seen[p] {
				t.Errorf("command %q twice", p)
			}
			seen[p] = true
			if (c.run == nil) == (c.subs == nil) {
				t.Errorf("command %q: wants exactly one of run and subs", p)
			}
			code, out, _ := runCLI(t, nil, "", append([]string{"help"}, strings.Fields(p)...)...)
			if code != 0 || !strings.Contains(out, "usage: pgo "+p+" ") {
				t.Errorf("pgo help %s: exit %d, output lacks its usage:\n%s", p, code, out)
			}
			walk(p, c.subs)
		}
	}
	walk("", commands())
	for _, p := range []string{"audit verify", "keys init", "zal check", "export render", "dossier import"} {
		if !seen[p] {
			t.Errorf("%q is not in the command table", p)
		}
	}
	if code, out, _ := runCLI(t, nil, "", "help", "help"); code != 0 || !strings.Contains(out, "commands:") {
		t.Errorf("pgo help help: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, nil, "", "help", "audit", "nosuch"); code != 2 || !strings.Contains(errOut, `"audit nosuch"`) {
		t.Errorf("pgo help audit nosuch: exit %d %s", code, errOut)
	}
}

// A keyset stored unencrypted is announced loudly outside development (issue
// 15), and not on a localhost instance.
func TestClearKeysetWarning(t *testing.T) {
	for _, tt := range []struct {
		public, master string
		warn           bool
	}{
		{"https://pgo.example.nl", "", true},
		{"https://noord.localhost:8443", "", false},
		{"https://127.0.0.1:8443", "", false},
		{"https://pgo.example.nl", "yes", false},
	} {
		vars := map[string]string{"PGO_KEYSET_FILE": vaulttest.Keyset(t), "PGO_PUBLIC_URL": tt.public}
		var log bytes.Buffer
		e := &env{stderr: io.Discard, getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
		a, err := openApp(context.Background(), e, "worker", &log, needVault)
		if err != nil {
			t.Fatal(err)
		}
		if tt.master != "" { // a master key set: only the check, not a real encrypted keyset
			a.Config.Vault.MasterKey = tt.master
			log.Reset()
			a.warnClearKeyset()
		}
		a.Close()
		if got := strings.Contains(log.String(), "keyset file is stored unencrypted"); got != tt.warn {
			t.Errorf("%s (master key %q): warned %v; want %v\n%s", tt.public, tt.master, got, tt.warn, log.String())
		}
	}
}
