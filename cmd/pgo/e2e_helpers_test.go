package main

// Helpers for end-to-end tests that run the real `pgo` binary as a child process
// (the way WTF Dial's cmd/wtfd/main_test.go does). Other tests in this package may
// reuse them: pgoBinary, runPGO, devCerts, startPGO, tlsClient, serveVars, get,
// closedPort, readCert.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

var built struct {
	once sync.Once
	dir  string
	path string
	out  string
	err  error
}

// TestMain removes the binary that pgoBinary built, after all tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// pgoBinary builds ./cmd/pgo once per test process and returns its path.
func pgoBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "pgo-e2e-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "pgo")
		// The go command that runs this test is first on PATH (go test sets it).
		cmd := exec.Command("go", "build", "-o", built.path, ".")
		var b []byte
		b, built.err = cmd.CombinedOutput()
		built.out = string(b)
	})
	if built.err != nil {
		t.Fatalf("go build ./cmd/pgo: %v\n%s", built.err, built.out)
	}
	return built.path
}

// childEnv is a minimal environment plus vars: nothing PGO_* leaks in from the
// developer's shell.
func childEnv(vars map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// runPGO runs the binary to completion and returns its exit code and output.
func runPGO(t testing.TB, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(pgoBinary(t), args...)
	cmd.Env = childEnv(vars)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run pgo %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// devCerts runs `pgo keys dev-ca` for hosts into a fresh directory and returns it.
func devCerts(t testing.TB, hosts ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"keys", "dev-ca", "--out", dir}
	for _, h := range hosts {
		args = append(args, "--host", h)
	}
	if code, out, errOut := runPGO(t, nil, args...); code != 0 {
		t.Fatalf("pgo keys dev-ca: exit %d\n%s%s", code, out, errOut)
	}
	return dir
}

// lockedBuffer collects a child's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// pgoProcess is a running `pgo` child.
type pgoProcess struct {
	cmd    *exec.Cmd
	Addr   string // from the "listening on https://ADDR" line, when waited for
	Stdout *lockedBuffer
	Stderr *lockedBuffer
	done   chan struct{}
	err    error // Wait's result, after done
}

// startPGO starts `pgo args...` and, when waitFor is not "", waits up to 60 s for
// a stdout line starting with it; the rest of that line becomes Addr. The process
// is killed at cleanup if it still runs.
func startPGO(t testing.TB, vars map[string]string, waitFor string, args ...string) *pgoProcess {
	t.Helper()
	p := &pgoProcess{Stdout: &lockedBuffer{}, Stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(pgoBinary(t), args...)
	p.cmd.Env = childEnv(vars)
	p.cmd.Stderr = p.Stderr
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start pgo: %v", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.Stdout.Write([]byte(line + "\n"))
			if rest, ok := strings.CutPrefix(line, waitFor); ok && waitFor != "" {
				select {
				case found <- rest:
				default:
				}
			}
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	if waitFor == "" {
		return p
	}
	select {
	case p.Addr = <-found:
	case <-p.done:
		t.Fatalf("pgo %v exited before %q: %v\nstdout:\n%s\nstderr:\n%s", args, waitFor, p.err, p.Stdout, p.Stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("pgo %v: no %q within 60s\nstderr:\n%s", args, waitFor, p.Stderr)
	}
	return p
}

// OpsURL is the operations listener's base URL (http://ADDR) from the
// "operations on" line pgo serve prints before it listens.
func (p *pgoProcess) OpsURL(t testing.TB) string {
	t.Helper()
	for _, line := range strings.Split(p.Stdout.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "operations on "); ok {
			return rest
		}
	}
	t.Fatalf("pgo printed no operations address:\n%s", p.Stdout)
	return ""
}

// Signal sends sig and waits up to timeout for the exit; it returns the exit
// code (-1 when killed by a signal).
func (p *pgoProcess) Signal(t testing.TB, sig syscall.Signal, timeout time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("pgo did not exit within %s after %v\nstderr:\n%s", timeout, sig, p.Stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// tlsClient is an HTTPS client that trusts the dev CA in certDir and, when
// clientHost is not "", presents that host's client certificate. tweak may
// change the TLS configuration further.
func tlsClient(t testing.TB, certDir, clientHost string, tweak func(*tls.Config)) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tc := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	if clientHost != "" {
		kp, err := tls.LoadX509KeyPair(filepath.Join(certDir, clientHost+"-client.pem"), filepath.Join(certDir, clientHost+"-client-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	if tweak != nil {
		tweak(tc)
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true},
	}
}

// serveVars is the environment for `pgo serve` on 127.0.0.1:0 with the dev
// certificates for "localhost" in certDir, a migrated schema, a Redis DB and an
// encryption keyset (the account pages seal TOTP seeds with it).
func serveVars(t *testing.T, certDir string) map[string]string {
	return map[string]string{
		"PGO_KEYSET_FILE":    vaulttest.Keyset(t),
		"PGO_DATABASE_URL":   storetest.Schema(t),
		"PGO_REDIS_URL":      storetest.Redis(t),
		"PGO_HTTP_ADDR":      "127.0.0.1:0",
		"PGO_OPS_ADDR":       "127.0.0.1:0",
		"PGO_TLS_CERT":       filepath.Join(certDir, "localhost.pem"),
		"PGO_TLS_KEY":        filepath.Join(certDir, "localhost-key.pem"),
		"PGO_CLIENT_CA":      filepath.Join(certDir, "ca.pem"),
		"PGO_MAX_BODY_BYTES": "2048",
		"PGO_LOG_LEVEL":      "info",
	}
}

func get(t *testing.T, c *http.Client, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: not PEM", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
