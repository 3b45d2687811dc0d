package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// Redis (a server of the test's own, append-only file on as in production) is
// stopped while one transfer downloads and another waits in the queue behind it,
// and two more are authorized during the outage. Meanwhile /readyz answers 503
// naming redis, the running download goes on to done (it needs only PostgreSQL
// and the source), and the new transfers' tasks stay in the outbox instead of
// being lost. After the restart the queued task runs, the outbox rows are relayed,
// and every transfer completes exactly once: one attempt, one document, one
// transfer_completed record.
//
// No page of `pgo serve` needs Redis (work reaches the queue only through the
// outbox), so the patient can start a transfer during the outage; only readiness
// fails, so a load balancer with other instances sends traffic elsewhere.
func TestRedisOutageLosesNoTransfer(t *testing.T) {
	rds := startOwnRedis(t)
	rig := newTransferRig(t, rds.URL())
	rig.vars["PGO_WORKER_CONCURRENCY"] = "1" // so that a task waits in Redis behind the running one
	srv := startPGO(t, rig.serveVars(t), "listening on https://", "serve")
	ops := srv.OpsURL(t)
	waitReadyz(t, ops, 200)
	w := startPGO(t, rig.vars, "worker running", "worker")

	rig.src.Set(transfertest.Faults{Trickle: 250 * time.Millisecond, AnnounceSize: true, AnnounceHash: true})
	running := rig.consent(t)
	waitTransfer(t, rig.st, running, 30*time.Second, func(tr transfer.Transfer) bool {
		return tr.Status == transfer.StatusDownloading && tr.BytesDone > 0 || tr.Status.Final()
	})
	queued := rig.consent(t)
	relayed := func(n int) bool { return n == 0 }
	waitFor(t, 10*time.Second, 20*time.Millisecond, func() int { return rig.unsent(t) }, relayed,
		func(n int) string { return fmt.Sprintf("the queued task not relayed (%d outbox rows unsent)", n) })
	if tr, _ := rig.st.Get(context.Background(), running); tr.Status != transfer.StatusDownloading {
		t.Fatalf("the running transfer is %s before the outage; the source must drip slower", tr.Status)
	}

	t.Log("stopping Redis")
	rds.Stop(t)
	body := waitReadyz(t, ops, 503)
	if !strings.Contains(body, "not ready: redis") || strings.Contains(body, "postgres") {
		t.Errorf("/readyz during the outage: %s", body)
	}
	rig.src.Set(transfertest.Faults{AnnounceSize: true, AnnounceHash: true})
	during := []string{rig.consent(t), rig.consent(t)}
	waitLog(t, w, "outbox relay: drain failed", 10*time.Second)
	if n := rig.unsent(t); n != 2 {
		t.Fatalf("%d outbox rows unsent during the outage, want the 2 new ones", n)
	}
	tr := waitTransfer(t, rig.st, running, 30*time.Second, func(tr transfer.Transfer) bool { return tr.Status.Final() })
	if tr.Status != transfer.StatusDone {
		t.Fatalf("the running transfer ended %s (%s) during the outage", tr.Status, tr.FailureDetail)
	}

	t.Log("starting Redis again")
	rds.Start(t)
	waitReadyz(t, ops, 200)
	t.Log("ready again")
	for _, id := range append([]string{queued}, during...) {
		waitTransfer(t, rig.st, id, 60*time.Second, func(tr transfer.Transfer) bool { return tr.Status.Final() })
	}
	t.Log("all final")
	w.Signal(t, syscall.SIGTERM, 30*time.Second)
	for _, id := range append([]string{running, queued}, during...) {
		rig.checkOnce(t, id, 1)
	}
	if n := len(rig.src.Revoked()); n != 4 {
		t.Errorf("%d tokens revoked, want 4", n)
	}
}
