package main

// Helpers for the fault-injection tests (issue 17): a target PGO rig whose
// transfers fetch from an in-test source over mTLS, and a Redis of the test's own
// that the test stops and starts (the machine's Redis stays up).

import (
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// faultRig is a target PGO's database, keyset and settings for `pgo worker`
// (and `pgo serve`), and the source its transfers fetch from.
type faultRig struct {
	vars    map[string]string // for pgo worker
	certDir string            // dev CA with localhost and doel.localhost
	src     *transfertest.Source
	pdf     []byte
	db      *store.DB
	st      *transferdb.Store
	v       *vault.Vault
}

func newFaultRig(t *testing.T, redisURL string) *faultRig {
	t.Helper()
	dir := t.TempDir()
	r := &faultRig{certDir: devCerts(t, "doel.localhost", "localhost")}
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
func (r *faultRig) serveVars(t *testing.T) map[string]string {
	vars := serveVars(t, r.certDir)
	for _, k := range []string{"PGO_DATABASE_URL", "PGO_KEYSET_FILE", "PGO_REDIS_URL"} {
		vars[k] = r.vars[k]
	}
	return vars
}

// consent runs a new transfer up to authorized: its fetch task is in the outbox.
func (r *faultRig) consent(t *testing.T) string {
	return consentInProcess(t, r.st, r.v, r.src, r.vars)
}

// checkOnce wants the transfer done after one attempt (or attempts, when not 0),
// with one document, one transfer_completed record and its outbox row sent.
func (r *faultRig) checkOnce(t *testing.T, id string, attempts int) {
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
func (r *faultRig) unsent(t *testing.T) int {
	t.Helper()
	var n int
	if err := r.db.Pool.QueryRow(context.Background(), `select count(*) from outbox where sent_at is null`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ownRedis is a redis-server child on a free loopback port. It runs the way we
// recommend for production: append-only file on (appendfsync everysec), so that
// tasks already in the queue survive a restart; RDB snapshots off.
type ownRedis struct {
	addr, dir string
	cmd       *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	r := &ownRedis{addr: closedPort(t), dir: t.TempDir()}
	r.Start(t)
	t.Cleanup(func() {
		if r.cmd != nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	return r
}

// URL is the queue's Redis URL (DB 0 of this private server).
func (r *ownRedis) URL() string { return "redis://" + r.addr + "/0" }

// Start runs redis-server on the same port and directory and waits for PONG.
func (r *ownRedis) Start(t *testing.T) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "yes")
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer", r.addr)
		}
	}
}

// Stop shuts redis-server down the way an operator does (SIGTERM: it flushes the
// append-only file and exits).
func (r *ownRedis) Stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("redis-server exit: %v", err)
	}
	r.cmd = nil
}

// waitReadyz polls /readyz on the ops listener until it answers want and returns
// the body.
func waitReadyz(t *testing.T, opsURL string, want int) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, body := getPlain(t, opsURL+"/readyz")
		if resp == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %s, want %d", resp, body, want)
		}
	}
}

// waitLog waits until the process's stderr holds s.
func waitLog(t *testing.T, p *pgoProcess, s string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(p.Stderr.String(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within %s:\n%s", s, timeout, p.Stderr)
		}
	}
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
// stream wakes on transferdb.Hub, LISTEN/NOTIFY, and reads the transfer); the
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
