package main

// Helpers for end-to-end tests that run the real `pgo` binary as a child process
// (the way WTF Dial's cmd/wtfd/main_test.go does). Other tests in this package may
// reuse them: pgoBinary, runPGO, devCerts, startPGO, tlsClient, serveVars, get,
// closedPort, readCert; waitFor and its uses (waitTransfer, waitReadyz,
// waitLog); and for the target role's process tests (killed worker, faults) a
// transferRig with consentInProcess and watchProgress.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
	"github.com/pgo-koppelvlak/pgo/zal"
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

// transferRig is a target PGO's database, keyset and settings for `pgo worker`
// (and `pgo serve`), and the source its transfers fetch from over mTLS (the
// killed-worker and fault-injection tests).
type transferRig struct {
	vars    map[string]string // for pgo worker
	certDir string            // dev CA with localhost and doel.localhost
	src     *transfertest.Source
	pdf     []byte
	db      *store.DB
	st      *transferdb.Store
	v       *vault.Vault
}

func newTransferRig(t *testing.T, redisURL string) *transferRig {
	t.Helper()
	dir := t.TempDir()
	r := &transferRig{certDir: devCerts(t, "doel.localhost", "localhost")}
	ca := transfertest.NewCA(t)
	devCA, err := os.ReadFile(filepath.Join(r.certDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(devCA)
	pdf, docRef := exampleTransferDocs(t)
	r.pdf = pdf
	r.src = transfertest.NewSourceTrusting(t, ca, clientCAs, pdf, docRef)
	r.src.Redirect = transfertest.TargetURL + transfer.CallbackPath
	roots := filepath.Join(dir, "peer-roots.pem")
	if err := os.WriteFile(roots, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	r.vars = transfertest.ListFiles(t, r.src, dir)
	for k, v := range map[string]string{
		"PGO_DATABASE_URL": storetest.Schema(t), "PGO_KEYSET_FILE": vaulttest.Keyset(t), "PGO_REDIS_URL": redisURL,
		"PGO_OUTBOX_POLL": "200ms", "PGO_PUBLIC_URL": transfertest.TargetURL, "PGO_PEER_ROOTS": roots,
		"PGO_CLIENT_CERT": filepath.Join(r.certDir, "doel.localhost-client.pem"),
		"PGO_CLIENT_KEY":  filepath.Join(r.certDir, "doel.localhost-client-key.pem"),
	} {
		r.vars[k] = v
	}
	if r.db, err = store.Open(context.Background(), r.vars["PGO_DATABASE_URL"]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.db.Close)
	if r.v, err = vault.Open(r.vars["PGO_KEYSET_FILE"]); err != nil {
		t.Fatal(err)
	}
	r.st = transferdb.New(r.db, worker.NewFetchTask)
	// The in-process consent appends audit records as pgo serve would: keyed
	// with the keyset's chain key, so that pgo audit verify reads one chain.
	auditdb.UseChainKeys(r.v)
	t.Cleanup(func() { auditdb.UseChainKeys(nil) })
	return r
}

// serveVars is the environment for `pgo serve` on the rig's database and Redis.
func (r *transferRig) serveVars(t *testing.T) map[string]string {
	vars := serveVars(t, r.certDir)
	for _, k := range []string{"PGO_DATABASE_URL", "PGO_KEYSET_FILE", "PGO_REDIS_URL"} {
		vars[k] = r.vars[k]
	}
	return vars
}

// consent runs a new transfer up to authorized: its fetch task is in the outbox.
func (r *transferRig) consent(t *testing.T) string {
	return consentInProcess(t, r.st, r.v, r.src, r.vars)
}

// checkOnce wants the transfer done after one attempt (or attempts, when not 0),
// with one document, one transfer_completed record and its outbox row sent.
func (r *transferRig) checkOnce(t *testing.T, id string, attempts int) {
	t.Helper()
	ctx := context.Background()
	tr, err := r.st.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := r.st.Documents(ctx, tr.UserID, id)
	if err != nil {
		t.Fatal(err)
	}
	var completed, unsent int
	_ = r.db.Pool.QueryRow(ctx, `select count(*) from audit_log where action = 'transfer_completed' and object_id = $1`, id).Scan(&completed)
	_ = r.db.Pool.QueryRow(ctx, `select count(*) from outbox where sent_at is null and position($1 in convert_from(payload, 'UTF8')) > 0`, id).Scan(&unsent)
	if tr.Status != transfer.StatusDone || len(docs) != 1 || completed != 1 || unsent != 0 || attempts != 0 && tr.Attempts != attempts {
		t.Errorf("transfer %s: %s after %d attempts (%s), %d documents, %d transfer_completed, %d outbox rows unsent",
			id, tr.Status, tr.Attempts, tr.FailureDetail, len(docs), completed, unsent)
	}
}

// unsent counts the outbox rows not yet relayed into the queue.
func (r *transferRig) unsent(t *testing.T) int {
	t.Helper()
	var n int
	if err := r.db.Pool.QueryRow(context.Background(), `select count(*) from outbox where sent_at is null`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// consentInProcess runs the browser part against the source with an in-process
// service on the same database and keyset: the callback's transaction writes the
// transfer:fetch task into the outbox for the worker.
func consentInProcess(t *testing.T, st *transferdb.Store, v *vault.Vault, src *transfertest.Source, vars map[string]string) string {
	t.Helper()
	tlsCfg, err := transfer.ClientTLS(vars["PGO_CLIENT_CERT"], vars["PGO_CLIENT_KEY"], vars["PGO_PEER_ROOTS"])
	if err != nil {
		t.Fatal(err)
	}
	lists := transfertest.Lists(t, src, true)
	svc, err := transfer.New(transfer.Config{Store: st, Sealer: v, Lists: lists, Issuer: transfertest.TargetURL,
		HTTP: zal.NewHTTPClient(lists, zal.ClientOptions{TLSConfig: tlsCfg, DialContext: zal.DialLocalhost})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	actor := transfer.Actor{UserID: uuid.NewString(), SessionID: "browser-1"}
	tr, err := svc.Start(ctx, actor, "bron@medmij")
	if err != nil {
		t.Fatal(err)
	}
	link, err := svc.AuthorizeURL(ctx, actor, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	code := src.IssueCode(u.Query().Get("code_challenge"))
	got, err := svc.HandleCallback(ctx, actor, transfer.Callback{State: u.Query().Get("state"), Code: code, Iss: src.URL, HasIss: true})
	if err != nil || got.Status != transfer.StatusAuthorized {
		t.Fatalf("callback: %v, %s (%s)", err, got.Status, got.FailureDetail)
	}
	return tr.ID
}

// waitTransfer polls the transfer until ok or the timeout.
func waitTransfer(t *testing.T, st *transferdb.Store, id string, timeout time.Duration, ok func(transfer.Transfer) bool) transfer.Transfer {
	t.Helper()
	return waitFor(t, timeout, 10*time.Millisecond, func() transfer.Transfer {
		tr, err := st.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}, ok, func(tr transfer.Transfer) string { return fmt.Sprintf("transfer %s: still %s", id, tr.Status) })
}

// waitFor calls read every interval until ok holds for what it returned, and
// returns that; after timeout it fails the test with describe(last read) and
// the time waited.
func waitFor[T any](t testing.TB, timeout, interval time.Duration, read func() T, ok func(T) bool, describe func(T) string) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := read()
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after %s", describe(v), timeout)
		}
		time.Sleep(interval)
	}
}

// exampleTransferDocs is the MedMij portability example: the PDF inside the STU3
// Binary and the DocumentReference that lists it.
func exampleTransferDocs(t *testing.T) (pdf, docRef []byte) {
	t.Helper()
	raw, err := os.ReadFile(shared.Path("medmij", "examples", "_port-Binary-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Content []byte `json:"content"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	docRef, err = os.ReadFile(shared.Path("medmij", "examples", "_port-DocumentReference-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Content, docRef
}

// waitReadyz polls /readyz on the ops listener until it answers want and returns
// the body.
func waitReadyz(t *testing.T, opsURL string, want int) string {
	t.Helper()
	type answer struct {
		code int
		body string
	}
	a := waitFor(t, 20*time.Second, 50*time.Millisecond, func() answer {
		code, body := getPlain(t, opsURL+"/readyz")
		return answer{code, body}
	}, func(a answer) bool { return a.code == want }, func(a answer) string {
		return fmt.Sprintf("/readyz: %d %s, want %d", a.code, a.body, want)
	})
	return a.body
}

// waitLog waits until the process's stderr holds s.
func waitLog(t *testing.T, p *pgoProcess, s string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, 20*time.Millisecond, p.Stderr.String, func(log string) bool { return strings.Contains(log, s) },
		func(log string) string { return fmt.Sprintf("no %q in the log:\n%s", s, log) })
}

// getPlain GETs an operations URL (plain HTTP on loopback): status and body.
func getPlain(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// watchProgress follows a transfer the way its progress page does (the SSE
// stream wakes on transferdb.NewHub's hub, LISTEN/NOTIFY, and reads the transfer); the
// returned function stops and gives every state read, in order.
func watchProgress(t *testing.T, st *transferdb.Store, dbURL, id string) func() []transfer.Transfer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hub := transferdb.NewHub(dbURL, nil)
	go hub.Run(ctx)
	wake, unsubscribe := hub.Subscribe(id)
	var seen []transfer.Transfer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				if tr, err := st.Get(ctx, id); err == nil {
					seen = append(seen, tr)
				}
			}
		}
	}()
	stop := func() []transfer.Transfer {
		cancel()
		<-done
		unsubscribe()
		return seen
	}
	t.Cleanup(func() { cancel() })
	return stop
}
