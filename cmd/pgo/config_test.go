package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadConfigurationExitsTwoWithOneLine: every invalid setting stops the process
// at start with exit code 2 and one line that names the setting.
func TestBadConfigurationExitsTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, value string }{
		{"PGO_DATABASE_URL", "mysql://localhost/x"},
		{"PGO_DATABASE_URL", "not a url"},
		{"PGO_DATABASE_URL", "postgres:///pgo"},                       // no host, in the authority or the host parameter
		{"PGO_DATABASE_URL", "mysql://pgo@/pgo?host=/run/postgresql"}, // a socket, but not PostgreSQL's URL
		{"PGO_REDIS_URL", "http://127.0.0.1:6379"},
		{"PGO_HTTP_ADDR", "8443"},
		{"PGO_HTTP_ADDR", ":99999"},
		{"PGO_PLAIN_HTTP_ADDR", "nope"},
		{"PGO_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example"},
		{"PGO_TRUSTED_PROXIES", "10.0.0.1"}, // without a plain listener
		{"PGO_TLS_CERT", filepath.Join(dir, "missing.pem")},
		{"PGO_TLS_KEY", dir},
		{"PGO_CLIENT_CA", filepath.Join(dir, "none.pem")},
		{"PGO_PUBLIC_URL", "http://pgo.example"},
		{"PGO_INSTANCE_NAME", "  "},
		{"PGO_MAX_BODY_BYTES", "12kb"},
		{"PGO_MAX_BODY_BYTES", "10"},
		{"PGO_SHUTDOWN_TIMEOUT", "soon"},
		{"PGO_LOG_LEVEL", "verbose"},
		{"PGO_WORKER_CONCURRENCY", "0"},
		{"PGO_WORKER_FETCH_CONCURRENCY", "0"},
		{"PGO_WORKER_FETCH_CONCURRENCY", "5000"},
		{"PGO_OUTBOX_POLL", "1ms"},
		{"PGO_WORKER_TASK_CHECK_INTERVAL", "0s"},
		{"PGO_WORKER_TASK_CHECK_INTERVAL", "1m"},
		{"PGO_LISTS_REFRESH", "-1h"},
		{"PGO_AUDIT_RETENTION", "8760h"}, // 1 year: below NFR032's 5 years
		{"PGO_SESSION_IDLE_TIMEOUT", "1s"},
		{"PGO_LOGIN_MAX_FAILURES", "0"},
		{"PGO_ZAL_URL", "http://lists.example/zal.xml"},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			code, out, errOut := runCLI(t, map[string]string{c.name: c.value}, "", "migrate")
			if code != 2 {
				t.Fatalf("exit %d; want 2 (stdout %q stderr %q)", code, out, errOut)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.name) {
				t.Fatalf("stderr %q; want one line naming %s", errOut, c.name)
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
				t.Fatalf("stderr shows a stack: %q", errOut)
			}
		})
	}
}

func TestConfigPairsAndFile(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "c.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, map[string]string{"PGO_TLS_CERT": cert}, "", "migrate")
	if code != 2 || !strings.Contains(errOut, "PGO_TLS_KEY") {
		t.Fatalf("cert without key: exit %d, %q", code, errOut)
	}
	file := filepath.Join(dir, "pgo.conf")
	if err := os.WriteFile(file, []byte("# comment\nPGO_HTTP_ADRR=:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, nil, "", "--config", file, "migrate")
	if code != 2 || !strings.Contains(errOut, `unknown setting "PGO_HTTP_ADRR"`) {
		t.Fatalf("typo in file: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "", "--config", filepath.Join(dir, "absent.conf"), "migrate")
	if code != 2 || !strings.Contains(errOut, "--config") {
		t.Fatalf("missing file: exit %d, %q", code, errOut)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"migrate", "extra"}, {"migrate", "--nope"}, {"keys", "nope"}} {
		if code, _, _ := runCLI(t, nil, "", args...); code != 2 {
			t.Errorf("pgo %v: exit %d; want 2", args, code)
		}
	}
	code, out, _ := runCLI(t, nil, "", "help", "migrate")
	if code != 0 || !strings.Contains(out, "usage: pgo migrate") {
		t.Errorf("help migrate: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "", "help", "config")
	if code != 0 || !strings.Contains(out, "PGO_DATABASE_URL") {
		t.Errorf("help config: exit %d, %q", code, out)
	}
}

// TestConfigFromSecretFile: NAME_FILE reads the value from a mounted secret file,
// and an unreadable one is named.
func TestConfigFromSecretFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "db")
	if err := os.WriteFile(f, []byte("mysql://x/y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, map[string]string{"PGO_DATABASE_URL_FILE": f}, "", "migrate")
	if code != 2 || !strings.Contains(errOut, "PGO_DATABASE_URL") || !strings.Contains(errOut, "mysql") {
		t.Fatalf("value from file not used: exit %d %q", code, errOut)
	}
	code, _, errOut = runCLI(t, map[string]string{"PGO_REDIS_URL_FILE": filepath.Join(dir, "nope")}, "", "migrate")
	if code != 2 || !strings.Contains(errOut, "PGO_REDIS_URL_FILE") {
		t.Fatalf("missing secret file: exit %d %q", code, errOut)
	}
}
