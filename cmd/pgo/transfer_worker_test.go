package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// The real `pgo worker` is killed (SIGKILL) while it downloads a document from a
// slow source: nothing is stored; after a restart asynq recovers the task and the
// transfer completes once, with one document that decrypts to the source's bytes.
//
// The progress stream (what the patient's page follows: LISTEN/NOTIFY through
// transferdb.NewHub) goes on after the restart to done with every byte counted, and
// `pgo audit verify` accepts the chain (issue 17, fault injection).
//
// Slow by nature (1-2 minutes): asynq recovers a task only after its lease
// (30 s) expired 30 s ago, on a one-minute tick; PGO_WORKER_RETRY_DELAY cuts
// the retry's own wait to a second.
func TestTransferSurvivesKilledWorker(t *testing.T) {
	rig := newTransferRig(t, storetest.Redis(t))
	rig.vars["PGO_WORKER_RETRY_DELAY"] = "1s"
	vars, st, src := rig.vars, rig.st, rig.src
	id := rig.consent(t)

	src.Set(transfertest.Faults{Trickle: 40 * time.Millisecond, AnnounceSize: true, AnnounceHash: true})
	w := startPGO(t, vars, "worker running", "worker")
	tr := waitTransfer(t, st, id, 60*time.Second, func(tr transfer.Transfer) bool {
		return tr.Status == transfer.StatusDownloading && tr.BytesDone > 0 || tr.Status.Final()
	})
	if tr.Status != transfer.StatusDownloading {
		t.Fatalf("not caught while downloading: %s (%s)\n%s", tr.Status, tr.FailureDetail, w.Stderr)
	}
	w.Signal(t, syscall.SIGKILL, 10*time.Second)
	if docs, _ := st.Documents(context.Background(), tr.UserID, id); len(docs) != 0 {
		t.Fatalf("%d documents stored by the killed worker", len(docs))
	}
	t.Logf("killed the worker at %d of %d bytes", tr.BytesDone, tr.BytesTotal)

	progress := watchProgress(t, st, vars["PGO_DATABASE_URL"], id)
	w2 := startPGO(t, vars, "worker running", "worker")
	tr = waitTransfer(t, st, id, 4*time.Minute, func(tr transfer.Transfer) bool { return tr.Status.Final() })
	w2.Signal(t, syscall.SIGTERM, 30*time.Second)
	time.Sleep(100 * time.Millisecond) // the last NOTIFY on its way to the hub
	seen := progress()
	if n := len(seen); n < 2 || seen[n-1].Status != transfer.StatusDone || seen[n-1].BytesDone != seen[n-1].BytesTotal ||
		seen[n-1].DocsDone != 1 || seen[0].Status == transfer.StatusDone {
		t.Errorf("the progress stream after the restart: %d states, last %+v", n, seen[max(0, n-1):])
	}
	if code, out, errOut := runPGO(t, vars, "audit", "verify"); code != 0 || !strings.Contains(out, "audit chain OK") {
		t.Errorf("pgo audit verify: exit %d\n%s%s", code, out, errOut)
	}
	if tr.Status != transfer.StatusDone || tr.Attempts != 2 {
		t.Fatalf("%s after %d attempts (%s)\n%s", tr.Status, tr.Attempts, tr.FailureDetail, w2.Stderr)
	}
	docs, err := st.Documents(context.Background(), tr.UserID, id)
	if err != nil || len(docs) != 1 {
		t.Fatalf("%d documents, %v", len(docs), err)
	}
	_, sealed, err := st.Document(context.Background(), tr.UserID, docs[0].ID)
	if err != nil || bytes.Contains(sealed, []byte("%PDF")) {
		t.Fatalf("sealed document: %v (or a PDF in the clear)", err)
	}
	r, err := rig.v.OpenReader(bytes.NewReader(sealed), docs[0].ObjectID())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, rig.pdf) {
		t.Fatalf("the stored document does not decrypt to the source's bytes: %v", err)
	}
	var completed int
	_ = rig.db.Pool.QueryRow(context.Background(), `select count(*) from audit_log where action = 'transfer_completed' and object_id = $1`, id).Scan(&completed)
	if completed != 1 || len(src.Revoked()) != 1 {
		t.Fatalf("%d transfer_completed records, %d revocations", completed, len(src.Revoked()))
	}
}
