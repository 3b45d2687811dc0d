package main

import (
	"context"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// PostgreSQL connections of `pgo worker` and `pgo serve` are killed with
// pg_terminate_backend while transfers run: twice all of them (pool, LISTEN
// connections of the outbox relay and the progress hub), and then each backend
// caught inside a transaction, up to a bound. The processes' connections carry an
// application_name of this test only, so no other test's connection is touched.
// Work in flight fails cleanly (rolled back, the task retried after
// PGO_WORKER_RETRY_DELAY); every transfer still completes exactly once (one
// document, one transfer_completed record), the pools reconnect (/readyz is
// ready again, a later transfer needs one attempt) and `pgo audit verify`
// accepts the chain.
func TestPostgresConnectionsKilled(t *testing.T) {
	rig := newFaultRig(t, storetest.Redis(t))
	app := "pgo-fault-" + uuid.NewString()[:8]
	rig.vars["PGO_DATABASE_URL"] = withParam(t, rig.vars["PGO_DATABASE_URL"], "application_name", app)
	rig.vars["PGO_WORKER_RETRY_DELAY"] = "1s"
	srv := startPGO(t, rig.serveVars(t), "listening on https://", "serve")
	ops := srv.OpsURL(t)
	w := startPGO(t, rig.vars, "worker running", "worker")

	rig.src.Set(transfertest.Faults{Trickle: 50 * time.Millisecond, AnnounceSize: true, AnnounceHash: true})
	ids := []string{rig.consent(t), rig.consent(t), rig.consent(t)}
	waitTransfer(t, rig.st, ids[0], 30*time.Second, func(tr transfer.Transfer) bool {
		return tr.Status == transfer.StatusDownloading && tr.BytesDone > 0 || tr.Status.Final()
	})
	all := terminate(t, rig, app, false) + terminate(t, rig, app, false)
	var inTx atomic.Int64
	stop := make(chan struct{})
	hunted := make(chan struct{})
	go func() { // kill backends caught inside a transaction, at most 6
		defer close(hunted)
		for inTx.Load() < 6 {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			inTx.Add(int64(terminate(t, rig, app, true)))
		}
	}()
	for _, id := range ids {
		waitTransfer(t, rig.st, id, 90*time.Second, func(tr transfer.Transfer) bool { return tr.Status.Final() })
	}
	close(stop)
	<-hunted
	t.Logf("terminated %d backends in two rounds and %d inside a transaction", all, inTx.Load())
	if all == 0 || inTx.Load() == 0 {
		t.Errorf("the faults did not happen: %d backends, %d inside a transaction", all, inTx.Load())
	}
	for _, id := range ids {
		rig.checkOnce(t, id, 0)
		tr, _ := rig.st.Get(context.Background(), id)
		t.Logf("transfer %s: %s after %d attempts", id, tr.Status, tr.Attempts)
	}
	t.Logf("%d task failures in the worker's log", strings.Count(w.Stderr.String(), `"task failed"`))

	waitReadyz(t, ops, 200)
	rig.src.Set(transfertest.Faults{AnnounceSize: true, AnnounceHash: true})
	after := rig.consent(t)
	waitTransfer(t, rig.st, after, 30*time.Second, func(tr transfer.Transfer) bool { return tr.Status.Final() })
	rig.checkOnce(t, after, 1)
	w.Signal(t, syscall.SIGTERM, 30*time.Second)
	if code, out, errOut := runPGO(t, rig.vars, "audit", "verify"); code != 0 || !strings.Contains(out, "audit chain OK") {
		t.Errorf("pgo audit verify: exit %d\n%s%s", code, out, errOut)
	}
}

// terminate ends the backends of application app (only those inside a
// transaction when inTx) and returns how many.
func terminate(t *testing.T, rig *faultRig, app string, inTx bool) int {
	t.Helper()
	q := `select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity
		where application_name = $1 and pid <> pg_backend_pid()`
	if inTx {
		q += ` and xact_start is not null and state <> 'idle'`
	}
	var n int
	if err := rig.db.Pool.QueryRow(context.Background(), q, app).Scan(&n); err != nil {
		t.Errorf("terminate: %v", err)
	}
	return n
}

// withParam adds a connection parameter to a PostgreSQL URL.
func withParam(t *testing.T, raw, k, v string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}
